"""Tracing off (no OTEL_* settings) installs nothing: no middleware, extension, plugin or interceptor."""

from __future__ import annotations

from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

from schema import build_schema
from services.api import create_app
from services.limits import BodyLimit
from services.observe import RequestContext
from services.settings import Settings
from services.telemetry import GraphQLTracing, temporal_plugins, tracing_enabled, worker_interceptors


def test_nothing_is_installed_when_tracing_is_off(settings: Settings):
    assert not tracing_enabled()
    app = create_app(settings)
    assert [m.cls for m in app.user_middleware] == [RequestContext, BodyLimit]
    assert OpenTelemetryMiddleware not in [m.cls for m in app.user_middleware]
    extensions = [type(e) if not isinstance(e, type) else e for e in build_schema(settings).extensions]
    assert GraphQLTracing not in extensions
    assert temporal_plugins() == [] and worker_interceptors() == []
