"""Queries and mutations that work on any lifecycle kind."""

from __future__ import annotations

from typing import Annotated, Any

import strawberry

from schema.common import GenericLifecycle, LifecycleMachine, Transition, fire, projected_field
from schema.context import Info
from schema.errors import (
    AlreadyExists,
    Forbidden,
    GuardFailed,
    InvalidTransition,
    NotFound,
    ValidationError,
    to_error,
)
from services.read_model import get_snapshot
from workflows.engine.common import CHANGE_OWNER
from workflows.engine.errors import Rejection
from workflows.engine.spec import Role
from workflows.engine.types import TransitionResult
from workflows.registry import SPECS


@strawberry.type(description="The transition applied and the lifecycle as the read model now has it.")
class LifecycleChanged:
    lifecycle: GenericLifecycle
    transition: Transition
    projected: bool = projected_field()


LifecycleResult = Annotated[
    LifecycleChanged | NotFound | AlreadyExists | InvalidTransition | GuardFailed | ValidationError | Forbidden,
    strawberry.union("LifecycleResult"),
]
LifecycleLookup = Annotated[GenericLifecycle | NotFound, strawberry.union("LifecycleLookup")]
MachineLookup = Annotated[LifecycleMachine | NotFound, strawberry.union("MachineLookup")]


@strawberry.input
class ReassignLifecycleInput:
    kind: str
    id: strawberry.ID
    new_owner: str
    reason: str | None = None
    idempotency_key: str | None = None


def _changed(outcome: Any) -> Any:
    if isinstance(outcome, TransitionResult):
        return LifecycleChanged(
            lifecycle=GenericLifecycle(snapshot=outcome.snapshot),
            transition=Transition.of(outcome.transition),
            projected=outcome.projected,
        )
    return outcome


@strawberry.type
class LifecycleQuery:
    @strawberry.field(description="Any lifecycle by kind and id, with its data as JSON.")
    async def lifecycle(self, info: Info, kind: str, id: strawberry.ID) -> LifecycleLookup:
        if kind not in SPECS:
            return NotFound(message=f"There is no lifecycle kind {kind!r}; there are: {', '.join(SPECS)}.")
        async with info.context.sessions() as session:
            snapshot = await get_snapshot(session, kind, id)
        if snapshot is None:
            return NotFound(message=f"There is no {kind} {id!r}.")
        return GenericLifecycle(snapshot=snapshot)

    @strawberry.field(description="Every lifecycle kind the service runs, as machines.")
    def lifecycle_machines(self) -> list[LifecycleMachine]:
        return [LifecycleMachine(spec=spec) for spec in SPECS.values()]

    @strawberry.field(description="One lifecycle kind's machine: states, transitions, guards, timers.")
    def lifecycle_machine(self, kind: str) -> MachineLookup:
        spec = SPECS.get(kind)
        if spec is None:
            return NotFound(message=f"There is no lifecycle kind {kind!r}; there are: {', '.join(SPECS)}.")
        return LifecycleMachine(spec=spec)


@strawberry.type
class LifecycleMutation:
    @strawberry.mutation(description="Give any lifecycle a new owner, with a reason.")
    async def reassign_lifecycle(self, info: Info, input: ReassignLifecycleInput) -> LifecycleResult:
        try:
            info.context.require(Role.OPERATOR, "Reassigning a lifecycle")
        except Rejection as rejection:
            return to_error(rejection)
        if input.kind not in SPECS:
            return NotFound(message=f"There is no lifecycle kind {input.kind!r}.")
        return _changed(
            await fire(
                info,
                input.kind,
                input.id,
                CHANGE_OWNER,
                {"new_owner": input.new_owner},
                reason=input.reason,
                idempotency_key=input.idempotency_key,
            )
        )
