"""The one door to lifecycles: open one, fire a trigger, ask a workflow.

Both the GraphQL API and the effect dispatcher (a won deal opening its renewal) go
through ``LifecycleGateway``. It validates a new lifecycle with the spec's own code
before starting its workflow, sends transitions as Temporal updates carrying the
caller's idempotency key (``workflows/engine/idempotency.py``), and turns Temporal's failures into the typed
``Rejection``s of ``workflows.engine.errors``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection, Iterator
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
from workflows.engine import idempotency
from workflows.engine.errors import (
    REJECTIONS,
    AlreadyExists,
    Forbidden,
    InvalidTransition,
    NotFound,
    Rejection,
    ValidationError,
)
from workflows.engine.instance import OPEN_TRIGGER, LifecycleInstance, require_role, stored_data
from workflows.engine.spec import Role
from workflows.engine.types import (
    OMITTABLE_PARTS,
    LifecycleInput,
    LifecycleSnapshot,
    TransitionRequest,
    TransitionResult,
    workflow_id_for,
)
from workflows.engine.values import request_field_errors
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


class RateLimited(Exception):
    """Temporal refused the call for load (RESOURCE_EXHAUSTED): retry later, with the same key."""


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
            workflow_class = self._workflow(kind)
            spec = SPECS[kind]
            _check_request(entity_id, reason, None)
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
                            data=stored_data(data_obj),
                            policy=policy_obj.model_dump(mode="json"),
                            actor=principal.actor,
                            reason=reason,
                            initial_state=state,
                            opened_at=now,
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
            except RPCError as exc:
                raise rpc_failure(exc, kind, entity_id) from None
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
        system_key: str | None = None,
        answer_omits: Collection[str] = (),
    ) -> TransitionResult:
        """Fire a trigger; the answer comes once the change is in the read model.

        ``idempotency_key`` is a caller's (the API's clients); ``system_key`` is one the
        service makes for itself, kept in a namespace callers may not use.
        ``answer_omits``: the snapshot parts (``OMITTABLE_PARTS``) the caller will not read.
        """
        # Before anything is observed or read: a caller without the role learns nothing.
        require_role(SPECS.get(kind), trigger, principal.role)
        with self._observed(kind, entity_id, trigger, principal):
            if idempotency_key is not None and idempotency_key.startswith(idempotency.SYSTEM_KEY_PREFIX):
                raise ValidationError(
                    "This idempotency key is reserved.",
                    fields=[
                        {
                            "field": "idempotency_key",
                            "message": f"may not start with {idempotency.SYSTEM_KEY_PREFIX!r}: "
                            "the service keeps those keys for itself",
                        }
                    ],
                )
            if system_key is not None:
                key = f"{idempotency.SYSTEM_KEY_PREFIX}{system_key}"
            else:
                key = idempotency_key or str(uuid.uuid4())
            workflow_class = self._workflow(kind)
            _check_request(entity_id, reason, key)
            handle = self.client.get_workflow_handle(workflow_id_for(kind, entity_id))
            facts = await gather(self.sessions, kind, entity_id, [trigger]) if self.sessions else {}
            request = TransitionRequest(
                facts=facts,
                trigger=trigger,
                params=params or {},
                actor=principal.actor,
                role=principal.role,
                reason=reason,
                idempotency_key=key,
                answer_omits=[part for part in OMITTABLE_PARTS if part in answer_omits],
            )
            # The fingerprint of the request as the workflow will see it (after the round
            # trip through JSON), so the same request always makes the same update id.
            sent = request.model_dump(mode="json")
            fingerprint = idempotency.fingerprint(trigger, sent["params"], reason)
            try:
                async with asyncio.timeout(self.settings.temporal_rpc_timeout_seconds):
                    result = await handle.execute_update(
                        workflow_class.transition,
                        request,
                        id=idempotency.update_id(principal.actor, key, fingerprint),
                    )
                    missing = [part for part in result.omitted if part not in request.answer_omits]
                    if not missing:
                        return result
                    # The update id answered an earlier request under this key that read less
                    # (a retry): the parts this caller reads come from the workflow itself.
                    current = await handle.query(workflow_class.snapshot)
                    snapshot = result.snapshot.model_copy(update={part: getattr(current, part) for part in missing})
                    still_omitted = [part for part in result.omitted if part not in missing]
                    return result.model_copy(update={"snapshot": snapshot, "omitted": still_omitted})
            except WorkflowUpdateFailedError as exc:
                raise _rejection(exc.cause) from None
            except RPCError as exc:
                raise rpc_failure(exc, kind, entity_id) from None
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
            raise rpc_failure(exc, kind, entity_id) from None


def _check_request(entity_id: str, reason: str | None, idempotency_key: str | None) -> None:
    """Whoever asks (the API checked a client's tighter bounds already), nothing the read
    model's columns cannot hold goes to Temporal: it would be recorded for good, and its
    projection refused by PostgreSQL."""
    errors = request_field_errors(entity_id, reason, idempotency_key, from_client=False)
    if errors:
        raise ValidationError("The request is invalid.", fields=errors)


def _rejection(cause: BaseException | None) -> Exception:
    if isinstance(cause, ApplicationError) and cause.type in REJECTIONS:
        details = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
        details = {k: v for k, v in details.items() if k != "message"}
        return REJECTIONS[cause.type](cause.message, **details)
    return cause if isinstance(cause, Exception) else RuntimeError("update failed")


# Temporal's refusals that retrying cannot fix: the request itself is wrong.
_INVALID_REQUEST = (RPCStatusCode.INVALID_ARGUMENT, RPCStatusCode.OUT_OF_RANGE, RPCStatusCode.FAILED_PRECONDITION)
# gRPC reports a message over its size limit as RESOURCE_EXHAUSTED, like a rate limit.
_TOO_LARGE_HINTS = ("larger than max", "exceeds limit", "size limit", "too large")


def rpc_failure(exc: RPCError, kind: str, entity_id: str) -> Exception:
    """What a Temporal RPC failure means for the caller, by its status.

    Only "unavailable" and "deadline exceeded" say "retry the same request later";
    a refused argument or an oversized payload is the request's fault and answers
    ValidationError, a rate limit answers ``RateLimited``. Anything else is unexpected
    and stays an ``RPCError`` (an internal error, logged).
    """
    status = exc.status
    message = exc.message
    if status == RPCStatusCode.NOT_FOUND:
        if "not found" in message.lower() and "workflow" in message.lower():
            return NotFound(f"There is no {kind} {entity_id!r}.")
        # The workflow exists but has completed: nothing may happen to it any more.
        return InvalidTransition(f"The {kind} {entity_id!r} has ended.", state=None, allowed=[])
    too_large = any(hint in message.lower() for hint in _TOO_LARGE_HINTS)
    if status in _INVALID_REQUEST or (status == RPCStatusCode.RESOURCE_EXHAUSTED and too_large):
        return ValidationError(
            f"Temporal refused the request: {message}", fields=[{"field": "input", "message": message}]
        )
    if status == RPCStatusCode.RESOURCE_EXHAUSTED:
        return RateLimited("Temporal is busy (rate limited); retry later with the same idempotency key.")
    if status == RPCStatusCode.ALREADY_EXISTS:
        return AlreadyExists(f"The {kind} {entity_id!r} exists already.")
    if status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return Unavailable("Temporal is unavailable; retry with the same idempotency key to apply a change once.")
    return exc


__all__ = ["LifecycleGateway", "Principal", "RateLimited", "Rejection", "Unavailable"]
