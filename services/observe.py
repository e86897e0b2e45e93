"""What the API records about each request: its id, its latency, its refusals and errors.

- ``RequestContext`` (ASGI middleware): takes the caller's ``X-Request-ID`` (or makes
  one), puts it on every log line and on the response, and times the request by route;
- ``GraphQLMetrics`` (strawberry extension): times each operation by type and root field;
- ``ObservedSchema``: an expected refusal (bad input, a bad cursor, a page too large,
  a role too low) is one info line and a count by code, never a traceback;
- ``refused``: the same for refusals answered as union members (``Forbidden``...).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import FieldNode, GraphQLError, get_operation_ast
from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext
from temporalio.service import RPCError

from services.lifecycles import Unavailable
from services.logs import request_scope
from services.metrics import API_METRICS, OTHER, ApiMetrics
from workflows.engine.errors import Rejection

logger = logging.getLogger("lifecycles.api")

REQUEST_ID_HEADER = "x-request-id"
# A caller's request id is kept only if it is a plain token of reasonable length.
VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
ROUTES = frozenset({"/graphql", "/billing/stripe/events", "/healthz", "/readyz", "/metrics", "/"})


class RequestContext:
    """ASGI middleware: request id in, on every log line, and out; latency by route."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics = API_METRICS) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = given if given is not None and VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
        span = trace.get_current_span()
        if span.is_recording():
            span.set_attribute("http.request_id", request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            with request_scope(request_id):
                await self.app(scope, receive, send_with_id)
        finally:
            route = scope["path"] if scope["path"] in ROUTES else OTHER
            self.metrics.requests.labels(route, scope["method"], str(status)).observe(time.perf_counter() - started)


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus' text format; no ids or people in any label."""
    return Response(generate_latest(API_METRICS.registry), media_type=CONTENT_TYPE_LATEST)


def refused(code: str, message: str) -> None:
    """An expected refusal: one info line, counted by code."""
    API_METRICS.refusals.labels(code).inc()
    logger.info("refused %s: %s", code, message, extra={"code": code})


class GraphQLMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context: ExecutionContext = self.execution_context
        operation, field = "unknown", OTHER
        document = context.graphql_document
        node = get_operation_ast(document, context.operation_name) if document is not None else None
        root = context.schema._schema.get_root_type(node.operation) if node is not None else None
        if node is not None and root is not None:
            operation = node.operation.value
            name = next((s.name.value for s in node.selection_set.selections if isinstance(s, FieldNode)), "")
            # Only the schema's own root fields: a label never takes a client's text.
            field = name if name in root.fields else OTHER
        API_METRICS.operations.labels(operation, field).observe(time.perf_counter() - started)


class ObservedSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Refusals are info lines without a traceback; the API's formatter logs unexpected errors
        with theirs (services/api.py), so they are not logged twice."""
        for error in errors:
            original: Any = error.original_error
            if original is None:
                refused("GRAPHQL_VALIDATION_FAILED", error.message)
            elif isinstance(original, Rejection):
                refused(original.type, original.message)
            elif isinstance(original, GraphQLError):
                refused(str((original.extensions or {}).get("code", "BAD_USER_INPUT")), error.message)
            elif isinstance(original, Unavailable | RPCError | TimeoutError):
                API_METRICS.refusals.labels("UNAVAILABLE").inc()
                logger.warning("Temporal unavailable: %s", type(original).__name__)
