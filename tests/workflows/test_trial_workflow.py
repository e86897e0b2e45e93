"""The trial workflow on the time-skipping test server: every timer on its day, over whole trials."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import OPERATOR, Stack
from tests.workflows.helpers import effects, lifecycle, transitions
from workflows.engine.errors import ValidationError
from workflows.engine.spec import TIMER_ACTOR
from workflows.engine.types import TransitionResult, workflow_id_for
from workflows.trial import TRIAL as TRIAL_SPEC
from workflows.trial import TrialWorkflow

TRIAL = {
    "organization": {"id": "org-acme", "name": "ACME"},
    "owner": "tae@example.com",
    "target": "ENTERPRISE",
    "expected_arr": "30000",
    "contact_emails": ["cto@acme.test"],
}
STEPS = ("REMOVE_SUBSCRIPTION_ID", "SET_PRODUCTS_FREE", "CANCEL_SUBSCRIPTION")


class Trials:
    """Trials opened together at the start of a test, and a clock counting days from then."""

    def __init__(self, stack: Stack, env: WorkflowEnvironment) -> None:
        self.stack = stack
        self.env = env
        self._t0: datetime | None = None

    @property
    def t0(self) -> datetime:
        """When the first trial of the test started."""
        assert self._t0 is not None, "open a trial first"
        return self._t0

    async def open(self, entity_id: str, **fields: Any) -> TransitionResult:
        opened = await self.stack.gateway.open("trial", entity_id, {**TRIAL, **fields}, principal=OPERATOR)
        if self._t0 is None:
            self._t0 = datetime.fromisoformat(opened.snapshot.data["starts_at"])
        return opened

    async def fire(self, entity_id: str, trigger: str, params: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return await self.stack.gateway.transition("trial", entity_id, trigger, params, principal=OPERATOR, **kwargs)

    async def day(self, day: float) -> None:
        """Let time run to ``day`` days after the trials opened."""
        delay = self.t0 + timedelta(days=day) - await self.env.get_current_time()
        assert delay > timedelta(0), f"day {day} has passed"
        await self.env.sleep(delay)

    async def timers(self, entity_id: str) -> list[tuple[Any, ...]]:
        """What the timers did, in firing order: (the trigger fired or the message sent, the day, to the hour)."""
        workflow_id = workflow_id_for("trial", entity_id)
        order = {t.name: i for i, t in enumerate(TRIAL_SPEC.timers)}
        by_trigger = {t.trigger: order[t.name] for t in TRIAL_SPEC.timers if t.trigger}
        fired = [
            (r.at, by_trigger[r.trigger], r.trigger)
            for r in await transitions(self.stack.sessions, workflow_id)
            if r.actor == TIMER_ACTOR
        ]
        # A timer's own effects carry its name in their id: <workflow>#<seq>.<timer>@<due>.<n>
        sent = [
            (e.created_at, order[e.id.rpartition("#")[2].partition(".")[2].partition("@")[0]], e.name)
            for e in await effects(self.stack.sessions, workflow_id)
            if "@" in e.id.rpartition("#")[2]
        ]
        return [(what, self._days(at)) for at, _, what in sorted(fired + sent, key=lambda x: (x[0], x[1]))]

    def _days(self, at: datetime) -> float:
        return round((at - self.t0) / timedelta(hours=1)) / 24

    async def effects(self, entity_id: str, *names: str) -> list[Any]:
        rows = await effects(self.stack.sessions, workflow_id_for("trial", entity_id))
        return [e for e in rows if not names or e.name in names]

    async def state(self, entity_id: str) -> str:
        row = await lifecycle(self.stack.sessions, workflow_id_for("trial", entity_id))
        assert row is not None
        return row.state


@pytest.fixture
def trials(ts_stack: Stack, time_skipping_env: WorkflowEnvironment) -> Trials:
    return Trials(ts_stack, time_skipping_env)


async def test_a_28_day_trial_with_an_extension_fires_every_timer_on_its_day(trials: Trials, entity_id: str):
    loud, quiet = entity_id, f"{entity_id}-silenced"
    opened = await trials.open(loud, expected_arr="75000")
    await trials.open(quiet, expected_arr="75000", silence_notifications=True)
    assert {d.timer for d in opened.snapshot.deadlines} >= {"first_customer_notice", "last_customer_notice"}

    await trials.day(2)
    await trials.fire(loud, "record_customer_activity", {"note": "SDK installed, events flowing"})
    await trials.day(4.9)
    assert await trials.timers(loud) == []
    await trials.day(5.1)  # 3 days after the last activity
    assert await trials.timers(loud) == [("owner_inactivity_nudge", 5)]

    await trials.day(6)
    await trials.fire(loud, "record_customer_activity", {"note": "first dashboards"})
    await trials.day(8.9)  # the team lead's day-7 alert was reset by the activity
    assert await trials.timers(loud) == [("owner_inactivity_nudge", 5)]
    await trials.day(11.1)
    assert await trials.timers(loud) == [
        ("owner_inactivity_nudge", 5),
        ("owner_inactivity_nudge", 9),
        ("team_lead_inactivity_alert", 11),
    ]

    await trials.day(12)
    extended = await trials.fire(
        loud, "extend", {"days": 7, "give_back": "procurement starts in parallel"}, reason="security review"
    )
    assert datetime.fromisoformat(extended.snapshot.data["expires_at"]) == trials.t0 + timedelta(days=35)
    await trials.day(17.4)  # the halfway point moved from day 14 to day 17.5
    assert [t[0] for t in await trials.timers(loud)] == [
        "owner_inactivity_nudge",
        "owner_inactivity_nudge",
        "team_lead_inactivity_alert",
    ]
    await trials.day(17.6)
    assert (await trials.timers(loud))[-1] == ("feedback_session", 17.5)
    await trials.day(27.9)  # nothing at the old week-before-expiry (day 21)
    assert len(await trials.timers(loud)) == 4
    await trials.day(28.1)
    assert (await trials.timers(loud))[4:] == [("wrap_up_call", 28), ("customer_expiry_notice", 28)]
    await trials.day(34.9)
    assert (await trials.timers(loud))[6:] == [("customer_expiry_notice", 34)]
    assert await trials.state(loud) == "ACTIVE"
    await trials.day(35.1)
    assert (await trials.timers(loud))[7:] == [("expire", 35)]
    assert await trials.state(loud) == "EXPIRED"

    notices = await trials.effects(loud, "customer_expiry_notice")
    assert [(n.recipients, n.payload["subject"]) for n in notices] == [
        (["cto@acme.test"], f"Your enterprise trial ends on {(trials.t0 + timedelta(days=35)).date()}")
    ] * 2
    nudges = await trials.effects(loud, "owner_inactivity_nudge", "team_lead_inactivity_alert")
    assert [n.recipients for n in nudges] == [["tae@example.com"], ["tae@example.com"], ["role:team_lead"]]
    assert [e.recipients for e in await trials.effects(loud, "feedback_session", "wrap_up_call")] == [
        ["tae@example.com"],
        ["tae@example.com"],
    ]
    (granted,) = await trials.effects(loud, "grant_trial_features")
    (reset,) = await trials.effects(loud, "reset_to_free_plan")
    assert granted.seq == 1 and (granted.type, reset.type) == ("entitlements.grant", "entitlements.reset")
    assert reset.payload == {**granted.payload, "plan": "FREE"}
    assert (reset.payload["organization_id"], reset.payload["target"]) == ("org-acme", "ENTERPRISE")

    # The silenced twin had the same days without a word to the customer.
    assert await trials.timers(quiet) == [
        ("owner_inactivity_nudge", 3),
        ("team_lead_inactivity_alert", 5),
        ("feedback_session", 14),
        ("wrap_up_call", 21),
        ("expire", 28),
    ]
    assert await trials.effects(quiet, "customer_expiry_notice") == []
    for entity in (loud, quiet):
        handle = trials.stack.client.get_workflow_handle_for(TrialWorkflow.run, workflow_id_for("trial", entity))
        assert (await handle.result()).state == "EXPIRED"


async def test_a_paused_trial_keeps_its_expiry_and_customer_notices_but_not_its_nudges(trials: Trials, entity_id: str):
    await trials.open(entity_id)
    await trials.day(1)
    await trials.fire(entity_id, "pause", reason="their team is at an offsite")
    await trials.day(7.1)  # no nudge on days 4 and 6, no halfway or wrap-up on day 7; the customer is told
    assert await trials.timers(entity_id) == [("customer_expiry_notice", 7)]

    await trials.day(8)
    await trials.fire(entity_id, "resume")
    await trials.day(10.9)  # the nudges count from the resumption; the missed reminders are not sent late
    assert len(await trials.timers(entity_id)) == 1
    await trials.day(11.1)
    assert (await trials.timers(entity_id))[1:] == [("owner_inactivity_nudge", 11)]

    await trials.day(12)
    await trials.fire(entity_id, "pause", reason="waiting on their legal team")
    await trials.day(14.1)  # no team lead alert on day 13; the paused trial still ends
    assert (await trials.timers(entity_id))[2:] == [("customer_expiry_notice", 13), ("expire", 14)]
    assert await trials.state(entity_id) == "EXPIRED"
    assert [e.type for e in await trials.effects(entity_id, "grant_trial_features", "reset_to_free_plan")] == [
        "entitlements.grant",
        "entitlements.reset",
    ]


async def test_existing_payers_wait_for_revops_and_expire_flagged_without_a_new_subscription(
    trials: Trials, entity_id: str
):
    unconfirmed, confirmed = f"{entity_id}-a", f"{entity_id}-b"
    for trial in (unconfirmed, confirmed):
        opened = await trials.open(trial, existing_paid_subscription=True)
        assert opened.snapshot.state == "PROVISIONING"
        await trials.fire(trial, "record_provisioning_step", {"step": STEPS[0]}, idempotency_key=f"{trial}-1")
    for step in STEPS[1:]:
        await trials.fire(confirmed, "record_provisioning_step", {"step": step})
    assert await trials.state(confirmed) == "ACTIVE"

    retried = await trials.fire(
        unconfirmed, "record_provisioning_step", {"step": STEPS[0]}, idempotency_key=f"{unconfirmed}-1"
    )
    assert retried.transition.seq == 2
    with pytest.raises(ValidationError):
        await trials.fire(unconfirmed, "record_provisioning_step", {"step": STEPS[0]})
    await trials.fire(unconfirmed, "record_provisioning_step", {"step": STEPS[1]})
    await trials.day(1)
    activated = await trials.fire(unconfirmed, "record_provisioning_step", {"step": STEPS[2]})
    assert (activated.transition.from_state, activated.snapshot.state) == ("PROVISIONING", "ACTIVE")
    rows = await transitions(trials.stack.sessions, workflow_id_for("trial", unconfirmed))
    assert [(r.trigger, r.params.get("step")) for r in rows] == [
        ("open", None),
        *[("record_provisioning_step", s) for s in STEPS],
    ]

    await trials.day(2)
    await trials.fire(confirmed, "confirm_new_subscription", {"subscription_id": "sub_renewed"})
    await trials.day(10.9)
    assert "revops_create_subscription" not in [t[0] for t in await trials.timers(unconfirmed)]
    await trials.day(14.1)
    # Engagement counts from the activation (day 1), RevOps is asked 3 days before expiry.
    assert await trials.timers(unconfirmed) == [
        ("owner_inactivity_nudge", 4),
        ("team_lead_inactivity_alert", 6),
        ("feedback_session", 7),
        ("wrap_up_call", 7),
        ("customer_expiry_notice", 7),
        ("revops_create_subscription", 11),
        ("customer_expiry_notice", 13),
        ("expire", 14),
    ]
    assert "revops_create_subscription" not in [t[0] for t in await trials.timers(confirmed)]

    flagged = await lifecycle(trials.stack.sessions, workflow_id_for("trial", unconfirmed))
    fine = await lifecycle(trials.stack.sessions, workflow_id_for("trial", confirmed))
    assert flagged.state == fine.state == "EXPIRED"
    assert flagged.data["subscription_missing_at_expiry"] and not fine.data["subscription_missing_at_expiry"]
    revops = ("revops_prepare_billing", "revops_create_subscription", "revops_restore_subscription")
    assert [(e.name, e.recipients) for e in await trials.effects(unconfirmed, *revops)] == [
        (name, ["role:revops"]) for name in revops
    ]
    assert [e.name for e in await trials.effects(confirmed, *revops)] == ["revops_prepare_billing"]


async def test_the_workflow_opens_with_the_clock_the_opening_was_validated_with(trials: Trials, entity_id: str):
    opened = await trials.open(entity_id)
    # The start the gateway filled in, the opening in the history and the state entry are one moment.
    starts_at = datetime.fromisoformat(opened.snapshot.data["starts_at"])
    assert opened.snapshot.opened_at == starts_at == opened.snapshot.state_entered_at
    assert opened.transition.at == starts_at
