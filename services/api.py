"""The HTTP API: GraphQL (with GraphiQL), its subscriptions over WebSocket, the ops console,
liveness and readiness.

``uvicorn --factory services.api:create_app`` serves it. The lifespan connects to Temporal and the
database once and starts the process's change-feed reader; every GraphQL request gets a
``Context`` with the authenticated caller, every WebSocket connection a
``SubscriptionContext`` whose caller its ``connection_init`` names. Anonymous callers get
nothing but the health endpoints (and the GraphiQL page itself, which then sends the
token a person types into its headers).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict, cast

import sqlalchemy as sa
from graphql import GraphQLError, GraphQLSyntaxError
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler, Operation
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType
from temporalio.client import Client

from schema import build_schema
from schema.context import Context, SubscriptionContext
from services.auth import authenticate
from services.billing_events import BillingEvents, InvalidEvent, verified_event
from services.change_feed import ChangeFeed
from services.console import console_routes
from services.db import Reader, Sessions, create_engine, session_factory
from services.graphql_http import REQUEST_ERROR, is_request_error, negotiated
from services.heap import freeze_startup_objects
from services.lifecycles import LifecycleGateway, RateLimited, Unavailable
from services.limits import BodyLimit, Limit
from services.logs import configure_logging, note
from services.metrics import API_METRICS
from services.observe import RequestContext, metrics_endpoint
from services.settings import Settings, get_settings
from services.signal_events import SignalEvents
from services.telemetry import instrument_engine, setup_tracing, tracing_middleware
from services.temporal import connect
from workflows.engine.errors import Rejection

logger = logging.getLogger("lifecycles.api")


class State(TypedDict):
    client: Client
    sessions: Sessions
    gateway: LifecycleGateway
    billing: BillingEvents
    signals: SignalEvents
    changes: ChangeFeed
    reader: Reader


class SubscriptionsOnly:
    """The schema as the WebSocket serves it: subscriptions only. Queries and mutations go over
    HTTP, where the body limit, the request's log context and per-request loaders apply."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema

    async def stream(self, *args: Any, **kwargs: Any) -> Any:
        return await self.schema.stream(*args, allowed_operation_types=(OperationType.SUBSCRIPTION,), **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.schema, name)


class CodedErrorsTransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws for subscriptions only, whose errors carry the same codes as over HTTP."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.schema = cast(BaseSchema, SubscriptionsOnly(self.schema))

    async def _send_result_stream(self, operation: Operation[Context, None], result_source: Any) -> None:
        await super()._send_result_stream(operation, self._coded(result_source))

    async def _coded(self, results: Any) -> AsyncGenerator[Any, None]:
        view: Any = self.view
        async for result in results:
            if isinstance(result, ExecutionResult) and result.errors:
                result.errors = [view.coded(error) for error in result.errors]
            yield result


class LifecycleGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = CodedErrorsTransportWS

    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        )
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except Unauthenticated:
            # Raised by get_context, before anything was sent.
            response = JSONResponse(UNAUTHENTICATED, status_code=401, headers={"www-authenticate": "Bearer"})
            await response(scope, receive, send)

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        response = await super().run(request, context, root_value)
        media = negotiated(request) if isinstance(request, Request) else None
        if media is not None and response.media_type == "application/json":
            response.headers["content-type"] = media
            if request.scope.get(REQUEST_ERROR):
                response.status_code = 400
        return response

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Give every error a code, and never show an unexpected error's internals."""
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            response["errors"] = [self._format(error) for error in result.errors]
            if negotiated(request) is not None and is_request_error(result):
                # application/graphql-response+json: a request that never executed has no data.
                del response["data"]
                request.scope[REQUEST_ERROR] = True
        if result.extensions:
            response["extensions"] = result.extensions
        return response

    def coded(self, error: GraphQLError) -> GraphQLError:
        """The error as it is shown over WebSocket: with its code (a syntax error stays as it
        is, since the protocol closes the connection with its message)."""
        if isinstance(error, GraphQLSyntaxError):
            return error
        if isinstance(error.original_error, InvalidOperationTypeError):
            return GraphQLError(
                f"{error.message}: WebSocket serves subscriptions; queries and mutations go over HTTP.",
                original_error=error.original_error,
                extensions={"code": "BAD_REQUEST"},
            )
        formatted = self._format(error)
        return GraphQLError(
            formatted["message"],
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=error.original_error,
            extensions=formatted["extensions"],
        )

    def _format(self, error: GraphQLError) -> dict[str, Any]:
        formatted: dict[str, Any] = dict(error.formatted)
        original = error.original_error
        extensions = dict(formatted.get("extensions") or {})
        if original is None:
            extensions.setdefault("code", "GRAPHQL_VALIDATION_FAILED")
        elif isinstance(original, Rejection):
            # A resolver's refusal (a bad cursor, a page too large), raised as it is.
            extensions.update(code=original.type, **original.details)
        elif isinstance(original, Unavailable | TimeoutError):
            formatted["message"] = (
                str(original)
                if isinstance(original, Unavailable)
                else ("Temporal is unavailable; retry with the same idempotency key to apply a change once.")
            )
            extensions["code"] = "UNAVAILABLE"
        elif isinstance(original, RateLimited):
            formatted["message"] = str(original)
            extensions["code"] = "RATE_LIMITED"
        elif isinstance(original, GraphQLError):
            # Raised on purpose with its own code, or a variable GraphQL could not coerce.
            extensions.setdefault("code", (original.extensions or {}).get("code", "BAD_USER_INPUT"))
        else:
            logger.error("unexpected error in %s", error.path, exc_info=original)
            formatted["message"] = "Unexpected error."
            extensions["code"] = "INTERNAL_SERVER_ERROR"
        formatted["extensions"] = extensions
        return formatted

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        state: Any = request.state
        if isinstance(request, WebSocket):
            return SubscriptionContext(
                gateway=state.gateway,
                sessions=state.sessions,
                settings=self.settings,
                reader=state.reader,
                changes=state.changes,
                websocket=request,
            )
        principal = authenticate(request.headers.get("authorization"), self.settings)
        if principal is None:
            if request.scope["type"] == "http" and request.scope["method"] == "GET" and self.settings.graphiql:
                # The GraphiQL page itself; GET never executes operations here
                # (allow_queries_via_get=False), and the page sends the token a
                # person types into its headers with every operation.
                return None  # type: ignore[return-value]
            raise Unauthenticated()
        note(actor=principal.actor)
        return Context(
            principal=principal,
            gateway=state.gateway,
            sessions=state.sessions,
            settings=self.settings,
            reader=state.reader,
        )

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """A connection_init without a token naming a reader is refused (4403 Forbidden)."""
        if not isinstance(context, SubscriptionContext) or not context.connect():
            raise ConnectionRejectionError()
        note(actor=context.principal.actor)
        return UNSET


