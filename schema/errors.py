"""Expected failures as data: the members of every result union.

Clients switch on ``__typename``; each member says what to do next (the allowed
triggers, the unmet conditions, the bad fields). Field names are the GraphQL ones.
"""

from __future__ import annotations

import re
import typing

import strawberry

from services.observe import refused
from workflows.engine import errors
from workflows.engine.spec import Role

strawberry.enum(Role, description="What a caller may do: each role includes the ones below.")


@strawberry.interface(description="A request that was refused; nothing was changed.")
class Error:
    message: str


@strawberry.type(description="No lifecycle with this id.")
class NotFound(Error):
    pass


@strawberry.type(description="A lifecycle with this id exists already.")
class AlreadyExists(Error):
    pass


@strawberry.type(description="The trigger is not possible from the current state.")
class InvalidTransition(Error):
    state: str | None
    allowed: list[str] = strawberry.field(description="Triggers a caller could fire from this state.")


@strawberry.type
class UnmetCondition:
    guard: str
    message: str


@strawberry.type(description="The trigger is possible, but conditions are unmet.")
class GuardFailed(Error):
    unmet: list[UnmetCondition]


@strawberry.type
class FieldError:
    field: str = strawberry.field(description="The input field, as a dotted GraphQL path.")
    message: str


@strawberry.type(description="Some input values are invalid.")
class ValidationError(Error):
    fields: list[FieldError]


@strawberry.type(description="The caller's role may not do this.")
class Forbidden(Error):
    required_role: Role


@strawberry.type(
    description="The idempotency key already applied a different request (another operation or other input); "
    "nothing was changed. Send a new key with a new request."
)
class IdempotencyKeyReused(Error):
    idempotency_key: str
    original_trigger: str = strawberry.field(description="The trigger the key applied first.")
    original_seq: int = strawberry.field(description="The transition the key applied first.")


# Every refusal a request can meet, in the order the unions have always listed them.
Refusal = (
    NotFound | AlreadyExists | InvalidTransition | GuardFailed | ValidationError | Forbidden | IdempotencyKeyReused
)
EVERY_REFUSAL: tuple[type[Error], ...] = typing.get_args(Refusal)


def camel(path: str) -> str:
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), path)


def to_error(
    rejection: errors.Rejection, field_names: dict[str, str] | None = None, *, params_path: str | None = None
) -> Refusal:
    """The union member for a rejection; ``field_names`` maps spec fields to input paths.

    With ``params_path``, a bad field is named under that argument in the spec's own
    names (``params.loss_reason``), as a caller sending the spec's parameters wrote it.
    """
    refused(rejection.type, rejection.message)
    d = rejection.details
    if isinstance(rejection, errors.NotFound):
        return NotFound(message=rejection.message)
    if isinstance(rejection, errors.AlreadyExists):
        return AlreadyExists(message=rejection.message)
    if isinstance(rejection, errors.InvalidTransition):
        return InvalidTransition(message=rejection.message, state=d.get("state"), allowed=list(d.get("allowed", [])))
    if isinstance(rejection, errors.GuardFailed):
        return GuardFailed(
            message=rejection.message,
            unmet=[UnmetCondition(guard=u["guard"], message=u["message"]) for u in d.get("unmet", [])],
        )
    if isinstance(rejection, errors.ValidationError):
        names = field_names or {}
        return ValidationError(
            message=rejection.message,
            fields=[
                FieldError(
                    field=f"{params_path}.{f['field']}" if params_path else camel(names.get(f["field"], f["field"])),
                    message=f["message"],
                )
                for f in d.get("fields", [])
            ],
        )
    if isinstance(rejection, errors.Forbidden):
        return Forbidden(message=rejection.message, required_role=Role[d.get("required_role", "ADMIN")])
    if isinstance(rejection, errors.IdempotencyKeyReused):
        return IdempotencyKeyReused(
            message=rejection.message,
            idempotency_key=d["idempotency_key"],
            original_trigger=d["original_trigger"],
            original_seq=d["original_seq"],
        )
    raise TypeError(f"unexpected rejection {rejection!r}")
