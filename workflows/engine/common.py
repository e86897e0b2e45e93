"""What every lifecycle shares: transitions each spec declares in one line, one lifecycle opening
another, checks of reported moments, records of who did what, when and why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, Field, field_validator

from workflows.engine.spec import (
    Context,
    DataT,
    EffectSpec,
    Params,
    PolicyT,
    TransitionSpec,
    notify,
    reason_required,
)

CHANGE_OWNER = "change_owner"

RecordT = TypeVar("RecordT", bound=BaseModel)


class ChangeOwnerParams(Params):
    new_owner: str = Field(min_length=1, max_length=200)

    @field_validator("new_owner")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("must not be blank")
        return value


def _validate_new_owner(ctx: Context[Any, Any, ChangeOwnerParams]) -> dict[str, str]:
    if ctx.params.new_owner == ctx.data.owner:
        return {"new_owner": "is already the owner"}
    return {}


def _set_owner(ctx: Context[Any, Any, ChangeOwnerParams]) -> None:
    if ctx.data.owner:
        ctx.data.previous_owners = [*ctx.data.previous_owners, ctx.data.owner]
    ctx.data.owner = ctx.params.new_owner


def change_owner(sources: tuple[str, ...]) -> TransitionSpec:
    """Hand the lifecycle to another owner; used directly and by account handovers.

    The data model needs ``owner: str`` (or ``str | None``) and ``previous_owners: list[str]``.
    """
    return TransitionSpec(
        trigger=CHANGE_OWNER,
        sources=sources,
        dest=None,
        description="Give the lifecycle a new owner.",
        params=ChangeOwnerParams,
        guards=(reason_required("Say why the owner changes."),),
        validate=_validate_new_owner,
        apply=_set_owner,
        effects=(
            notify(
                "new_owner_notified",
                "Tell the new owner what they now own.",
                to=lambda ctx: [ctx.data.owner],
                subject=lambda ctx: f"You now own {ctx.kind} {ctx.entity_id}",
                body=lambda ctx: f"{ctx.actor} handed it to you: {ctx.reason}",
            ),
        ),
        in_diagram=False,
    )


def actor_and_reason(ctx: Context[Any, Any]) -> str:
    """The body of a notice that passes on who made a change and why they said they did."""
    return f"{ctx.actor}: {ctx.reason}"


def start_lifecycle(
    name: str,
    description: str,
    *,
    kind: str,
    data: Callable[[Context[DataT, PolicyT]], Mapping[str, object]],
    reason: Callable[[Context[DataT, PolicyT]], str],
    entity_id: Callable[[Context[DataT, PolicyT]], str] | None = None,
    account_id: Callable[[Context[DataT, PolicyT]], str] | None = None,
    when: Callable[[Context[DataT, PolicyT]], bool] | None = None,
) -> EffectSpec[DataT, PolicyT]:
    """Open a lifecycle of ``kind`` with the opening ``data(ctx)``, on behalf of this transition's actor.

    Delivered as ``lifecycle.start`` (``services/effects.py``). Without ``entity_id`` the kind is
    numbered per account (``Exposure.account_numbered``): it opens under the next id of
    ``account_id(ctx)``, and not at all while the account has one open.
    """
    if entity_id is None and account_id is None:
        raise ValueError(f"{name}: a lifecycle numbered per account needs its account_id")

    def build(ctx: Context[DataT, PolicyT]) -> dict[str, object]:
        target: dict[str, object] = {"kind": kind, "entity_id": entity_id(ctx) if entity_id else None}
        if account_id is not None:
            target["account_id"] = account_id(ctx)
        return {**target, "actor": ctx.actor, "reason": reason(ctx), "data": dict(data(ctx))}

    return EffectSpec(type="lifecycle.start", name=name, description=description, build=build, when=when)


# A reported moment is a datetime judged against datetimes, or a day against days.
MomentT = TypeVar("MomentT", date, datetime)


def reported_moment_problems(
    field: str, at: MomentT | None, *, now: MomentT, since: MomentT | None = None, since_what: str = ""
) -> dict[str, str]:
    """A moment or a day a caller reports (customer activity, a call held; None means now) is
    neither in the future nor before ``since``, when given: the start of what it is reported on."""
    if at is not None and at > now:
        return {field: "must not be in the future"}
    if at is not None and since is not None and at < since:
        return {field: f"must not be before {since_what}"}
    return {}


def owed(moment: datetime, *, since: datetime) -> datetime | None:
    """A timer's moment, or None when it came before ``since``, when it could first be known
    (a lifecycle opened late, dates moved): such a timer is skipped rather than fired late."""
    return moment if moment >= since else None


def latest(at: datetime, known: datetime | None) -> datetime:
    """The later of a reported moment and the one known: one reported late must not pull it back."""
    return max(at, known) if known else at


def stamped(record: type[RecordT], ctx: Context[Any, Any], **values: Any) -> RecordT:
    """A ``record`` of the transition being applied, its fields filled by name where ``values`` leave them.

    A field the trigger's params have takes their value; ``reason`` the reason given (or
    ""); a required ``<verb>_by`` (or ``by``) the actor and a required ``<verb>_at`` (or ``at``)
    the moment, so ``Pause(paused_by, paused_at, reason)`` is ``stamped(Pause, ctx)``.
    """
    params = type(ctx.params).model_fields if isinstance(ctx.params, BaseModel) else {}
    filled: dict[str, Any] = {}
    for name, info in record.model_fields.items():
        if name in values:
            continue
        if name in params:
            filled[name] = getattr(ctx.params, name)
        elif name == "reason":
            filled[name] = ctx.reason or ""
        elif info.is_required() and (name == "by" or name.endswith("_by")):
            filled[name] = ctx.actor
        elif info.is_required() and (name == "at" or name.endswith("_at")):
            filled[name] = ctx.now
    return record(**filled, **values)


def take_params(ctx: Context[Any, Any]) -> None:
    """An ``apply`` setting each data field the trigger's params name to the value given."""
    for name in type(ctx.params).model_fields:
        setattr(ctx.data, name, getattr(ctx.params, name))
