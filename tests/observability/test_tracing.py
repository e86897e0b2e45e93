"""Traces through the real stack, exported to the OpenTelemetry SDK's in-memory exporter.

One GraphQL transition is one trace: the HTTP request, the GraphQL operation, the Temporal
client call, the workflow update (validator and handler), the projection with its SQL
statements, and the delivery of its effect with the outbound HTTP call, every span's
parent in the same trace. A timer firing starts a trace of its own that reaches the
delivery the same way, a list's statements are children of its request, and a caller's
``traceparent`` is continued.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from temporalio.testing import WorkflowEnvironment

from services.settings import Environment, Settings
from services.telemetry import setup_tracing, stop_tracing, tracing_requested
from tests.api.test_opportunity_api import LOST, call, open_deal
from tests.channels.receivers import Receiver, webhook_receiver
from tests.channels.test_delivery import FAST_LADDER, invoice
from tests.conftest import ADMIN, TOKENS, Api
from tests.observability.stack import client_for, running_stack
from tests.workflows.helpers import eventually
from workflows.engine.types import workflow_id_for

CRM_SECRET = "crm-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    setup_tracing("lifecycles-test", exporter=spans)
    yield spans
    stop_tracing()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver({"/crm": CRM_SECRET}) as r:
        yield r


@pytest.fixture
def settings(database_url: str, receiver: Receiver) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        task_queue=f"tq-{uuid.uuid4()}",
        api_tokens=TOKENS,
        webhook_endpoints={"crm": {"url": f"{receiver.url}/crm", "secret": CRM_SECRET}},
        # Every effect leaves the service over HTTP, so each delivery has an outbound call.
        effect_routes={"*": ["webhook:crm"]},
    )


@pytest.fixture
async def traced(
    exporter: InMemorySpanExporter, local_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[Api]:
    client = await client_for(local_env)
    async with running_stack(client, settings) as api:
        exporter.clear()
        yield api


def trace_of(spans: tuple[ReadableSpan, ...], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def names(spans: list[ReadableSpan]) -> set[str]:
    return {s.name for s in spans}


def assert_connected(spans: list[ReadableSpan]) -> None:
    """One root, and every other span's parent is a span of the same trace."""
    ids = {s.context.span_id for s in spans if s.context is not None}
    roots = [s for s in spans if s.parent is None or s.parent.span_id not in ids]
    assert len(roots) == 1, [(s.name, s.parent) for s in roots]


def delivered_in(spans: list[ReadableSpan]) -> bool:
    """The delivery activity and its outbound call to the receiver are in ``spans``."""
    return "RunActivity:deliver_effect" in names(spans) and any(
        s.kind is SpanKind.CLIENT and s.name == "POST" and "/crm" in str(dict(s.attributes or {})) for s in spans
    )


