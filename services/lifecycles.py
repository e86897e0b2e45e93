"""The one door to lifecycles: open one, fire a trigger, ask a workflow.

Both the GraphQL API and the effect dispatcher (a won deal opening its renewal) go
through ``LifecycleGateway``. It validates a new lifecycle with the spec's own code
before starting its workflow, sends transitions as Temporal updates whose id is the
request's idempotency key, and turns Temporal's failures into the typed
``Rejection``s of ``workflows.engine.errors``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.db import Sessions
from services.facts import gather
from services.logs import note
from services.metrics import TransitionMetrics
from services.settings import Settings
from workflows.engine.errors import REJECTIONS, AlreadyExists, Forbidden, InvalidTransition, NotFound, Rejection
from workflows.engine.instance import OPEN_TRIGGER, LifecycleInstance
from workflows.engine.spec import Role
from workflows.engine.types import (
    AllowedTransition,
    LifecycleInput,
    LifecycleSnapshot,
    TransitionRecord,
    TransitionRequest,
    TransitionResult,
    workflow_id_for,
)
from workflows.engine.visibility import search_attributes
from workflows.engine.workflow import LifecycleWorkflow
from workflows.registry import SPECS, WORKFLOWS


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: the actor recorded on every transition they make."""

    actor: str
    role: Role


class Unavailable(Exception):
    """Temporal did not answer in time. With an idempotency key, retrying is safe."""


