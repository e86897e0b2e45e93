"""The engine's generic behaviour, on a small made-up machine."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from workflows.engine import instance as engine
from workflows.engine.common import change_owner, start_lifecycle
from workflows.engine.diagram import mermaid
from workflows.engine.errors import GuardFailed, InvalidTransition, ValidationError
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import (
    EffectSpec,
    LifecycleSpec,
    Role,
    StateSpec,
    TimerSpec,
    TransitionSpec,
    guard,
    notify,
    owner,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class Door(BaseModel):
    owner: str
    previous_owners: list[str] = []
    locked_until: datetime | None = None
    knocks: int = 0


class DoorPolicy(BaseModel):
    close_after: timedelta = timedelta(hours=1)


@guard("unlocked", "The door is not locked.")
def unlocked(ctx):
    return (
        [f"locked until {ctx.data.locked_until}"] if ctx.data.locked_until and ctx.data.locked_until > ctx.now else []
    )


def knock(ctx):
    ctx.data.knocks += 1


SPEC = LifecycleSpec(
    kind="door",
    title="Door",
    description="A door.",
    states=(StateSpec("CLOSED", "closed"), StateSpec("OPEN", "open"), StateSpec("GONE", "gone", terminal=True)),
    transitions=(
        TransitionSpec(
            "open",
            ("CLOSED",),
            "OPEN",
            "Open it.",
            guards=(unlocked,),
            effects=(
                notify("opened", "Tell the owner.", to=owner, subject=lambda c: "opened", body=lambda c: "it is open"),
            ),
        ),
        TransitionSpec("close", ("OPEN",), "CLOSED", "Close it.", role=Role.OPERATOR),
        TransitionSpec("knock", ("CLOSED", "OPEN"), None, "Knock.", apply=knock, role=Role.VIEWER),
        TransitionSpec("remove", ("CLOSED", "OPEN"), "GONE", "Remove it.", role=Role.ADMIN),
        TransitionSpec("auto_close", ("OPEN",), "CLOSED", "Closes itself.", role=Role.SYSTEM),
        change_owner(("CLOSED", "OPEN")),
    ),
    timers=(
        TimerSpec(
            name="self_closing",
            trigger="auto_close",
            states=("OPEN",),
            due=lambda ctx: ctx.state_entered_at + ctx.policy.close_after,
            description="Close an hour after opening",
        ),
        TimerSpec(
            name="still_closed",
            states=("CLOSED",),
            due=lambda ctx: ctx.state_entered_at + timedelta(days=1) if ctx.data.knocks else None,
            description="Knocked on but closed for a day: remind the owner",
            effects=(
                notify(
                    "knocked_but_closed",
                    "Remind the owner.",
                    to=owner,
                    subject=lambda ctx: "someone knocked",
                    body=lambda ctx: f"{ctx.data.knocks} knocks, still closed since {ctx.state_entered_at:%H:%M}",
                ),
            ),
        ),
    ),
    data_model=Door,
    policy_model=DoorPolicy,
    initial_state=lambda data: "CLOSED",
    owner_of=lambda data: data.owner,
    account_of=lambda data: None,
    summary_of=lambda data: "a door",
)


def door(**data) -> LifecycleInstance:
    return LifecycleInstance.open(SPEC, "d1", {"owner": "ann", **data}, {}, NOW, actor="ann")


def fire(instance, trigger, params=None, *, role=Role.OPERATOR, at=NOW, key=None, reason=None):
    decision = instance.decide(trigger, params or {}, actor="bob", role=role, reason=reason, now=at)
    return instance.apply(decision, at, idempotency_key=key)


def test_opening_is_the_first_history_entry():
    d = door()
    assert [(r.seq, r.trigger, r.from_state, r.to_state, r.actor) for r in d.core.history] == [
        (1, "open", "", "CLOSED", "ann")
    ]


def test_roles_are_ordered_and_system_triggers_are_for_timers():
    d = door()
    fire(d, "knock", role=Role.VIEWER)
    with pytest.raises(engine.Forbidden):
        fire(d, "remove", role=Role.OPERATOR)
    fire(d, "open")
    with pytest.raises(engine.Forbidden):
        fire(d, "auto_close", role=Role.ADMIN)


def test_internal_transitions_keep_the_state_and_are_recorded():
    d = door()
    record = fire(d, "knock")
    assert (record.from_state, record.to_state, d.data.knocks, d.core.seq) == ("CLOSED", "CLOSED", 1, 2)
    assert d.core.state_entered_at == NOW


def test_guards_see_the_clock():
    d = door(locked_until=(NOW + timedelta(minutes=5)).isoformat())
    with pytest.raises(GuardFailed):
        fire(d, "open")
    fire(d, "open", at=NOW + timedelta(minutes=6))
    assert d.state == "OPEN"


def test_effects_get_stable_ids_and_wait_for_projection_then_delivery():
    d = door()
    fire(d, "open")
    assert [e.id for e in d.core.unprojected_effects] == ["door/d1#2.1"]
    assert d.deliverable_effects() == []
    d.mark_projected(d.projection_batch(NOW))
    assert d.deliverable_effects() == ["door/d1#2.1"]
    d.mark_delivered("door/d1#2.1")
    assert d.core.undelivered_effects == []


def test_idempotency_keys_are_remembered_within_bounds(monkeypatch):
    monkeypatch.setattr(engine, "KEYS_KEPT", 3)
    d = door()
    for i in range(5):
        fire(d, "knock", key=f"k{i}")
    assert list(d.core.applied_keys) == ["k2", "k3", "k4"]
    assert d.applied("k4").seq == 6
    assert d.applied("k0") is None


def test_history_is_trimmed_but_counted(monkeypatch):
    monkeypatch.setattr(engine, "HISTORY_KEPT", 4)
    d = door()
    for _ in range(6):
        fire(d, "knock")
    assert [r.seq for r in d.core.history] == [4, 5, 6, 7]
    assert d.core.history_dropped == 3


def test_a_timer_fires_once_per_due_moment_and_rearms_on_a_new_state_entry():
    d = door()
    fire(d, "open")
    due = NOW + timedelta(hours=1)
    assert [x.due_at for x in d.deadlines(NOW)] == [due]
    assert d.next_due_timer(NOW + timedelta(minutes=59)) is None
    timer, at = d.next_due_timer(due)
    record = d.fire_timer(timer, at, due)
    assert (record.trigger, record.actor, d.state) == ("auto_close", "timer", "CLOSED")
    assert d.deadlines(due) == []
    later = due + timedelta(minutes=1)
    fire(d, "open", at=later)
    assert [x.due_at for x in d.deadlines(later)] == [later + timedelta(hours=1)]


def test_a_timer_without_a_trigger_sends_its_effects_and_changes_nothing_else():
    d = door()
    fire(d, "knock")
    seq, data = d.core.seq, d.core.data
    due = NOW + timedelta(days=1)
    assert [(x.timer, x.trigger, x.due_at) for x in d.deadlines(NOW)] == [("still_closed", "", due)]
    timer, at = d.next_due_timer(due)
    assert d.fire_timer(timer, at, due) is None
    assert (d.core.seq, d.core.data, d.state) == (seq, data, "CLOSED")
    [effect] = [e for e in d.core.unprojected_effects if e.name == "knocked_but_closed"]
    assert effect.payload["body"] == "1 knocks, still closed since 00:00"
    assert effect.id == f"door/d1#{seq}.still_closed@{int(due.timestamp())}.1"
    assert d.projection_pending and effect.id in d.core.undelivered_effects
    assert d.deadlines(due) == [] and d.next_due_timer(due + timedelta(days=3)) is None
    [firing] = d.projection_batch(due).timers
    assert (firing.timer, firing.trigger, firing.due_at, firing.fired_at) == ("still_closed", None, due, due)


def test_timer_firings_ride_with_the_next_projection_once():
    d = door()
    fire(d, "open")
    due = NOW + timedelta(hours=1)
    late = due + timedelta(minutes=7)
    timer, due_at = d.next_due_timer(late)
    d.fire_timer(timer, due_at, late)
    batch = d.projection_batch(late)
    assert [(f.timer, f.trigger, f.fired_at - f.due_at, f.refused) for f in batch.timers] == [
        ("self_closing", "auto_close", timedelta(minutes=7), False)
    ]
    d.mark_projected(batch)
    assert d.projection_batch(late).timers == []


def test_owner_changes_need_a_reason_and_a_different_owner():
    d = door()
    with pytest.raises(GuardFailed):
        fire(d, "change_owner", {"new_owner": "cat"})
    with pytest.raises(ValidationError):
        fire(d, "change_owner", {"new_owner": "ann"}, reason="x")
    with pytest.raises(ValidationError):
        fire(d, "change_owner", {"new_owner": "  "}, reason="x")
    fire(d, "change_owner", {"new_owner": "cat"}, reason="ann left")
    assert (d.data.owner, d.data.previous_owners) == ("cat", ["ann"])
    assert d.snapshot(NOW).owner == "cat"


def test_parameters_are_refused_where_a_trigger_takes_none():
    with pytest.raises(ValidationError):
        fire(door(), "knock", {"loud": True})


def test_terminal_state_sets_closed_at_and_leaves_nothing_allowed():
    d = door()
    fire(d, "remove", role=Role.ADMIN)
    assert d.terminal and d.core.closed_at == NOW
    assert d.describe(NOW) == []
    with pytest.raises(InvalidTransition):
        fire(d, "knock")


@pytest.mark.parametrize(
    "broken",
    [
        {"states": (StateSpec("A", "a"), StateSpec("A", "again"))},
        {"transitions": (TransitionSpec("go", ("A",), "NOWHERE", "x"),)},
        {"timers": (TimerSpec(name="t", trigger="missing", states=("A",), due=lambda ctx: None, description="x"),)},
        {"timers": (TimerSpec(name="t", states=("A",), due=lambda ctx: None, description="does nothing"),)},
    ],
)
def test_specs_are_checked_when_declared(broken):
    fields = {
        "kind": "bad",
        "title": "Bad",
        "description": "",
        "states": (StateSpec("A", "a"),),
        "transitions": (),
        "timers": (),
        "data_model": Door,
        "policy_model": DoorPolicy,
        "initial_state": lambda d: "A",
        "owner_of": lambda d: None,
        "account_of": lambda d: None,
        "summary_of": lambda d: "",
    }
    with pytest.raises(ValueError):
        LifecycleSpec(**{**fields, **broken})


def test_diagrams_show_state_changes_and_mark_timer_edges():
    diagram = mermaid(SPEC)
    assert "CLOSED --> OPEN: open" in diagram
    assert "OPEN --> CLOSED: close, auto_close ⏱" in diagram
    assert "knock" not in diagram
    assert "GONE --> [*]" in diagram


def test_guards_may_read_facts_the_service_gathered():
    @guard("no_open_invoices", "No open invoices on the account.")
    def no_open_invoices(ctx):
        return [f"invoice {i} is open" for i in ctx.facts.get("open_invoices", [])]

    spec = LifecycleSpec(
        **{
            **{f: getattr(SPEC, f) for f in SPEC.__dataclass_fields__},
            "transitions": (TransitionSpec("open", ("CLOSED",), "OPEN", "Open it.", guards=(no_open_invoices,)),),
            "timers": (),
        }
    )
    d = LifecycleInstance.open(spec, "d2", {"owner": "ann"}, {}, NOW, actor="ann")
    with pytest.raises(GuardFailed, match="invoice INV-1 is open"):
        d.decide("open", {}, actor="bob", role=Role.OPERATOR, reason=None, now=NOW, facts={"open_invoices": ["INV-1"]})
    assert d.describe(NOW, {"open_invoices": ["INV-1"]})[0].unmet == ["invoice INV-1 is open"]
    d.decide("open", {}, actor="bob", role=Role.OPERATOR, reason=None, now=NOW, facts={"open_invoices": []})


def test_left_out_the_initial_state_is_the_first_declared_and_the_owner_is_the_data_owner():
    plain = dataclasses.replace(SPEC, initial_state=LifecycleSpec.initial_state, owner_of=LifecycleSpec.owner_of)
    opened = LifecycleInstance.open(plain, "d2", {"owner": "ann"}, {}, NOW, actor="ann")
    assert (opened.core.state, plain.owner_of(opened.data)) == ("CLOSED", "ann")


def test_a_default_reader_needs_its_field():
    with pytest.raises(ValueError, match="the data has no account field; declare account_of"):
        dataclasses.replace(SPEC, account_of=LifecycleSpec.account_of)


def test_a_started_lifecycle_is_named_or_numbered_under_its_account():
    named: EffectSpec[Door, DoorPolicy] = start_lifecycle(
        "open_frame",
        "A door opens its frame.",
        kind="frame",
        entity_id=lambda ctx: f"{ctx.entity_id}-frame",
        data=lambda ctx: {"owner": ctx.data.owner},
        reason=lambda ctx: "the door was fitted",
    )
    spec = dataclasses.replace(
        SPEC, transitions=(TransitionSpec("open", ("CLOSED",), "OPEN", "Open it.", effects=(named,)),), timers=()
    )
    d = LifecycleInstance.open(spec, "d3", {"owner": "ann"}, {}, NOW, actor="ann")
    fire(d, "open", reason="fitting")
    (started,) = [e for e in d.core.unprojected_effects if e.type == "lifecycle.start"]
    assert started.payload == {
        "kind": "frame",
        "entity_id": "d3-frame",
        "actor": "bob",
        "reason": "the door was fitted",
        "data": {"owner": "ann"},
    }
    with pytest.raises(ValueError, match="open_hinge: a lifecycle numbered per account needs its account_id"):
        start_lifecycle("open_hinge", "x", kind="hinge", data=lambda ctx: {}, reason=lambda ctx: "")
