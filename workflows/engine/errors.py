"""Expected rejections of a request, each with the details a caller can act on.

The workflow's update validator raises them as Temporal ``ApplicationError`` with
``type`` set to the class name and the details as the first detail, so a rejected
request leaves nothing in the workflow's history; the API maps them back to the
GraphQL union members of the same names.
"""

from __future__ import annotations

from typing import Any


class Rejection(Exception):
    """A request the lifecycle refuses; nothing was changed."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def type(self) -> str:
        return type(self).__name__

    def as_details(self) -> dict[str, Any]:
        return {"message": self.message, **self.details}


class InvalidTransition(Rejection):
    """The trigger is not possible from the current state. Details: ``state``, ``allowed``."""


class GuardFailed(Rejection):
    """The trigger is possible but its conditions are unmet. Details: ``unmet`` [{guard, message}]."""


class ValidationError(Rejection):
    """The request's input is malformed. Details: ``fields`` [{field, message}]."""


class Forbidden(Rejection):
    """The caller's role may not do this. Details: ``required_role``."""


class NotFound(Rejection):
    """No lifecycle with this id."""


class AlreadyExists(Rejection):
    """A lifecycle with this id exists already."""


class IdempotencyKeyReused(Rejection):
    """The caller's idempotency key already applied a different request.

    Details: ``idempotency_key``, ``original_trigger``, ``original_seq``."""


REJECTIONS: dict[str, type[Rejection]] = {
    cls.__name__: cls
    for cls in (
        InvalidTransition,
        GuardFailed,
        ValidationError,
        Forbidden,
        NotFound,
        AlreadyExists,
        IdempotencyKeyReused,
    )
}


def field_errors(exc: Exception, prefix: str = "") -> list[dict[str, str]]:
    """Per-field messages from a pydantic ValidationError, with dotted field paths."""
    errors = getattr(exc, "errors", None)
    if errors is None:
        return [{"field": prefix or "input", "message": str(exc)}]
    out = []
    for err in errors():
        path = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        field = ".".join(p for p in (prefix, path) if p) or "input"
        out.append({"field": field, "message": err.get("msg", "invalid value")})
    return out
