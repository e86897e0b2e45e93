"""The generic Temporal workflow that runs any lifecycle spec.

A lifecycle's workflow class is made from its spec, named after its title (Temporal
wants ``@workflow.run`` on a concrete class, and the type name in every history):

    OpportunityWorkflow = lifecycle_workflow(OPPORTUNITY)  # the "Opportunity" workflow

What the base class does:
- ``transition`` is a workflow Update; its validator asks the engine, so a trigger
  not allowed now, a failing guard, bad parameters or a role too low are rejected
  before anything is written to the workflow history;
- an idempotency key belongs to its caller and to one request: the workflow remembers
  (actor, key) with the request's fingerprint, so a retry, even after continue-as-new,
  answers with the transition it applied, and the same key with a different request
  is refused (``workflows/engine/idempotency.py``);
- each change is written to the read model by a local activity before the update
  answers (read-your-writes, one server round trip); if the database does not answer
  in time the change stays applied and a regular activity retries the projection;
- timers are durable: the main loop sleeps until the earliest armed deadline, fires
  it as the ``timer`` actor, and re-arms from the new state;
- effects go to the outbox with the projection and are then delivered by a regular
  activity with retries, one at a time, in order;
- search attributes and the workflow's current details follow every change;
- the run continues as new before its event history grows large, carrying the
  whole ``LifecycleState``; it completes once the lifecycle is terminal and nothing
  is left to fire, write or deliver.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError, FailureError

from workflows.engine import idempotency
from workflows.engine.errors import IdempotencyKeyReused, Rejection
from workflows.engine.instance import ENGINE_PATCHES, SKIP_SUPERSEDED_NOTICES, Decision, LifecycleInstance
from workflows.engine.spec import LifecycleSpec
from workflows.engine.types import (
    AllowedTransition,
    AppliedKey,
    Deadline,
    DeliverEffectInput,
    LifecycleInput,
    LifecycleSnapshot,
    ProjectionBatch,
    TransitionRecord,
    TransitionRequest,
    TransitionResult,
)
from workflows.engine.visibility import LIFECYCLE_ACCOUNT, LIFECYCLE_OWNER, LIFECYCLE_STATE, NEXT_DEADLINE

PROJECT_ACTIVITY = "project_lifecycle"
# Runs started since this patch keep their armed timer while the earliest deadline stays
# where it was, instead of cancelling and starting it again after every change.
KEEP_ARMED_TIMER_PATCH = "engine-keep-armed-timer"
# Runs started since this patch remember idempotency keys per caller with the request's
# fingerprint; older runs keep using the update id as the key until they continue as new.
SCOPED_KEYS_PATCH = "engine-caller-scoped-idempotency-keys"
# Runs started since this patch record one marker for every patch declared before it
# (below) instead of one each: a patch marker also makes the SDK upsert the
# TemporalChangeVersion search attribute, so five patches cost a new run ten history
# events, which every replay of an evicted workflow reads and applies again.
PATCH_BASELINE = "engine-patch-baseline-1"
# Never add to this set: a patch declared after the baseline is asked on its own.
PATCHES_IN_BASELINE = frozenset(
    {
        KEEP_ARMED_TIMER_PATCH,
        SCOPED_KEYS_PATCH,
        SKIP_SUPERSEDED_NOTICES,
        "open-contract-renewal",
        "open-onboarding",
    }
)
DELIVER_ACTIVITY = "deliver_effect"

# The projection inside an update must not hold the caller for long: after this the
# update answers (projected=False) and a regular activity keeps retrying.
LOCAL_PROJECTION_TIMEOUT = timedelta(seconds=10)
# One attempt in the update: a failure goes to the backlog loop, which retries as a
# regular activity. (Retrying local activities also trips a stale start-to-close timer
# in sdk-core, temporalio/sdk-rust#1454, which panics a background task.)
LOCAL_PROJECTION_RETRY = RetryPolicy(maximum_attempts=1)
BACKLOG_PROJECTION_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
# Longer than one channel's send (webhooks and SMTP time out after 10 s by default).
DELIVERY_HEARTBEAT_TIMEOUT = timedelta(seconds=15)
DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    maximum_attempts=25,
    non_retryable_error_types=["PermanentDeliveryError"],
)


def _patched_since_baseline(patch_id: str) -> bool:
    """``workflow.patched`` in a run that recorded the baseline: its patches without a marker each."""
    return patch_id in PATCHES_IN_BASELINE or workflow.patched(patch_id)


def _update_id() -> str:
    """The running update's id: the request's idempotency key."""
    info = workflow.current_update_info()
    assert info is not None, "called from an update handler or validator"
    return info.id


class LifecycleWorkflow:
    spec: ClassVar[LifecycleSpec]

    @workflow.init
    def __init__(self, input: LifecycleInput) -> None:
        self._open_error: Rejection | None = None
        self._max_history_events = input.max_history_events
        self._wake = False
        self._draining = False
        self._projection_backlog = False
        self._background_busy = 0
        self._published: dict[str, object] = {}
        # update id -> the decision its validator made, for its handler.
        self._validated: dict[str, Decision] = {}
        now = input.opened_at or workflow.now()
        # Asked once per run, before anything else: a run started before a patch keeps
        # the old behaviour throughout, and takes the new one when it continues as new.
        # Runs older than the baseline replay the markers they recorded, one per patch.
        patched = _patched_since_baseline if workflow.patched(PATCH_BASELINE) else workflow.patched
        patches = frozenset(p for p in self.spec.patches if patched(p))
        self._keep_armed_timer = patched(KEEP_ARMED_TIMER_PATCH)
        self._scoped_keys = patched(SCOPED_KEYS_PATCH)
        patches |= {p for p in ENGINE_PATCHES if patched(p)}
        self._timer: asyncio.Task[None] | None = None
        self._armed_for: datetime | None = None
        if input.state is not None:
            self._instance = LifecycleInstance(self.spec, input.state, patches)
        else:
            try:
                self._instance = LifecycleInstance.open(
                    self.spec,
                    input.entity_id,
                    input.data,
                    input.policy,
                    now,
                    actor=input.actor,
                    reason=input.reason,
                    initial_state=input.initial_state,
                    patches=patches,
                )
            except Rejection as exc:
                # The API validates with the same code before starting; reaching this
                # means a caller bypassed it. Fail the run rather than loop on it.
                self._open_error = exc

    async def run(self, input: LifecycleInput) -> LifecycleSnapshot:
        """The workflow's run: ``lifecycle_workflow`` declares it, with ``@workflow.run``, on each kind's class."""
        raise NotImplementedError(f"{type(self).__name__} is not made by lifecycle_workflow")

    async def run_lifecycle(self, input: LifecycleInput) -> LifecycleSnapshot:
        if self._open_error is not None:
            raise ApplicationError(
                self._open_error.message, self._open_error.as_details(), type=self._open_error.type, non_retryable=True
            )
        self._publish()
        background = [
            asyncio.create_task(self._projection_retry_loop()),
            asyncio.create_task(self._delivery_loop()),
        ]
        await self._project()
        while True:
            while (due := self._instance.next_due_timer(workflow.now())) is not None:
                timer, at = due
                self._instance.fire_timer(timer, at, workflow.now())
                self._publish()
                await self._project()
            if self._finished():
                break
            if self._should_continue_as_new():
                await self._drain()
                self._arm(None)
                for task in background:
                    task.cancel()
                workflow.continue_as_new(
                    LifecycleInput(
                        kind=self.spec.kind,
                        entity_id=self._instance.core.entity_id,
                        state=self._instance.core,
                        max_history_events=self._max_history_events,
                    )
                )
            self._wake = False
            deadlines = self._instance.deadlines(workflow.now())
            if self._keep_armed_timer:
                self._arm(deadlines[0] if deadlines else None)
                await workflow.wait_condition(lambda: self._wake or self._timer_fired())
                continue
            timeout = (deadlines[0].due_at - workflow.now()) if deadlines else None
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._wake,
                    timeout=max(timeout, timedelta(0)) if timeout is not None else None,
                    timeout_summary=deadlines[0].description if deadlines else None,
                )
        self._arm(None)
        await workflow.wait_condition(workflow.all_handlers_finished)
        for task in background:
            task.cancel()
        return self._instance.snapshot(workflow.now())

    def _arm(self, deadline: Deadline | None) -> None:
        """Keep one durable timer on the earliest deadline; replace it only when that moment moves."""
        due_at = deadline.due_at if deadline is not None else None
        if due_at == self._armed_for and (self._timer is None or not self._timer.done()):
            return
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._timer, self._armed_for = None, due_at
        if deadline is not None:
            delay = max(deadline.due_at - workflow.now(), timedelta(0))
            self._timer = asyncio.create_task(workflow.sleep(delay, summary=deadline.description))

    def _timer_fired(self) -> bool:
        return self._timer is not None and self._timer.done()

    def _finished(self) -> bool:
        return (
            self._instance.terminal
            and not self._instance.deadlines(workflow.now())
            and not self._instance.projection_pending
            and not self._instance.core.undelivered_effects
            and workflow.all_handlers_finished()
        )

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        if self._max_history_events is not None:
            return info.get_current_history_length() >= self._max_history_events
        return info.is_continue_as_new_suggested()

    async def _drain(self) -> None:
        self._draining = True
        await workflow.wait_condition(lambda: workflow.all_handlers_finished() and self._background_busy == 0)

    # ---- commands ------------------------------------------------------------------

    @workflow.update
    async def transition(self, request: TransitionRequest) -> TransitionResult:
        try:
            prior = self._prior(request)
        except Rejection as exc:
            raise ApplicationError(exc.message, exc.as_details(), type=exc.type, non_retryable=True) from None
        if prior is not None:
            return self._result(prior, not self._instance.projection_pending).without(request.answer_omits)
        now = workflow.now()
        decision = self._validated.pop(_update_id(), None)
        if decision is None or decision.context.seq != self._instance.core.seq or decision.context.now != now:
            # Replaying (validators do not run then), or the state moved since validating.
            try:
                decision = self._decide(request, now)
            except Rejection as exc:
                raise ApplicationError(exc.message, exc.as_details(), type=exc.type, non_retryable=True) from None
        key = self._caller_key(request)
        if key is None:
            record = self._instance.apply(decision, now, idempotency_key=_update_id())
        else:
            record = self._instance.apply(decision, now, idempotency_key=key, remember_key=False)
            idempotency.remember(
                self._instance.core,
                request.actor,
                key,
                AppliedKey(seq=record.seq, trigger=record.trigger, fingerprint=self._fingerprint(request)),
            )
        # One snapshot for the search attributes, the projection and the answer: the
        # answer shows the lifecycle as this transition left it, as the read model has it.
        snapshot = self._instance.snapshot(now)
        self._publish(snapshot)
        self._wake = True
        projected = await self._project(snapshot)
        return TransitionResult(transition=record, snapshot=snapshot, projected=projected).without(request.answer_omits)

    @transition.validator
    def _validate_transition(self, request: TransitionRequest) -> None:
        try:
            if self._prior(request) is not None:
                return
            # Kept for the handler, which runs right after in the same activation: the
            # decision is made once. Nothing else depends on it, so a replay (which runs
            # no validator) decides in the handler and takes the same path.
            self._validated[_update_id()] = self._decide(request, workflow.now())
        except Rejection as exc:
            raise ApplicationError(exc.message, exc.as_details(), type=exc.type, non_retryable=True) from None

    def _decide(self, request: TransitionRequest, now: datetime) -> Decision:
        return self._instance.decide(
            request.trigger,
            request.params,
            actor=request.actor,
            role=request.role,
            reason=request.reason,
            now=now,
            facts=request.facts,
        )

    def _caller_key(self, request: TransitionRequest) -> str | None:
        """The caller's own key, in runs that scope keys to callers (None: the update id is the key)."""
        return request.idempotency_key if self._scoped_keys else None

    @staticmethod
    def _fingerprint(request: TransitionRequest) -> str:
        return idempotency.fingerprint(request.trigger, request.params, request.reason)

    def _prior(self, request: TransitionRequest) -> TransitionRecord | None:
        """The transition this request's key applied already; a different request under it is refused."""
        key = self._caller_key(request)
        if key is None:
            return self._instance.applied(_update_id())
        applied = idempotency.recall(self._instance.core, request.actor, key)
        if applied is None:
            return None
        if applied.fingerprint != self._fingerprint(request):
            raise IdempotencyKeyReused(
                f"The idempotency key {key!r} was used for {applied.trigger!r} (seq {applied.seq}) with other "
                "input; nothing was changed. Use a new key for a new request.",
                idempotency_key=key,
                original_trigger=applied.trigger,
                original_seq=applied.seq,
            )
        return self._instance.record_of(applied.seq, key)

    @workflow.update
    async def opened(self) -> TransitionResult:
        """Answer once the opening is in the read model: the API's read-your-writes on start."""
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._instance.core.projected_seq >= 1, timeout=LOCAL_PROJECTION_TIMEOUT
            )
        first = next((r for r in self._instance.core.history if r.seq == 1), None)
        if first is None:
            first = self._instance.core.history[0]
        return self._result(first, projected=self._instance.core.projected_seq >= 1)

    def _result(self, record: TransitionRecord, projected: bool) -> TransitionResult:
        return TransitionResult(
            transition=record, snapshot=self._instance.snapshot(workflow.now()), projected=projected
        )

    # ---- queries -------------------------------------------------------------------

    @workflow.query
    def snapshot(self) -> LifecycleSnapshot:
        return self._instance.snapshot(workflow.now())

    @workflow.query
    def history(self) -> list[TransitionRecord]:
        """The transitions this workflow still holds (the read model holds every one)."""
        return list(self._instance.core.history)

    @workflow.query
    def allowed_transitions(self) -> list[AllowedTransition]:
        return self._instance.describe(workflow.now())

    # ---- projection, delivery, visibility ------------------------------------------

    async def _project(self, snapshot: LifecycleSnapshot | None = None) -> bool:
        """Write what is not in the read model yet (``snapshot``: the current one, if made already)."""
        if not self._instance.projection_pending:
            return True
        batch = self._instance.projection_batch(workflow.now(), snapshot)
        try:
            await workflow.execute_local_activity(
                PROJECT_ACTIVITY,
                batch,
                start_to_close_timeout=timedelta(seconds=5),
                schedule_to_close_timeout=LOCAL_PROJECTION_TIMEOUT,
                retry_policy=LOCAL_PROJECTION_RETRY,
                summary=f"project seq {batch.snapshot.seq}",
            )
        except FailureError:
            # A local activity's failure arrives as its cause (an ApplicationError,
            # a timeout), not wrapped in an ActivityError as a regular one's does.
            self._projection_backlog = True
            return False
        self._instance.mark_projected(batch)
        self._wake = True
        return True

    async def _projection_retry_loop(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._projection_backlog and not self._draining)
            batch: ProjectionBatch = self._instance.projection_batch(workflow.now())
            self._background_busy += 1
            try:
                await workflow.execute_activity(
                    PROJECT_ACTIVITY,
                    batch,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=BACKLOG_PROJECTION_RETRY,
                    summary=f"project seq {batch.snapshot.seq} (retry)",
                )
                self._instance.mark_projected(batch)
                self._projection_backlog = self._instance.projection_pending
            finally:
                self._background_busy -= 1
                self._wake = True

    async def _delivery_loop(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._instance.deliverable_effects()) and not self._draining)
            effect_id = self._instance.deliverable_effects()[0]
            self._background_busy += 1
            try:
                await workflow.execute_activity(
                    DELIVER_ACTIVITY,
                    DeliverEffectInput(effect_id=effect_id),
                    start_to_close_timeout=timedelta(minutes=2),
                    heartbeat_timeout=DELIVERY_HEARTBEAT_TIMEOUT,
                    retry_policy=DELIVERY_RETRY,
                    summary=f"deliver {effect_id}",
                )
            except FailureError:
                # Retries are exhausted or the failure is permanent; the activity has
                # recorded the error on the outbox row, where operators see it.
                workflow.logger.warning("effect %s could not be delivered", effect_id)
            finally:
                self._background_busy -= 1
            self._instance.mark_delivered(effect_id)
            self._wake = True

    def _publish(self, snapshot: LifecycleSnapshot | None = None) -> None:
        snap = snapshot or self._instance.snapshot(workflow.now())
        wanted: dict[str, object] = {
            "state": snap.state,
            "owner": snap.owner,
            "account": snap.account_id,
            "deadline": snap.next_deadline,
        }
        if wanted == self._published:
            return
        updates: list[SearchAttributeUpdate[Any]] = [LIFECYCLE_STATE.value_set(snap.state)]
        updates.append(LIFECYCLE_OWNER.value_set(snap.owner) if snap.owner else LIFECYCLE_OWNER.value_unset())
        updates.append(
            LIFECYCLE_ACCOUNT.value_set(snap.account_id) if snap.account_id else LIFECYCLE_ACCOUNT.value_unset()
        )
        updates.append(
            NEXT_DEADLINE.value_set(snap.next_deadline) if snap.next_deadline else NEXT_DEADLINE.value_unset()
        )
        workflow.upsert_search_attributes(updates)
        self._published = wanted
        next_line = (
            f"**Next:** {snap.deadlines[0].description} at {snap.deadlines[0].due_at.isoformat()}"
            if snap.deadlines
            else "**Next:** nothing scheduled"
        )
        workflow.set_current_details(
            f"**{self.spec.title}** {snap.summary}\n\n**State:** {snap.state} (seq {snap.seq})\n\n"
            f"**Owner:** {snap.owner or '-'}\n\n{next_line}"
        )


def lifecycle_workflow(spec: LifecycleSpec[Any, Any]) -> type[LifecycleWorkflow]:
    """The Temporal workflow running ``spec``, named after its title ("Late payment" runs as
    ``LatePayment``), in the module that declares the spec's data model."""
    name = "".join(word[:1].upper() + word[1:] for word in spec.title.split())

    async def run(self: LifecycleWorkflow, input: LifecycleInput) -> LifecycleSnapshot:
        return await self.run_lifecycle(input)

    module = spec.data_model.__module__
    namespace = {"spec": spec, "__module__": module, "__qualname__": f"{name}Workflow"}
    # Temporal wants the run method declared on the class itself, in the class's module,
    # taking what ``__init__`` takes, annotated alike (``self`` is not).
    run.__qualname__, run.__module__ = f"{name}Workflow.run", module
    del run.__annotations__["self"]
    namespace["run"] = workflow.run(run)
    return workflow.defn(name=name)(type(f"{name}Workflow", (LifecycleWorkflow,), namespace))