class LifecycleGateway:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        sessions: Sessions | None = None,
        *,
        transitions: TransitionMetrics | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        # The read model, for the facts some guards need (services/facts.py).
        self.sessions = sessions
        # Where transitions are counted by kind, trigger and outcome (the API's or the worker's).
        self.transitions = transitions

    @contextmanager
    def _observed(self, kind: str, entity_id: str, trigger: str, principal: Principal) -> Iterator[None]:
        """The request's remaining log lines name the lifecycle and the actor; the outcome is counted."""
        note(workflow_id=workflow_id_for(kind, entity_id), kind=kind, actor=principal.actor)
        if self.transitions is None:
            yield
        else:
            with self.transitions.observe(kind, trigger):
                yield

    def _workflow(self, kind: str) -> type[LifecycleWorkflow]:
        try:
            return WORKFLOWS[kind]
        except KeyError:
            raise NotFound(f"There is no lifecycle kind {kind!r}.") from None

    async def open(
        self,
        kind: str,
        entity_id: str,
        data: dict[str, Any],
        *,
        principal: Principal,
        policy: dict[str, Any] | None = None,
        initial_state: str | None = None,
        reason: str | None = None,
    ) -> TransitionResult:
        """Start a lifecycle and answer once the read model has it."""
        with self._observed(kind, entity_id, OPEN_TRIGGER, principal):
            return await self._open(
                kind, entity_id, data, principal=principal, policy=policy, initial_state=initial_state, reason=reason
            )

    async def _open(
        self,
        kind: str,
        entity_id: str,
        data: dict[str, Any],
        *,
        principal: Principal,
        policy: dict[str, Any] | None,
        initial_state: str | None,
        reason: str | None,
    ) -> TransitionResult:
        workflow_class = self._workflow(kind)
        spec = SPECS[kind]
        if principal.role < Role.OPERATOR:
            raise Forbidden("Opening a lifecycle needs the operator role.", required_role=Role.OPERATOR.name)
        if policy and principal.role < Role.ADMIN:
            raise Forbidden("Overriding a lifecycle's policy needs the admin role.", required_role=Role.ADMIN.name)
        resolved_policy = self.settings.policy_for(kind, policy)
        now = datetime.now(UTC)
        data_obj, policy_obj = LifecycleInstance.validate_new(spec, data, resolved_policy, now)
        state = LifecycleInstance.entry_state(spec, data_obj, initial_state)
        account = spec.account_of(data_obj)
        workflow_id = workflow_id_for(kind, entity_id)
        try:
            async with asyncio.timeout(self.settings.temporal_rpc_timeout_seconds):
                handle = await self.client.start_workflow(
                    workflow_class.run,
                    LifecycleInput(
                        kind=kind,
                        entity_id=entity_id,
                        data=data_obj.model_dump(mode="json"),
                        policy=policy_obj.model_dump(mode="json"),
                        actor=principal.actor,
                        reason=reason,
                        initial_state=state,
                        max_history_events=self.settings.continue_as_new_after_events,
                    ),
                    id=workflow_id,
                    task_queue=self.settings.task_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    search_attributes=search_attributes(
                        kind, state, spec.owner_of(data_obj), account[0] if account else None, None
                    ),
                    static_summary=f"{spec.title}: {spec.summary_of(data_obj)}"[:200],
                )
                return await handle.execute_update(
                    workflow_class.opened,
                    id="opened",
                )
        except WorkflowAlreadyStartedError:
            raise AlreadyExists(f"{spec.title} {entity_id!r} exists already.") from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            raise Unavailable("Temporal did not answer in time; the lifecycle may have been opened.") from None

    async def transition(
        self,
        kind: str,
        entity_id: str,
        trigger: str,
        params: dict[str, Any] | None = None,
        *,
        principal: Principal,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> TransitionResult:
        """Fire a trigger; the answer comes once the change is in the read model."""
        with self._observed(kind, entity_id, trigger, principal):
            return await self._transition(
                kind, entity_id, trigger, params, principal=principal, reason=reason, idempotency_key=idempotency_key
            )

    async def _transition(
        self,
        kind: str,
        entity_id: str,
        trigger: str,
        params: dict[str, Any] | None,
        *,
        principal: Principal,
        reason: str | None,
        idempotency_key: str | None,
    ) -> TransitionResult:
        workflow_class = self._workflow(kind)
        handle = self.client.get_workflow_handle(workflow_id_for(kind, entity_id))
        facts = await gather(self.sessions, kind, entity_id, [trigger]) if self.sessions else {}
        request = TransitionRequest(
            facts=facts,
            trigger=trigger,
            params=params or {},
            actor=principal.actor,
            role=principal.role,
            reason=reason,
        )
        try:
            async with asyncio.timeout(self.settings.temporal_rpc_timeout_seconds):
                return await handle.execute_update(
                    workflow_class.transition,
                    request,
                    id=idempotency_key or str(uuid.uuid4()),
                )
        except WorkflowUpdateFailedError as exc:
            raise _rejection(exc.cause) from None
        except RPCError as exc:
            raise _rpc_rejection(exc, kind, entity_id) from None
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
            # No worker picked the update up in time (or the call was cut): the outcome
            # is unknown, and the same key makes a retry safe.
            raise Unavailable(
                "Temporal did not answer in time; retry with the same idempotency key to apply it once."
            ) from None

    async def snapshot(self, kind: str, entity_id: str) -> LifecycleSnapshot:
        """The workflow's own view (the read model may lag it by one projection)."""
        workflow_class = self._workflow(kind)
        handle = self.client.get_workflow_handle(workflow_id_for(kind, entity_id))
        try:
            return await handle.query(workflow_class.snapshot)
        except RPCError as exc:
            raise _rpc_rejection(exc, kind, entity_id) from None

    async def history(self, kind: str, entity_id: str) -> list[TransitionRecord]:
        workflow_class = self._workflow(kind)
        handle = self.client.get_workflow_handle(workflow_id_for(kind, entity_id))
        try:
            return await handle.query(workflow_class.history)
        except RPCError as exc:
            raise _rpc_rejection(exc, kind, entity_id) from None

    async def allowed_transitions(self, kind: str, entity_id: str) -> list[AllowedTransition]:
        workflow_class = self._workflow(kind)
        handle = self.client.get_workflow_handle(workflow_id_for(kind, entity_id))
        try:
            return await handle.query(workflow_class.allowed_transitions)
        except RPCError as exc:
            raise _rpc_rejection(exc, kind, entity_id) from None


def _rejection(cause: BaseException | None) -> Exception:
    if isinstance(cause, ApplicationError) and cause.type in REJECTIONS:
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        details = {k: v for k, v in details.items() if k != "message"}
        return REJECTIONS[cause.type](cause.message, **details)
    return cause if isinstance(cause, Exception) else RuntimeError("update failed")


def _rpc_rejection(exc: RPCError, kind: str, entity_id: str) -> Exception:
    if exc.status == RPCStatusCode.NOT_FOUND:
        if "not found" in exc.message.lower() and "workflow" in exc.message.lower():
            return NotFound(f"There is no {kind} {entity_id!r}.")
        # The workflow exists but has completed: nothing may happen to it any more.
        return InvalidTransition(f"The {kind} {entity_id!r} has ended.", state=None, allowed=[])
    return exc


__all__ = ["LifecycleGateway", "Principal", "Rejection", "Unavailable"]
