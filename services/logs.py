"""Logs: one JSON object per line (or human-readable lines for ``./dev up``).

Every line carries what is known where it was written: the request id (``X-Request-ID``
or one made for the request), the trace and span ids, the workflow id, the kind and the
actor. Tokens and secrets are never passed to a logger; effect bodies are not logged
(the log channel writes the subject line only).
"""

from __future__ import annotations

import enum
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TextIO

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter
from temporalio import activity

REQUEST_ID: ContextVar[str | None] = ContextVar("lifecycles_request_id", default=None)
# workflow_id, kind, actor of what is being worked on, where known.
SUBJECT: ContextVar[dict[str, str] | None] = ContextVar("lifecycles_log_subject", default=None)
CONTEXT_FIELDS = ("request_id", "trace_id", "span_id", "workflow_id", "kind", "actor")


class LogFormat(enum.StrEnum):
    JSON = "json"
    TEXT = "text"


@contextmanager
def request_scope(request_id: str) -> Iterator[None]:
    """Lines written inside carry this request id, and what ``note`` adds during the request."""
    request_token = REQUEST_ID.set(request_id)
    subject_token = SUBJECT.set({})
    try:
        yield
    finally:
        SUBJECT.reset(subject_token)
        REQUEST_ID.reset(request_token)


def note(**fields: str | None) -> None:
    """Name what the current request is about (workflow id, kind, actor) for its remaining lines."""
    current = SUBJECT.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v})


class ContextFilter(logging.Filter):
    """Adds the context fields to every record passing through the handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields: dict[str, Any] = {"request_id": REQUEST_ID.get()}
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            fields["trace_id"] = format(span.trace_id, "032x")
            fields["span_id"] = format(span.span_id, "016x")
        # Temporal's workflow logger puts its workflow on the record; an activity's is asked.
        workflow_id = (getattr(record, "temporal_workflow", None) or {}).get("workflow_id")
        if workflow_id is None and activity.in_activity():
            workflow_id = activity.info().workflow_id
        if workflow_id:
            fields["workflow_id"] = workflow_id
            fields["kind"] = workflow_id.partition("/")[0]
        fields.update(SUBJECT.get() or {})
        for name in CONTEXT_FIELDS:
            if getattr(record, name, None) is None:
                setattr(record, name, fields.get(name))
        return True


class JsonLines(JsonFormatter):
    """One JSON object per record; context fields only when known."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger", "exc_info": "traceback"},
            timestamp=False,
        )

    def add_fields(self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_data, record, message_dict)
        for name in CONTEXT_FIELDS:
            if log_data.get(name) is None:
                log_data.pop(name, None)


class TextLines(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        known = [f"{name}={getattr(record, name)}" for name in CONTEXT_FIELDS if getattr(record, name, None)]
        if not known:
            return line
        head, newline, rest = line.partition("\n")
        return f"{head} [{' '.join(known)}]{newline}{rest}"


def log_handler(log_format: LogFormat, stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonLines() if log_format is LogFormat.JSON else TextLines())
    return handler


def configure_logging(log_format: LogFormat, level: str = "INFO") -> None:
    """Replace the root logger's handlers with one writing ``log_format`` to stderr."""
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(log_handler(log_format))
    root.setLevel(level)
    # Uvicorn's loggers propagate to the root, so its lines are formatted the same way.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