def test_tracing_is_off_unless_the_environment_asks():
    assert not tracing_requested({})
    assert tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing_requested({"OTEL_TRACES_EXPORTER": "console"})
    assert not tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"})
    assert not tracing_requested({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"})


async def test_one_transition_is_one_trace_from_the_request_to_the_delivery(
    traced: Api, exporter: InMemorySpanExporter, receiver: Receiver, entity_id: str
):
    await open_deal(traced, entity_id)
    await eventually(lambda: _projected(exporter, "openOpportunity"), within=30)
    exporter.clear()

    lost = await call(traced, LOST, {"id": entity_id, "lossReason": "PRICING"})
    assert lost["__typename"] == "OpportunityChanged", lost

    async def whole_trace() -> list[ReadableSpan] | None:
        spans = exporter.get_finished_spans()
        resolver = [s for s in spans if s.name == "GraphQL Resolving: closeOpportunityLost"]
        if not resolver:
            return None
        trace = trace_of(spans, resolver[0].context.trace_id)
        return trace if delivered_in(trace) else None

    trace = await eventually(whole_trace, within=60)
    seen = names(trace)
    assert {
        "POST /graphql",
        "GraphQL Resolving: closeOpportunityLost",
        "StartWorkflowUpdate:transition",
        "ValidateUpdate:transition",
        "HandleUpdate:transition",
        "StartActivity:project_lifecycle",
        "RunActivity:project_lifecycle",
        "StartActivity:deliver_effect",
        "RunActivity:deliver_effect",
    } <= seen, seen
    # The projection's statements, under its activity.
    projection = next(s for s in trace if s.name == "RunActivity:project_lifecycle")
    by_id = {s.context.span_id: s for s in trace}
    statements = [s for s in trace if {"db.system", "db.system.name"} & set(s.attributes or {})]
    assert any(_descends(s, projection, by_id) for s in statements), [s.name for s in statements]
    assert_connected(trace)
    # Nothing of the caller's data on a span: no token, no document text, no input values.
    dumped = " ".join(str(dict(s.attributes or {})) for s in trace)
    assert "PRICING" not in dumped and not any(token in dumped for token in TOKENS)
    assert not any("query" in (s.attributes or {}) for s in trace)
    # Nested fields are part of their root field's span, not spans of their own.
    assert not [s.name for s in trace if s.name in ("GraphQL Resolving: stage", "GraphQL Resolving: opportunity")]


async def test_a_timer_firing_starts_its_own_trace_that_reaches_the_delivery(
    traced: Api, exporter: InMemorySpanExporter, entity_id: str
):
    await traced.stack.gateway.open(
        "late-payment", entity_id, invoice(entity_id), principal=ADMIN, policy={**FAST_LADDER}
    )
    workflow_id = workflow_id_for("late-payment", entity_id)

    async def a_timer_trace() -> list[ReadableSpan] | None:
        spans = exporter.get_finished_spans()
        for fired in (s for s in spans if s.name.startswith("FireTimer:")):
            if fired.attributes and fired.attributes.get("temporalWorkflowID") != workflow_id:
                continue
            trace = trace_of(spans, fired.context.trace_id)
            if delivered_in(trace):
                return trace
        return None

    trace = await eventually(a_timer_trace, within=60)
    fired = next(s for s in trace if s.name.startswith("FireTimer:"))
    assert fired.parent is None
    assert {"StartActivity:project_lifecycle", "RunActivity:project_lifecycle", "RunActivity:deliver_effect"} <= names(
        trace
    )
    opening = [s for s in exporter.get_finished_spans() if s.name == "StartWorkflow:LatePayment"]
    assert opening and all(s.context.trace_id != fired.context.trace_id for s in opening)
    assert_connected(trace)


async def test_a_callers_traceparent_is_continued(traced: Api, exporter: InMemorySpanExporter):
    trace_id, parent_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    response = await traced.http.post(
        "/graphql",
        json={"query": "{ lifecycleMachines { kind } }"},
        headers={"authorization": f"Bearer {next(iter(TOKENS))}", "traceparent": f"00-{trace_id}-{parent_id}-01"},
    )
    assert response.status_code == 200
    spans = await eventually(lambda: _async(trace_of(exporter.get_finished_spans(), int(trace_id, 16))))
    server = next(s for s in spans if s.name == "POST /graphql")
    assert server.parent is not None and server.parent.span_id == int(parent_id, 16)
    assert "GraphQL Resolving: lifecycleMachines" in names(spans)


async def test_a_lists_statements_are_traced_under_its_request(traced: Api, exporter: InMemorySpanExporter):
    # The page is read on a thread of the reader's (SQLite) or on the event loop (PostgreSQL):
    # either way its statement is a child of the list's resolver.
    response = await traced.http.post(
        "/graphql",
        json={"query": "{ opportunities(first: 5) { totalCount edges { node { id } } } }"},
        headers={"authorization": f"Bearer {next(iter(TOKENS))}"},
    )
    assert response.status_code == 200 and "errors" not in response.json(), response.text

    async def listed() -> list[ReadableSpan] | None:
        spans = exporter.get_finished_spans()
        resolver = [s for s in spans if s.name == "GraphQL Resolving: opportunities"]
        return trace_of(spans, resolver[0].context.trace_id) if resolver else None

    trace = await eventually(listed)
    resolver = next(s for s in trace if s.name == "GraphQL Resolving: opportunities")
    by_id = {s.context.span_id: s for s in trace}
    statements = [s for s in trace if {"db.system", "db.system.name"} & set(s.attributes or {})]
    assert statements and all(_descends(s, resolver, by_id) for s in statements), [s.name for s in statements]
    assert "POST /graphql" in names(trace)
    assert_connected(trace)


def _descends(span: ReadableSpan, ancestor: ReadableSpan, by_id: dict[int, ReadableSpan]) -> bool:
    current: ReadableSpan | None = span
    while current is not None and current.parent is not None:
        if current.parent.span_id == ancestor.context.span_id:
            return True
        current = by_id.get(current.parent.span_id)
    return False


async def _projected(exporter: InMemorySpanExporter, field: str) -> bool:
    spans = exporter.get_finished_spans()
    resolver = [s for s in spans if s.name == f"GraphQL Resolving: {field}"]
    return bool(resolver) and "RunActivity:project_lifecycle" in names(trace_of(spans, resolver[0].context.trace_id))


async def _async(value: Any) -> Any:
    return value
