"""Messages that cross the workflow boundary: inputs, requests, results, snapshots.

They travel through Temporal's pydantic data converter and are stored in workflow
histories, so fields are only ever added with defaults, never renamed or removed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from workflows.engine.spec import Role


class TransitionRecord(BaseModel):
    """One applied transition: the business audit log of a lifecycle."""

    seq: int
    trigger: str
    from_state: str
    to_state: str
    actor: str
    reason: str | None = None
    at: datetime
    params: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None


class EffectRecord(BaseModel):
    """A side effect decided by a transition, to be written to the outbox."""

    id: str
    seq: int
    type: str
    name: str
    recipients: list[str] = Field(default_factory=list)
    payload: dict[str, Any] = Field(default_factory=dict)
    at: datetime
    # Why it is in the outbox but not sent (a notice superseded by the step it announced).
    skipped: str | None = None


class TimerFiring(BaseModel):
    """A timer that fired: when it was due, when it was applied, and what it did."""

    timer: str
    trigger: str | None = None
    due_at: datetime
    fired_at: datetime
    # Its trigger's guards refused it: nothing changed, nothing was sent.
    refused: bool = False


class Deadline(BaseModel):
    timer: str
    trigger: str
    due_at: datetime
    description: str


class AppliedKey(BaseModel):
    """What an idempotency key applied: the transition and the request's fingerprint."""

    seq: int
    trigger: str
    fingerprint: str


class LifecycleState(BaseModel):
    """Everything a lifecycle workflow knows; carried whole across continue-as-new."""

    kind: str
    entity_id: str
    state: str
    seq: int = 0
    data: dict[str, Any]
    policy: dict[str, Any]
    opened_at: datetime
    state_entered_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    history: list[TransitionRecord] = Field(default_factory=list)
    # How many older history entries were dropped from ``history`` (the read model keeps all).
    history_dropped: int = 0
    # timer name -> the due moment it last fired for.
    fired_timers: dict[str, datetime] = Field(default_factory=dict)
    # update id -> seq of the transition it applied (most recent keys only), for the
    # requests of runs started before caller-scoped keys (``SCOPED_KEYS_PATCH``).
    applied_keys: dict[str, int] = Field(default_factory=dict)
    # (actor, idempotency key) -> what it applied (workflows.engine.idempotency).
    applied_requests: dict[str, AppliedKey] = Field(default_factory=dict)
    # Effects not yet written to the outbox, and outbox ids not yet delivered.
    unprojected_effects: list[EffectRecord] = Field(default_factory=list)
    undelivered_effects: list[str] = Field(default_factory=list)
    # Timers fired since the last projection, for the worker's metrics and traces.
    unprojected_firings: list[TimerFiring] = Field(default_factory=list)
    projected_seq: int = -1


class LifecycleInput(BaseModel):
    """Start a lifecycle (``state`` unset) or continue one (``state`` carried over)."""

    kind: str
    entity_id: str
    data: dict[str, Any] = Field(default_factory=dict)
    policy: dict[str, Any] = Field(default_factory=dict)
    actor: str = "system"
    reason: str | None = None
    initial_state: str | None = None
    # The moment the opening was validated at, by whoever started the workflow: the
    # workflow opens with that same clock, so what was valid there is valid here.
    opened_at: datetime | None = None
    state: LifecycleState | None = None
    # Continue-as-new once the run's event history reaches this length; ``None``
    # leaves the decision to the server's suggestion. Tests use a small value.
    max_history_events: int | None = None


class TransitionRequest(BaseModel):
    trigger: str
    params: dict[str, Any] = Field(default_factory=dict)
    actor: str
    role: Role
    reason: str | None = None
    # What the service read about other lifecycles for this trigger's guards (an open
    # late payment on the account...). Gathered by the gateway, never taken from a caller.
    facts: dict[str, Any] = Field(default_factory=dict)
    # The caller's idempotency key (one the gateway made when the caller sent none).
    # Unset in requests recorded before caller-scoped keys: the update id was the key.
    idempotency_key: str | None = None
    # Parts of the snapshot (of ``OMITTABLE_PARTS``) the caller will not read: the answer
    # leaves them empty instead of carrying them through the history and back.
    answer_omits: list[str] = Field(default_factory=list)


class LifecycleSnapshot(BaseModel):
    """The state of one lifecycle as the read model and the API see it."""

    kind: str
    entity_id: str
    workflow_id: str
    state: str
    terminal: bool
    seq: int
    data: dict[str, Any]
    policy: dict[str, Any]
    owner: str | None = None
    account_id: str | None = None
    account_name: str | None = None
    summary: str = ""
    opened_at: datetime
    state_entered_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    deadlines: list[Deadline] = Field(default_factory=list)
    next_deadline: datetime | None = None


# Snapshot parts a transition's answer may leave out, with the empty value it then carries.
OMITTABLE_PARTS: dict[str, Any] = {"policy": {}, "deadlines": []}


class TransitionResult(BaseModel):
    transition: TransitionRecord
    snapshot: LifecycleSnapshot
    # False when the read model could not be written in time: the transition is
    # applied and durable, the projection follows as soon as the database answers.
    projected: bool = True
    # The snapshot parts this answer left empty (the request's ``answer_omits``).
    omitted: list[str] = Field(default_factory=list)

    def without(self, parts: list[str]) -> TransitionResult:
        """This answer with ``parts`` (of ``OMITTABLE_PARTS``) left empty."""
        omitted = [part for part in OMITTABLE_PARTS if part in parts or part in self.omitted]
        if omitted == self.omitted:
            return self
        snapshot = self.snapshot.model_copy(update={part: OMITTABLE_PARTS[part] for part in omitted})
        return self.model_copy(update={"snapshot": snapshot, "omitted": omitted})


class ProjectionBatch(BaseModel):
    """What the projection activity writes, idempotently, in one database transaction."""

    snapshot: LifecycleSnapshot
    transitions: list[TransitionRecord] = Field(default_factory=list)
    effects: list[EffectRecord] = Field(default_factory=list)
    timers: list[TimerFiring] = Field(default_factory=list)


class DeliverEffectInput(BaseModel):
    effect_id: str


class AllowedTransition(BaseModel):
    """A trigger as seen from the current state: may it fire now, and if not, why."""

    trigger: str
    to_state: str | None
    description: str
    role: Role
    allowed: bool
    unmet: list[str] = Field(default_factory=list)
    params: dict[str, Any] = Field(default_factory=dict)


def workflow_id_for(kind: str, entity_id: str) -> str:
    return f"{kind}/{entity_id}"
