"""Reminders: timers that send one message, declared once (``workflows/engine/reminders.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import BaseModel

from workflows.engine.instance import LifecycleInstance
from workflows.engine.messages import Message
from workflows.engine.reminders import Reminders
from workflows.engine.spec import Context, LifecycleSpec, Role, StateSpec, TransitionSpec, role
from workflows.trial import TRIAL

NOW = datetime(2026, 3, 1, tzinfo=UTC)
DAY = timedelta(days=1)


class Parcel(BaseModel):
    owner: str
    recipient: str
    collect_by: datetime


class ParcelPolicy(BaseModel):
    nudge_before: timedelta = timedelta(days=2)


def values(ctx: Context[Parcel, ParcelPolicy]) -> dict[str, object]:
    return {"recipient": ctx.data.recipient, "collect_by": ctx.data.collect_by.date().isoformat()}


remind = Reminders(values)

SPEC = LifecycleSpec(
    kind="parcel",
    title="Parcel",
    description="A parcel waiting to be collected.",
    states=(StateSpec("WAITING", "At the counter."), StateSpec("COLLECTED", "Gone.", terminal=True)),
    transitions=(TransitionSpec("collect", ("WAITING",), "COLLECTED", "Collected.", role=Role.OPERATOR),),
    timers=(
        remind(
            "collection_nudge",
            "Before the collection deadline, by the policy's lead time: nudge the recipient",
            Message(subject="Your parcel waits, {recipient}", body="Collect it by {collect_by}."),
            states=("WAITING",),
            due=lambda ctx: ctx.data.collect_by - ctx.policy.nudge_before,
            to=lambda ctx: [ctx.data.recipient],
            source_ref="001:10",
        ),
        remind(
            "last_call",
            "On the collection deadline: tell the desk",
            Message(subject="Uncollected: {recipient}", body="It was due on {collect_by}."),
            states=("WAITING",),
            due=lambda ctx: ctx.data.collect_by,
            to=role("desk"),
            effect="uncollected_parcel",
        ),
    ),
    data_model=Parcel,
    policy_model=ParcelPolicy,
    initial_state=lambda data: "WAITING",
    owner_of=lambda data: data.owner,
    account_of=lambda data: None,
    summary_of=lambda data: f"parcel for {data.recipient}",
)


def parcel() -> LifecycleInstance:
    data = {"owner": "ann", "recipient": "bo@example.com", "collect_by": (NOW + 5 * DAY).isoformat()}
    return LifecycleInstance.open(SPEC, "p1", data, {}, NOW, actor="ann")


def fire_due(instance: LifecycleInstance, until: datetime) -> list[str]:
    fired = []
    while (due := instance.next_due_timer(until)) is not None:
        timer, at = due
        assert instance.fire_timer(timer, at, at) is None
        fired.append(timer.name)
    return fired


def test_a_reminder_is_a_timer_sending_its_message_described_by_the_timer():
    nudge, last_call = SPEC.timers
    assert (nudge.trigger, nudge.source_ref, [e.name for e in nudge.effects]) == (None, "001:10", ["collection_nudge"])
    assert [(e.type, e.description) for e in nudge.effects] == [("notify", nudge.description)]
    assert [e.name for e in last_call.effects] == ["uncollected_parcel"]


def test_a_due_reminder_sends_its_rendered_message_and_changes_nothing_else():
    p = parcel()
    seq, data = p.core.seq, p.core.data
    assert fire_due(p, NOW + 3 * DAY) == ["collection_nudge"]
    [sent] = [e for e in p.core.unprojected_effects if e.type == "notify"]
    assert (sent.name, sent.recipients) == ("collection_nudge", ["bo@example.com"])
    assert sent.payload == {"subject": "Your parcel waits, bo@example.com", "body": "Collect it by 2026-03-06."}
    assert (p.core.seq, p.core.data, p.state, len(p.core.history)) == (seq, data, "WAITING", 1)
    assert fire_due(p, NOW + 5 * DAY) == ["last_call"]
    assert [(e.name, e.recipients) for e in p.core.unprojected_effects if e.type == "notify"][1:] == [
        ("uncollected_parcel", ["role:desk"])
    ]


def test_a_reminder_is_not_due_outside_its_states():
    p = parcel()
    p.apply(p.decide("collect", {}, actor="ann", role=Role.OPERATOR, reason=None, now=NOW), NOW)
    assert p.deadlines(NOW) == [] and fire_due(p, NOW + 10 * DAY) == []


def test_the_trial_reminders_send_the_effects_deliveries_know():
    sent = {timer.name: [e.name for e in timer.effects] for timer in TRIAL.timers if timer.trigger is None}
    assert sent == {
        "feedback_session": ["feedback_session"],
        "wrap_up_call": ["wrap_up_call"],
        "first_customer_notice": ["customer_expiry_notice"],
        "last_customer_notice": ["customer_expiry_notice"],
        "owner_inactivity_nudge": ["owner_inactivity_nudge"],
        "team_lead_inactivity_nudge": ["team_lead_inactivity_alert"],
        "new_subscription_request": ["revops_create_subscription"],
    }
    assert all(e.description == t.description for t in TRIAL.timers for e in t.effects)