class Unauthenticated(Exception):
    """No valid bearer token: answered as a GraphQL error with a code, in JSON."""


UNAUTHENTICATED = {"errors": [{"message": "A bearer token is required.", "extensions": {"code": "UNAUTHENTICATED"}}]}


async def stripe_events(request: Request) -> Response:
    """Billing events in Stripe's format; see services/billing_events.py."""
    settings: Settings = request.app.state.settings
    state: Any = request.state
    return await _signed_event(request, "billing", settings.stripe_webhook_secret, state.billing)


async def signal_events(request: Request) -> Response:
    """Signal events about accounts, signed the same way; see services/signal_events.py."""
    settings: Settings = request.app.state.settings
    state: Any = request.state
    return await _signed_event(request, "signal", settings.signal_webhook_secret, state.signals)


async def _signed_event(
    request: Request, what: str, secret: SecretStr | None, handler: BillingEvents | SignalEvents
) -> Response:
    settings: Settings = request.app.state.settings
    if secret is None:
        return JSONResponse({"error": f"{what} events are not configured"}, status_code=404)
    payload = await request.body()
    try:
        event = verified_event(
            payload,
            request.headers.get("stripe-signature"),
            secret.get_secret_value(),
            settings.stripe_tolerance_seconds,
        )
    except InvalidEvent as exc:
        return JSONResponse({"error": str(exc)}, status_code=400)
    try:
        outcome = await handler.handle(event)
    except (Unavailable, RateLimited, TimeoutError):
        # Not recorded as processed: the sender retries the same event later.
        return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
    return JSONResponse({"received": True, "outcome": outcome.outcome, "detail": outcome.detail})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    checks: dict[str, str] = {}
    state: Any = request.state
    try:
        async with asyncio.timeout(3):
            await state.client.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as exc:  # readiness reports any failure, whatever its kind
        checks["temporal"] = f"unavailable: {type(exc).__name__}"
    try:
        async with asyncio.timeout(3), state.sessions() as session:
            await session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unavailable: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks}, status_code=200 if ready else 503
    )


def create_app(settings: Settings | None = None, client: Client | None = None) -> Starlette:
    """The ASGI app; tests pass their own settings and Temporal client.

    Called without settings (``uvicorn --factory``), it is the process's entry point and
    also sets up its logs and, when the ``OTEL_*`` environment asks, its traces.
    """
    serving = settings is None
    if settings is None:
        settings = get_settings()
        configure_logging(settings.log_format, settings.log_level)
        setup_tracing("lifecycles-api")
    settings.require_api_tokens()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        temporal = client or await connect(settings)
        engine = create_engine(settings.database_url)
        instrument_engine(engine)
        logger.info(
            "API serving GraphQL; Temporal at %s, task queue %s", settings.temporal_address, settings.task_queue
        )
        sessions = session_factory(engine)
        reader = Reader(sessions)
        if reader.threads is not None:
            instrument_engine(reader.threads.engine)
        gateway = LifecycleGateway(temporal, settings, sessions, transitions=API_METRICS.transitions)
        changes = ChangeFeed(sessions, settings)
        reading = asyncio.create_task(changes.run())
        if serving:
            freeze_startup_objects()
        try:
            yield State(
                client=temporal,
                sessions=sessions,
                gateway=gateway,
                billing=BillingEvents(gateway, sessions),
                signals=SignalEvents(gateway, sessions),
                changes=changes,
                reader=reader,
            )
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
            reader.close()
            await engine.dispose()

    graphql = LifecycleGraphQL(settings)
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/billing/stripe/events", stripe_events, methods=["POST"]),
            Route("/signals/events", signal_events, methods=["POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
            *console_routes(),
            Route("/", lambda request: RedirectResponse("/graphql")),
        ],
        # The tracing middleware first, so that a request's span is current for the rest; the
        # body limit before anything reads a body.
        middleware=[
            *tracing_middleware(),
            Middleware(RequestContext),
            Middleware(
                BodyLimit,
                limits={
                    "/graphql": Limit(settings.max_graphql_request_bytes, graphql=True),
                    "/billing/stripe/events": Limit(settings.max_billing_event_bytes),
                    "/signals/events": Limit(settings.max_billing_event_bytes),
                },
            ),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app
