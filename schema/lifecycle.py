"""Queries and mutations that work on any lifecycle kind."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from schema.common import (
    LIGHT_LIFECYCLE_FIELDS,
    Connection,
    GenericLifecycle,
    LeanAnswer,
    LifecycleMachine,
    Transition,
    asks_for_total,
    connection,
    fire,
    projected_field,
)
from schema.context import Info
from schema.errors import (
    FieldError,
    NotFound,
    Refusal,
    ValidationError,
)
from schema.inputs import filter_moment
from services.lifecycle_list import LifecycleFilter as LifecycleQueryFilter
from services.lifecycle_list import LifecycleOrder, count_by_state, list_lifecycles
from services.read_model import get_snapshot
from workflows.engine import errors
from workflows.engine.common import CHANGE_OWNER
from workflows.engine.spec import Role
from workflows.engine.types import TransitionResult
from workflows.registry import SPECS


@strawberry.type(description="The transition applied and the lifecycle as the read model now has it.")
class LifecycleChanged:
    lifecycle: GenericLifecycle
    transition: Transition
    projected: bool = projected_field()


LifecycleResult = Annotated[LifecycleChanged | Refusal, strawberry.union("LifecycleResult")]
# GenericLifecycle's own fields (its data, its account) read neither the policy nor the deadlines.
LEAN_ANSWER = LeanAnswer("lifecycle", LIGHT_LIFECYCLE_FIELDS | {"data", "account_id"})
LifecycleLookup = Annotated[GenericLifecycle | NotFound, strawberry.union("LifecycleLookup")]
MachineLookup = Annotated[LifecycleMachine | NotFound, strawberry.union("MachineLookup")]


strawberry.enum(LifecycleOrder)


@strawberry.input(description="What every lifecycle has in common, to filter on; every field given must match.")
class LifecycleFilter:
    state: list[str] | None = strawberry.field(default=None, description="Any of these states.")
    terminal: bool | None = None
    owner: str | None = None
    account_id: str | None = None
    due_before: datetime | None = strawberry.field(default=None, description="Its next deadline is before this moment.")
    updated_after: datetime | None = strawberry.field(
        default=None, description="Its last change is after this moment (to poll for changes)."
    )


@strawberry.type(description="Who the bearer token names: the actor recorded on their transitions, and their role.")
class Caller:
    actor: str
    role: Role


@strawberry.type(description="How many lifecycles of a kind are in one state.")
class StateTotal:
    kind: str
    state: str
    count: int


@strawberry.input
class ReassignLifecycleInput:
    kind: str
    id: strawberry.ID
    new_owner: str
    reason: str | None = None
    idempotency_key: str | None = None


def _unknown_kind(kind: str) -> str:
    return f"There is no lifecycle kind {kind!r}; there are: {', '.join(SPECS)}."


def _query_filter(kind: str | None, f: LifecycleFilter) -> LifecycleQueryFilter:
    if kind is not None and kind not in SPECS:
        raise errors.NotFound(_unknown_kind(kind))
    kinds = [kind] if kind is not None else list(SPECS)
    states = {state.name for k in kinds for state in SPECS[k].states}
    unknown = [s for s in f.state or [] if s not in states]
    if unknown:
        raise errors.ValidationError(
            f"No {kind or 'lifecycle'} has the state {', '.join(map(repr, unknown))}.",
            fields=[{"field": "filter.state", "message": f"one of: {', '.join(sorted(states))}"}],
        )
    return LifecycleQueryFilter(
        kinds=[kind] if kind is not None else [],
        states=list(f.state or []),
        terminal=f.terminal,
        owner=f.owner,
        account_id=f.account_id,
        due_before=filter_moment(f.due_before, "dueBefore"),
        updated_after=filter_moment(f.updated_after, "updatedAfter"),
    )


def _changed(outcome: Any) -> Any:
    if isinstance(outcome, TransitionResult):
        return LifecycleChanged(
            lifecycle=GenericLifecycle(source=outcome.snapshot),
            transition=Transition.of(outcome.transition),
            projected=outcome.projected,
        )
    return outcome


@strawberry.type
class LifecycleQuery:
    @strawberry.field(description="The caller, as the API knows them from their bearer token.")
    def me(self, info: Info) -> Caller:
        principal = info.context.principal
        return Caller(actor=principal.actor, role=principal.role)

    @strawberry.field(description="Any lifecycle by kind and id, with its data as JSON.")
    async def lifecycle(self, info: Info, kind: str, id: strawberry.ID) -> LifecycleLookup:
        if kind not in SPECS:
            return NotFound(message=_unknown_kind(kind))
        async with info.context.sessions() as session:
            snapshot = await get_snapshot(session, kind, id)
        if snapshot is None:
            return NotFound(message=f"There is no {kind} {id!r}.")
        return GenericLifecycle(source=snapshot)

    @strawberry.field(
        description="Lifecycles of one kind (or of every kind) matching the filter, a page at a time, "
        "from the read model."
    )
    async def lifecycles(
        self,
        info: Info,
        kind: str | None = None,
        filter: LifecycleFilter | None = None,
        order_by: LifecycleOrder = LifecycleOrder.UPDATED_AT_DESC,
        first: int = 20,
        after: str | None = None,
    ) -> Connection[GenericLifecycle]:
        query_filter = _query_filter(kind, filter or LifecycleFilter())
        async with info.context.sessions() as session:
            page = await list_lifecycles(
                session,
                query_filter,
                LifecycleOrder(order_by),
                first=first,
                after=after,
                max_page_size=info.context.settings.max_page_size,
                counted=asks_for_total(info),
            )
        return connection(page, lambda row: GenericLifecycle(source=row))

    @strawberry.field(
        description="How many lifecycles of one kind (or of every kind) matching the filter are in each state, "
        "from the read model; states with none are left out."
    )
    async def lifecycle_totals(
        self, info: Info, kind: str | None = None, filter: LifecycleFilter | None = None
    ) -> list[StateTotal]:
        query_filter = _query_filter(kind, filter or LifecycleFilter())
        async with info.context.sessions() as session:
            counted = await count_by_state(session, query_filter)
        return [StateTotal(kind=k, state=s, count=n) for k, s, n in counted]

    @strawberry.field(description="Every lifecycle kind the service runs, as machines.")
    def lifecycle_machines(self) -> list[LifecycleMachine]:
        return [LifecycleMachine(spec=spec) for spec in SPECS.values()]

    @strawberry.field(description="One lifecycle kind's machine: states, transitions, guards, timers.")
    def lifecycle_machine(self, kind: str) -> MachineLookup:
        spec = SPECS.get(kind)
        if spec is None:
            return NotFound(message=_unknown_kind(kind))
        return LifecycleMachine(spec=spec)


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation(description="Give any lifecycle a new owner, with a reason.")
    async def reassign_lifecycle(self, info: Info, input: ReassignLifecycleInput) -> LifecycleResult:
        return _changed(
            await fire(
                info,
                input.kind,
                input.id,
                CHANGE_OWNER,
                {"new_owner": input.new_owner},
                reason=input.reason,
                idempotency_key=input.idempotency_key,
                lean=LEAN_ANSWER,
            )
        )

    @strawberry.mutation(
        description="Fire any trigger on any lifecycle (what the kind's own mutations do, by name): "
        "params is a JSON object in the spec's parameter names, validated by the lifecycle; "
        "lifecycleMachine(kind) lists the triggers and their roles."
    )
    async def fire_lifecycle_trigger(
        self,
        info: Info,
        kind: str,
        id: strawberry.ID,
        trigger: str,
        params: JSON | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> LifecycleResult:
        if params is not None and not isinstance(params, dict):
            return ValidationError(
                message="params must be a JSON object of parameter names to values.",
                fields=[FieldError(field="params", message="must be a JSON object")],
            )
        return _changed(
            await fire(
                info,
                kind,
                id,
                trigger,
                params,
                reason=reason,
                idempotency_key=idempotency_key,
                params_path="params",
                lean=LEAN_ANSWER,
            )
        )
