"""Tracing with OpenTelemetry: one trace per request, from HTTP to the outbound delivery.

Off unless the standard ``OTEL_*`` variables ask for it (``OTEL_EXPORTER_OTLP_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or ``OTEL_TRACES_EXPORTER=otlp|console``;
``OTEL_SDK_DISABLED=true`` wins). Off means nothing is installed: no ASGI middleware,
no GraphQL extension, no Temporal interceptor, no SQL or HTTP hooks, so it costs nothing.

On, each process installs one replay-safe tracer provider (Temporal's, whose span ids
inside workflows come from the workflow's deterministic random) and:

- the API wraps itself in the ASGI middleware (a caller's W3C ``traceparent`` is
  continued), adds strawberry's extension (resolver arguments other than ids left out,
  so no customer data lands in a span), and traces its SQL;
- the Temporal client and worker carry the context through Temporal's own
  ``OpenTelemetryInterceptor`` (client call, update validator and handler, activities);
- ``EffectTraceInterceptor`` (below) makes a delivery part of the trace of the change
  that decided its effect, and makes a timer firing start a trace of its own;
- the worker traces its SQL (the projection's statements) and its outbound HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from inspect import isawaitable
from typing import Any

import httpx
import opentelemetry.context
import opentelemetry.trace
import sqlalchemy as sa
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
from opentelemetry.metrics import NoOpMeter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.middleware import Middleware
from strawberry.extensions import SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension
from temporalio import workflow
from temporalio.contrib.opentelemetry import OpenTelemetryPlugin, ReplaySafeTracerProvider, create_tracer_provider
from temporalio.plugin import SimplePlugin
from temporalio.worker import (
    Interceptor,
    StartActivityInput,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from workflows.engine.types import DeliverEffectInput, ProjectionBatch
from workflows.engine.workflow import DELIVER_ACTIVITY, PROJECT_ACTIVITY

TRACER_NAME = "lifecycles"
# Resolver arguments kept on GraphQL spans: what identifies the target, never the data.
TRACED_ARGUMENTS = frozenset({"id", "kind"})


def tracing_requested(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the ``OTEL_*`` environment asks for traces."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter == "none":
        return False
    return bool(exporter or env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _exporter_from_environment(environ: Mapping[str, str]) -> SpanExporter:
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "console":
        return ConsoleSpanExporter()
    # Imported here: only a process that exports over OTLP pays for loading it.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


class _Tracing:
    # Installed once per process (OpenTelemetry's global provider cannot be replaced).
    provider: ReplaySafeTracerProvider | None = None
    on = False


_tracing = _Tracing()


def tracing_enabled() -> bool:
    return _tracing.on


def setup_tracing(
    service_name: str, exporter: SpanExporter | None = None, environ: Mapping[str, str] | None = None
) -> bool:
    """Install this process's tracer provider when tracing is wanted; True when on.

    ``exporter`` (tests: the SDK's in-memory exporter) turns tracing on whatever the
    environment says and exports each span as it ends. A process installs one provider;
    later calls only add their exporter to it.
    """
    env = os.environ if environ is None else environ
    if exporter is None and not tracing_requested(env):
        return tracing_enabled()
    if _tracing.provider is None:
        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, when set, override the default name.
        resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or service_name})
        provider = create_tracer_provider(resource=resource)
        opentelemetry.trace.set_tracer_provider(provider)
        _tracing.provider = provider
    if exporter is not None:
        _tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        _tracing.provider.add_span_processor(BatchSpanProcessor(_exporter_from_environment(env)))
    _tracing.on = True
    return True


def stop_tracing() -> None:
    """Flush what is buffered; nothing made afterwards (apps, clients, workers) is traced."""
    if _tracing.provider is not None:
        _tracing.provider.force_flush()
    _tracing.on = False


# ---- the API -------------------------------------------------------------------------


def tracing_middleware() -> list[Middleware]:
    """OpenTelemetry's ASGI middleware: a server span per request, continuing a caller's ``traceparent``."""
    if not tracing_enabled():
        return []
    return [Middleware(OpenTelemetryMiddleware, tracer_provider=_tracing.provider)]


def _identifying_arguments(arguments: dict[str, Any], info: Any) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for name, value in arguments.items():
        if name in TRACED_ARGUMENTS:
            kept[name] = value
        elif isinstance(value, Mapping):
            kept.update({f"{name}.{k}": v for k, v in value.items() if k in TRACED_ARGUMENTS})
        elif hasattr(value, "id") and isinstance(value.id, str):
            kept[f"{name}.id"] = value.id
    return kept


class GraphQLTracing(OpenTelemetryExtension):
    """Strawberry's extension with a span for each root field only, and without the document
    text (it may hold customer data inline)."""

    def __init__(self, *, execution_context: Any = None) -> None:
        super().__init__(execution_context=execution_context, arg_filter=_identifying_arguments)

    async def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        if info.path.prev is None:
            return await super().resolve(_next, root, info, *args, **kwargs)
        # A nested field (a deal's stage, each of fifty rows...) is part of its root field's span.
        result = _next(root, info, *args, **kwargs)
        return await result if isawaitable(result) else result

    def on_operation(self) -> Any:
        query, self.execution_context.query = self.execution_context.query, None
        try:
            operation = super().on_operation()
            next(operation)
        finally:
            self.execution_context.query = query
        yield
        next(operation, None)


def graphql_extensions() -> list[type[SchemaExtension]]:
    return [GraphQLTracing] if tracing_enabled() else []


def instrument_engine(engine: AsyncEngine | sa.Engine) -> None:
    """Trace every SQL statement of this engine (the projection's included).

    The instrumentation's tracer is attached to this engine alone (its instrumentor is
    a process-wide singleton, which would leave the API's and the worker's engines of
    one test process to a single call).
    """
    if tracing_enabled():
        assert _tracing.provider is not None
        EngineTracer(
            _tracing.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy"),
            engine.sync_engine if isinstance(engine, AsyncEngine) else engine,
            NoOpMeter("lifecycles").create_up_down_counter("db.client.connections.usage"),
        )


def instrument_http(client: httpx.AsyncClient) -> None:
    """Trace the outbound calls of this client (webhooks, Slack) and pass the context on."""
    if tracing_enabled():
        HTTPXClientInstrumentor.instrument_client(client, tracer_provider=_tracing.provider)


# ---- Temporal ------------------------------------------------------------------------


def temporal_plugins() -> list[SimplePlugin]:
    """For ``Client.connect``: the context travels with every client call and into workers."""
    return [OpenTelemetryPlugin(add_temporal_spans=True)] if tracing_enabled() else []


def worker_interceptors() -> list[Interceptor]:
    return [EffectTraceInterceptor()] if tracing_enabled() else []


def email_span(recipients: int) -> AbstractContextManager[Any]:
    """A client span around one SMTP send (smtplib has no instrumentation of its own)."""
    if not tracing_enabled():
        return nullcontext()
    tracer = opentelemetry.trace.get_tracer(TRACER_NAME)
    return tracer.start_as_current_span(
        "smtp send", kind=opentelemetry.trace.SpanKind.CLIENT, attributes={"smtp.recipients": recipients}
    )


class EffectTraceInterceptor(Interceptor):
    """Keeps deliveries in the trace of the change that decided them.

    Temporal's interceptor runs an update's handler in the caller's trace, so the
    projection (a local activity of the handler) is already part of it; but effects are
    delivered by the workflow's own background loop, which runs in the trace of the
    workflow's start. This remembers, for each effect a projection writes to the outbox,
    the trace it was written in, and delivers it in that trace. A timer firing (written
    by the main loop, outside any handler) starts a new trace, which its projection and
    deliveries then join. Placed after Temporal's interceptor, so its outbound calls wrap
    Temporal's and the context it attaches is the one Temporal propagates.
    """

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _EffectTraceInbound


class _EffectTraceInbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_EffectTraceOutbound(outbound))


class _EffectTraceOutbound(WorkflowOutboundInterceptor):
    def __init__(self, next: WorkflowOutboundInterceptor) -> None:
        super().__init__(next)
        # effect id -> the context its transition ran in; dropped once delivered.
        self._effect_contexts: dict[str, opentelemetry.context.Context] = {}

    def start_local_activity(self, input: StartLocalActivityInput) -> workflow.ActivityHandle[Any]:
        if input.activity != PROJECT_ACTIVITY:
            return super().start_local_activity(input)
        batch = input.args[0]
        if not isinstance(batch, ProjectionBatch) or workflow.current_update_info() is not None:
            self._remember(batch)
            return super().start_local_activity(input)
        timers = [t for t in batch.timers if not t.refused]
        if not timers:
            self._remember(batch)
            return super().start_local_activity(input)
        tracer = opentelemetry.trace.get_tracer(TRACER_NAME)
        # A new root: the timer's own trace, not the one of the request that opened the lifecycle.
        with tracer.start_as_current_span(
            f"FireTimer:{timers[-1].timer}",
            context=opentelemetry.context.Context(),
            kind=opentelemetry.trace.SpanKind.INTERNAL,
            attributes={
                "lifecycle.kind": batch.snapshot.kind,
                "lifecycle.timer": timers[-1].timer,
                "temporalWorkflowID": workflow.info().workflow_id,
            },
        ):
            self._remember(batch)
            return super().start_local_activity(input)

    def start_activity(self, input: StartActivityInput) -> workflow.ActivityHandle[Any]:
        if input.activity == PROJECT_ACTIVITY and input.args:
            # The projection retried after the database failed: its effects keep their trace.
            self._remember(input.args[0])
        if input.activity == DELIVER_ACTIVITY and input.args and isinstance(input.args[0], DeliverEffectInput):
            context = self._effect_contexts.pop(input.args[0].effect_id, None)
            if context is not None:
                token = opentelemetry.context.attach(context)
                try:
                    return super().start_activity(input)
                finally:
                    opentelemetry.context.detach(token)
        return super().start_activity(input)

    def _remember(self, batch: Any) -> None:
        if isinstance(batch, ProjectionBatch) and batch.effects:
            current = opentelemetry.context.get_current()
            for effect in batch.effects:
                self._effect_contexts.setdefault(effect.id, current)
