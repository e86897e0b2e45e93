"""The engine: one lifecycle instance executing its spec, with no I/O and no clock.

``LifecycleInstance`` decides whether a request may fire (the update validator calls
``decide``), applies it (the update handler calls ``apply``), reports the timers due
and the deadlines ahead, and describes what is allowed now. The workflow supplies the
time (``workflow.now()``); the API reuses the same code on a read-model snapshot to
describe an instance without loading its workflow.

The ``transitions`` library carries the machine: one ``Machine`` per spec, built once
per process (``SpecMachine``), whose transitions hold each spec transition's selector
(``when``), input checks and guards as conditions and its data change as the ``before``
callback. An instance joins it as a model in its current state for as long as one
decision or change takes: ``may_trigger`` answers whether a request may fire, and
``trigger`` applies it. When the answer is no, the engine asks the same functions what
is unmet, to refuse with reasons a person can act on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from itertools import islice, takewhile
from typing import Any, ClassVar, NoReturn

import pydantic
from pydantic import BaseModel
from transitions import EventData, Machine

from workflows.engine.errors import Forbidden, GuardFailed, InvalidTransition, ValidationError, field_errors
from workflows.engine.idempotency import KEYS_KEPT
from workflows.engine.spec import TIMER_ACTOR, Context, EffectSpec, LifecycleSpec, Role, TimerSpec, TransitionSpec
from workflows.engine.types import (
    AllowedTransition,
    Deadline,
    EffectRecord,
    LifecycleSnapshot,
    LifecycleState,
    ProjectionBatch,
    TimerFiring,
    TransitionRecord,
    workflow_id_for,
)

# The workflow keeps this many transitions; the read model keeps them all.
HISTORY_KEPT = 500
# Engine behaviour changes that running workflows take only when they continue as new
# (the workflow asks ``workflow.patched`` for each once per run, after the spec's own).
SKIP_SUPERSEDED_NOTICES = "engine-skip-superseded-notices"
ENGINE_PATCHES = (SKIP_SUPERSEDED_NOTICES,)
OPEN_TRIGGER = "open"


def stored_data(data: BaseModel) -> dict[str, Any]:
    """A data model as state, snapshots and payloads carry it: its fields only. Derived
    fields (``@computed_property``) are computed again wherever the model is parsed, so
    carrying them would only add bytes to every update, projection and history."""
    return data.model_dump(mode="json", exclude_computed_fields=True)


@dataclass
class Decision:
    transition: TransitionSpec
    params: BaseModel | None
    context: Context[Any, Any]


@dataclass
class _Request:
    """What the machine's conditions and callbacks see of one request (``trigger``'s kwargs)."""

    ctx: Context[Any, Any]
    # The data the ``before`` callback changes: a copy, kept only if the transition completes.
    change: Context[Any, Any] | None = None
    chosen: list[TransitionSpec[Any, Any]] = field(default_factory=list)


class _Model:
    """An instance as the machine sees it: its state, and the methods the machine binds."""

    state: str
    trigger: Callable[..., bool]
    may_trigger: Callable[..., bool]


def _request(event: EventData) -> _Request:
    request: _Request = event.kwargs["request"]
    return request


def _selects(t: TransitionSpec[Any, Any], event: EventData) -> bool:
    return t.when is None or t.when(_request(event).ctx)


def _valid(t: TransitionSpec[Any, Any], event: EventData) -> bool:
    return t.validate is None or not t.validate(_request(event).ctx)


def _guards_met(t: TransitionSpec[Any, Any], event: EventData) -> bool:
    ctx = _request(event).ctx
    return not any(g.check(ctx) for g in t.guards)


def _chosen(t: TransitionSpec[Any, Any], event: EventData) -> bool:
    # Last of the conditions: reached only when every other one of ``t`` holds, and the
    # machine takes the first such transition.
    _request(event).chosen.append(t)
    return True


def _apply(t: TransitionSpec[Any, Any], event: EventData) -> None:
    change = _request(event).change
    if t.apply is not None and change is not None:
        t.apply(change)


class SpecMachine:
    """The ``transitions`` machine of one spec, built once per process and shared by its instances."""

    _built: ClassVar[dict[int, SpecMachine]] = {}

    def __init__(self, spec: LifecycleSpec[Any, Any]) -> None:
        self.spec = spec
        every_effect = [
            *(e for t in spec.transitions for e in t.effects),
            *(e for s in spec.states for e in s.on_enter),
            *(e for t in spec.timers for e in t.effects),
        ]
        self.superseded_by_next_step = frozenset(e.name for e in every_effect if e.superseded_by_next_step)
        self.machine = Machine(
            model=None,
            states=[s.name for s in spec.states],
            initial=spec.states[0].name,
            transitions=[
                {
                    "trigger": t.trigger,
                    "source": list(t.sources),
                    "dest": t.dest,
                    "conditions": [partial(f, t) for f in (_selects, _valid, _guards_met, _chosen)],
                    "before": partial(_apply, t),
                }
                for t in spec.transitions
            ],
            auto_transitions=False,
            send_event=True,
        )
        # Joined models not deciding anything now (``joined``).
        self._idle: list[_Model] = []

    @classmethod
    def of(cls, spec: LifecycleSpec[Any, Any]) -> SpecMachine:
        built = cls._built.get(id(spec))
        if built is None or built.spec is not spec:
            built = cls._built[id(spec)] = cls(spec)
        return built

    def triggers(self, state: str) -> list[str]:
        return list(self.machine.get_triggers(state))

    @contextmanager
    def joined(self, state: str) -> Iterator[_Model]:
        """A model in ``state`` for the length of one decision or change.

        A model is kept for the next decision once done: joining binds a method for every
        trigger and state to it, the same each time (~0.1 ms of every transition, measured).
        One model serves one decision at a time; workflows deciding at once each take their own.
        """
        try:
            model = self._idle.pop()
        except IndexError:  # every model is deciding (or none was made yet)
            model = self._join()
        self.machine.set_state(state, model=model)
        try:
            yield model
        finally:
            self._idle.append(model)

    def _join(self) -> _Model:
        model = _Model()
        self.machine.add_model(model, initial=self.spec.states[0].name)
        return model


def require_role(spec: LifecycleSpec[Any, Any] | None, trigger: str, role: Role) -> None:
    """The rule of who may fire ``trigger``, from the roles its transitions declare (an
    unknown kind or trigger needs what any change needs: the operator role).

    The gateway applies it before anything is read (so a caller without the role learns
    nothing, not even whether the kind or the instance exists) and the workflow again in
    its update validator (which trusts no caller): one rule, in one place.
    """
    transitions = spec.transitions if spec is not None else ()
    required = max((t.role for t in transitions if t.trigger == trigger), default=Role.OPERATOR)
    if required is Role.SYSTEM and role is not Role.SYSTEM:
        raise Forbidden(
            f"{trigger!r} is fired by the service itself (timers, other lifecycles), not by callers.",
            required_role=required.name,
        )
    if role < required:
        raise Forbidden(f"{trigger!r} needs the {required.name.lower()} role.", required_role=required.name)


class LifecycleInstance:
    def __init__(
        self,
        spec: LifecycleSpec,
        state: LifecycleState,
        patches: frozenset[str] | None = None,
        *,
        parsed: tuple[BaseModel, BaseModel] | None = None,
    ) -> None:
        """``parsed``: the state's data and policy as models, when the caller has just made them."""
        self.spec = spec
        self.core = state
        # Outside a workflow (the API describing a snapshot, unit tests) every patch applies.
        self.patches = frozenset((*spec.patches, *ENGINE_PATCHES)) if patches is None else patches
        self.data: BaseModel
        self.policy: BaseModel
        if parsed is None:
            self.data = spec.data_model.model_validate(state.data)
            self.policy = spec.policy_model.model_validate(state.policy)
        else:
            self.data, self.policy = parsed
        self.machine = SpecMachine.of(spec)

    # ---- opening -------------------------------------------------------------------

    @staticmethod
    def validate_new(
        spec: LifecycleSpec, data: Mapping[str, Any], policy: Mapping[str, Any], now: datetime
    ) -> tuple[BaseModel, BaseModel]:
        """Parse a new instance's data and policy, raising ValidationError per field."""
        try:
            data_obj = spec.data_model.model_validate(dict(data))
        except pydantic.ValidationError as exc:
            raise ValidationError("The lifecycle's fields are invalid.", fields=field_errors(exc)) from None
        try:
            policy_obj = spec.policy_model.model_validate(dict(policy))
        except pydantic.ValidationError as exc:
            raise ValidationError("The policy is invalid.", fields=field_errors(exc, "policy")) from None
        spec.prepare_open(data_obj, policy_obj, now)
        problems = spec.validate_open(data_obj, policy_obj, now)
        if problems:
            raise ValidationError(
                "The lifecycle's fields are invalid.",
                fields=[{"field": f, "message": m} for f, m in problems.items()],
            )
        return data_obj, policy_obj

    @staticmethod
    def entry_state(spec: LifecycleSpec, data: BaseModel, requested: str | None) -> str:
        if requested is None:
            return spec.initial_state(data)
        allowed = spec.entry_states(data) if spec.entry_states else (spec.initial_state(data),)
        if requested not in allowed:
            raise ValidationError(
                f"A new {spec.title.lower()} cannot start in {requested}.",
                fields=[{"field": "state", "message": f"must be one of {', '.join(allowed)}"}],
            )
        return requested

    @classmethod
    def open(
        cls,
        spec: LifecycleSpec,
        entity_id: str,
        data: Mapping[str, Any],
        policy: Mapping[str, Any],
        now: datetime,
        actor: str,
        reason: str | None = None,
        initial_state: str | None = None,
        patches: frozenset[str] | None = None,
    ) -> LifecycleInstance:
        data_obj, policy_obj = cls.validate_new(spec, data, policy, now)
        state = cls.entry_state(spec, data_obj, initial_state)
        core = LifecycleState(
            kind=spec.kind,
            entity_id=entity_id,
            state=state,
            data=stored_data(data_obj),
            policy=policy_obj.model_dump(mode="json"),
            opened_at=now,
            state_entered_at=now,
            updated_at=now,
        )
        instance = cls(spec, core, patches, parsed=(data_obj, policy_obj))
        ctx = instance.context(now, actor=actor, role=Role.OPERATOR, reason=reason)
        instance._record(
            TransitionRecord(
                seq=1,
                trigger=OPEN_TRIGGER,
                from_state="",
                to_state=state,
                actor=actor,
                reason=reason,
                at=now,
            )
        )
        instance._record_effects(ctx, spec.state(state).on_enter)
        if spec.state(state).terminal:
            core.closed_at = now
        return instance

    # ---- reading -------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self.core.state

    @property
    def workflow_id(self) -> str:
        return workflow_id_for(self.spec.kind, self.core.entity_id)

    @property
    def terminal(self) -> bool:
        return self.spec.state(self.core.state).terminal

    def context(
        self,
        now: datetime,
        *,
        actor: str = "",
        role: Role = Role.VIEWER,
        reason: str | None = None,
        params: Any = None,
        describing: bool = False,
        data: BaseModel | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> Context[Any, Any]:
        return Context(
            kind=self.spec.kind,
            entity_id=self.core.entity_id,
            state=self.core.state,
            data=data if data is not None else self.data,
            policy=self.policy,
            now=now,
            opened_at=self.core.opened_at,
            state_entered_at=self.core.state_entered_at,
            seq=self.core.seq,
            actor=actor,
            role=role,
            reason=reason,
            params=params,
            describing=describing,
            active_patches=self.patches,
            facts=facts or {},
        )

    def snapshot(self, now: datetime) -> LifecycleSnapshot:
        account = self.spec.account_of(self.data)
        deadlines = self.deadlines(now)
        return LifecycleSnapshot(
            kind=self.spec.kind,
            entity_id=self.core.entity_id,
            workflow_id=self.workflow_id,
            state=self.core.state,
            terminal=self.terminal,
            seq=self.core.seq,
            data=self.core.data,
            policy=self.core.policy,
            owner=self.spec.owner_of(self.data),
            account_id=account[0] if account else None,
            account_name=account[1] if account else None,
            summary=self.spec.summary_of(self.data),
            opened_at=self.core.opened_at,
            state_entered_at=self.core.state_entered_at,
            updated_at=self.core.updated_at,
            closed_at=self.core.closed_at,
            deadlines=deadlines,
            next_deadline=deadlines[0].due_at if deadlines else None,
        )

    # ---- deciding ------------------------------------------------------------------

    def _candidates(self, trigger: str) -> list[TransitionSpec]:
        return [t for t in self.spec.transitions if t.trigger == trigger and self.core.state in t.sources]

    def allowed_triggers(self) -> list[str]:
        """Triggers a caller could fire from the current state (timers' own excluded)."""
        system = {t.trigger for t in self.spec.transitions if t.role is Role.SYSTEM}
        return [t for t in self.machine.triggers(self.core.state) if t not in system]

    def decide(
        self,
        trigger: str,
        raw_params: Mapping[str, Any],
        *,
        actor: str,
        role: Role,
        reason: str | None,
        now: datetime,
        facts: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Select the transition a request means, or raise the Rejection explaining why not."""
        if trigger not in self.spec.triggers:
            raise InvalidTransition(
                f"{self.spec.title} has no trigger {trigger!r}.",
                state=self.core.state,
                allowed=self.allowed_triggers(),
            )
        # First, so a caller without the role learns nothing of the instance's state.
        require_role(self.spec, trigger, role)
        candidates = self._candidates(trigger)
        if not candidates:
            raise InvalidTransition(
                f"{trigger!r} is not possible while the {self.spec.title.lower()} is {self.core.state}.",
                state=self.core.state,
                allowed=self.allowed_triggers(),
            )
        params = self._parse_params(trigger, raw_params)
        ctx = self.context(now, actor=actor, role=role, reason=reason, params=params, facts=facts)
        request = _Request(ctx)
        with self.machine.joined(self.core.state) as model:
            if model.may_trigger(trigger, request=request):
                return Decision(transition=request.chosen[0], params=params, context=ctx)
        self._refuse(trigger, candidates, ctx)

    def _refuse(self, trigger: str, candidates: list[TransitionSpec[Any, Any]], ctx: Context[Any, Any]) -> NoReturn:
        """Why the machine will not fire ``trigger``: the same selectors, checks and guards, in words."""
        matching = [t for t in candidates if t.when is None or t.when(ctx)]
        if not matching:
            raise InvalidTransition(
                f"{trigger!r} with these parameters is not possible while the "
                f"{self.spec.title.lower()} is {self.core.state}.",
                state=self.core.state,
                allowed=self.allowed_triggers(),
            )
        transition = matching[0]
        problems = transition.validate(ctx) if transition.validate else {}
        if problems:
            raise ValidationError(
                f"Invalid parameters for {trigger!r}.",
                fields=[{"field": f, "message": m} for f, m in problems.items()],
            )
        unmet = [{"guard": g.name, "message": message} for g in transition.guards for message in g.check(ctx)]
        if not unmet:
            raise RuntimeError(f"the machine refused {trigger!r} but its spec finds nothing unmet")
        raise GuardFailed("; ".join(u["message"] for u in unmet), unmet=unmet)

    def _parse_params(self, trigger: str, raw: Mapping[str, Any]) -> BaseModel | None:
        model = self.spec.params_model(trigger)
        if model is None:
            if raw:
                raise ValidationError(
                    f"{trigger!r} takes no parameters.",
                    fields=[{"field": k, "message": "unexpected parameter"} for k in raw],
                )
            return None
        try:
            return model.model_validate(dict(raw))
        except pydantic.ValidationError as exc:
            raise ValidationError(f"Invalid parameters for {trigger!r}.", fields=field_errors(exc)) from None

    def describe(self, now: datetime, facts: Mapping[str, Any] | None = None) -> list[AllowedTransition]:
        """Every transition leaving the current state, with what keeps it from firing now."""
        out = []
        for t in self.spec.transitions:
            if self.core.state not in t.sources or t.role is Role.SYSTEM:
                continue
            ctx = self.context(now, params=t.probe, describing=True, facts=facts)
            if t.when is not None and t.probe_params is not None and not t.when(ctx):
                continue
            unmet = [m for g in t.guards if not g.on_input for m in g.check(ctx)]
            out.append(
                # Every value is the spec's or the guards' own: built many times a list, unvalidated.
                AllowedTransition.model_construct(
                    trigger=t.trigger,
                    to_state=t.dest,
                    description=t.description,
                    role=t.role,
                    allowed=not unmet,
                    unmet=unmet,
                    params=dict(t.probe_params or {}),
                )
            )
        return out

    # ---- applying ------------------------------------------------------------------

    def apply(
        self, decision: Decision, now: datetime, idempotency_key: str | None = None, *, remember_key: bool = True
    ) -> TransitionRecord:
        t = decision.transition
        ctx = decision.context
        data = self.data.model_copy(deep=True)
        request = _Request(ctx, change=Context(**{**ctx.__dict__, "data": data, "now": now}))
        from_state = self.core.state
        with self.machine.joined(from_state) as model:
            if not model.trigger(t.trigger, request=request) or request.chosen != [t]:
                raise RuntimeError(f"the machine did not take the decided transition {t.trigger!r}")
            to_state = model.state
        self.data = data
        self.core.data = stored_data(data)
        self.core.state = to_state
        record = TransitionRecord(
            seq=self.core.seq + 1,
            trigger=t.trigger,
            from_state=from_state,
            to_state=to_state,
            actor=ctx.actor,
            reason=ctx.reason,
            at=now,
            params=decision.params.model_dump(mode="json", exclude_unset=True) if decision.params else {},
            idempotency_key=idempotency_key,
        )
        self._record(record)
        entered = t.dest is not None
        if entered:
            self.core.state_entered_at = now
            self.core.closed_at = now if self.spec.state(to_state).terminal else None
        after = self.context(now, actor=ctx.actor, role=ctx.role, reason=ctx.reason, params=decision.params)
        self._record_effects(after, t.effects + (self.spec.state(to_state).on_enter if entered else ()))
        if idempotency_key and remember_key:
            self.core.applied_keys[idempotency_key] = record.seq
            if len(self.core.applied_keys) > KEYS_KEPT:
                for key in list(islice(self.core.applied_keys, len(self.core.applied_keys) - KEYS_KEPT)):
                    del self.core.applied_keys[key]
        return record

    def _record(self, record: TransitionRecord) -> None:
        self.core.seq = record.seq
        self.core.updated_at = record.at
        self.core.history.append(record)
        if len(self.core.history) > HISTORY_KEPT:
            dropped = len(self.core.history) - HISTORY_KEPT
            del self.core.history[:dropped]
            self.core.history_dropped += dropped

    def _record_effects(
        self, ctx: Context[Any, Any], effects: tuple[EffectSpec[Any, Any], ...], id_prefix: str = ""
    ) -> None:
        n = 0
        for effect in effects:
            if effect.when is not None and not effect.when(ctx):
                continue
            n += 1
            record = EffectRecord(
                id=f"{self.workflow_id}#{self.core.seq}.{id_prefix}{n}",
                seq=self.core.seq,
                type=effect.type,
                name=effect.name,
                recipients=list(effect.recipients(ctx)),
                payload=dict(effect.build(ctx)),
                at=ctx.now,
            )
            self.core.unprojected_effects.append(record)
            self.core.undelivered_effects.append(record.id)

    def applied(self, idempotency_key: str) -> TransitionRecord | None:
        """The transition a key already applied, if it is still remembered."""
        seq = self.core.applied_keys.get(idempotency_key)
        return None if seq is None else self.record_of(seq, idempotency_key)

    def record_of(self, seq: int, idempotency_key: str) -> TransitionRecord:
        """The transition ``seq`` that a key applied."""
        for record in reversed(self.core.history):
            if record.seq == seq:
                return record
        # Older than the kept history: answer with what is still known about it.
        return TransitionRecord(
            seq=seq,
            trigger="",
            from_state="",
            to_state="",
            actor="",
            at=self.core.updated_at,
            idempotency_key=idempotency_key,
        )

    # ---- timers --------------------------------------------------------------------

    def _timer_due(self, timer: TimerSpec, now: datetime) -> datetime | None:
        if self.core.state not in timer.states:
            return None
        due = timer.due(self.context(now))
        if due is None or self.core.fired_timers.get(timer.name) == due:
            return None
        return due

    def deadlines(self, now: datetime) -> list[Deadline]:
        out = []
        for timer in self.spec.timers:
            due = self._timer_due(timer, now)
            if due is not None:
                out.append(
                    Deadline(timer=timer.name, trigger=timer.trigger or "", due_at=due, description=timer.description)
                )
        out.sort(key=lambda d: d.due_at)
        return out

    def next_due_timer(self, now: datetime) -> tuple[TimerSpec, datetime] | None:
        """The earliest armed timer whose moment has come, if any."""
        due_now = [
            (due, i, timer)
            for i, timer in enumerate(self.spec.timers)
            if (due := self._timer_due(timer, now)) is not None and due <= now
        ]
        if not due_now:
            return None
        due, _, timer = min(due_now, key=lambda x: (x[0], x[1]))
        return timer, due

    def fire_timer(self, timer: TimerSpec[Any, Any], due: datetime, now: datetime) -> TransitionRecord | None:
        """Fire a due timer as the ``timer`` actor: apply its trigger (None if its guards
        refuse), or, for a timer without one, record its effects and change nothing else."""
        self.core.fired_timers[timer.name] = due
        recorded_before = len(self.core.unprojected_effects)
        try:
            record = self._fire_timer(timer, due, now)
        finally:
            self._skip_superseded(self.core.unprojected_effects[recorded_before:], now)
        self.core.unprojected_firings.append(
            TimerFiring(
                timer=timer.name,
                trigger=timer.trigger,
                due_at=due,
                fired_at=now,
                refused=timer.trigger is not None and record is None,
            )
        )
        return record

    def _fire_timer(self, timer: TimerSpec[Any, Any], due: datetime, now: datetime) -> TransitionRecord | None:
        ctx = self.context(now, actor=TIMER_ACTOR, role=Role.SYSTEM, reason=timer.description)
        if timer.trigger is None:
            self._record_effects(ctx, timer.effects, id_prefix=f"{timer.name}@{int(due.timestamp())}.")
            return None
        try:
            decision = self.decide(
                timer.trigger,
                timer.params(ctx),
                actor=TIMER_ACTOR,
                role=Role.SYSTEM,
                reason=timer.description,
                now=now,
            )
        except (InvalidTransition, GuardFailed, ValidationError, Forbidden):
            return None
        record = self.apply(decision, now, idempotency_key=f"timer:{timer.name}@{due.isoformat()}")
        after = self.context(now, actor=TIMER_ACTOR, role=Role.SYSTEM, reason=timer.description, params=decision.params)
        self._record_effects(after, timer.effects, id_prefix=f"{timer.name}.")
        return record

    def _skip_superseded(self, recorded: list[EffectRecord], now: datetime) -> None:
        """Catching up on timers, a notice of the next step is skipped when that step is due as well."""
        if SKIP_SUPERSEDED_NOTICES not in self.patches:
            return
        notices = [e for e in recorded if e.name in self.machine.superseded_by_next_step]
        following = self.next_due_timer(now) if notices else None
        if following is None:
            return
        for notice in notices:
            notice.skipped = f"Superseded: {following[0].description} was due at the same time ({now.isoformat()})."
            self.core.undelivered_effects.remove(notice.id)

    # ---- projection bookkeeping ---------------------------------------------------

    def projection_batch(self, now: datetime, snapshot: LifecycleSnapshot | None = None) -> ProjectionBatch:
        """What the read model lacks; ``snapshot``: this instance's at ``now``, if made already."""
        return ProjectionBatch(
            snapshot=snapshot or self.snapshot(now),
            transitions=self._unprojected_transitions(),
            effects=list(self.core.unprojected_effects),
            timers=list(self.core.unprojected_firings),
        )

    def _unprojected_transitions(self) -> list[TransitionRecord]:
        # From the end: the history is in seq order, and all but the last few are projected.
        return list(takewhile(lambda r: r.seq > self.core.projected_seq, reversed(self.core.history)))[::-1]

    def mark_projected(self, batch: ProjectionBatch) -> None:
        self.core.projected_seq = max(self.core.projected_seq, batch.snapshot.seq)
        done = {e.id for e in batch.effects}
        self.core.unprojected_effects = [e for e in self.core.unprojected_effects if e.id not in done]
        self.core.unprojected_firings = self.core.unprojected_firings[len(batch.timers) :]

    @property
    def projection_pending(self) -> bool:
        # Timer firings ride along with the next projection; a refused one alone (nothing
        # changed) does not call for one, so the workflow issues the commands it always did.
        return self.core.projected_seq < self.core.seq or bool(self.core.unprojected_effects)

    def deliverable_effects(self) -> list[str]:
        """Undelivered effects already in the outbox (delivery reads them from there)."""
        pending = {e.id for e in self.core.unprojected_effects}
        return [e for e in self.core.undelivered_effects if e not in pending]

    def mark_delivered(self, effect_id: str) -> None:
        self.core.undelivered_effects = [e for e in self.core.undelivered_effects if e != effect_id]
