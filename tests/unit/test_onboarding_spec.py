"""The onboarding machine as a pure table: every edge, every refusal, the cadence and its timers,
the handover it opens, the retention it records; and the handover's READY guard reading it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from workflows.engine.calendar import add_months_dt
from workflows.engine.errors import Forbidden, GuardFailed, InvalidTransition, Rejection, ValidationError
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import Role
from workflows.handover import ACCOUNT_ONBOARDING, HANDOVER, OPEN_LATE_PAYMENTS
from workflows.onboarding import ONBOARDING, OnboardingSkill, OnboardingState, check_in_every, handover_due_at

S = OnboardingState
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OWNER, LEAD = "tae@example.com", "lead@example.com"
OPENING = {
    "account": {"id": "acme", "name": "ACME"},
    "owner": OWNER,
    "owner_role": "TAE",
    "track": "SALES_LED",
    "arr": "72000",
    "paid_products": ["PRODUCT_ANALYTICS", "SESSION_REPLAY"],
}


def opened(policy: dict[str, Any] | None = None, **fields: Any) -> LifecycleInstance:
    return LifecycleInstance.open(ONBOARDING, "acme/1", {**OPENING, **fields}, policy or {}, NOW, actor=OWNER)


def fire(
    instance: LifecycleInstance,
    trigger: str,
    params: dict[str, Any] | None = None,
    *,
    actor: str = OWNER,
    role: Role = Role.OPERATOR,
    reason: str | None = None,
    at: datetime = NOW,
):
    decision = instance.decide(trigger, params or {}, actor=actor, role=role, reason=reason, now=at)
    return instance.apply(decision, at)


def rejected(
    instance: LifecycleInstance, kind: type[Rejection], trigger: str, params: dict[str, Any] | None = None, **kwargs
) -> Rejection:
    before = instance.core.model_copy(deep=True)
    with pytest.raises(kind) as caught:
        fire(instance, trigger, params, **kwargs)
    assert instance.core == before
    return caught.value


def fields_of(error: Rejection) -> dict[str, str]:
    return {f["field"]: f["message"] for f in error.details["fields"]}


def unmet_of(error: Rejection) -> list[str]:
    return [u["message"] for u in error.details["unmet"]]


def run_timers(instance: LifecycleInstance, until: datetime) -> list[str]:
    """Fire every timer due up to ``until``, in order; the names of those that fired."""
    fired = []
    while (due := instance.next_due_timer(until)) is not None:
        timer, at = due
        instance.fire_timer(timer, at, at)
        fired.append(timer.name)
    return fired


def effects(instance: LifecycleInstance) -> list[str]:
    return [e.name for e in instance.core.unprojected_effects]


def in_progress(**fields: Any) -> LifecycleInstance:
    onboarding = opened(**fields)
    fire(onboarding, "send_plan", at=NOW + timedelta(days=2))
    return onboarding


def checklist_done(onboarding: LifecycleInstance, at: datetime) -> None:
    for skill in OnboardingSkill:
        fire(onboarding, "record_skill", {"skill": skill, "evidence": "shown in the kickoff"}, at=at)
    for product in onboarding.data.paid_products:
        fire(onboarding, "record_product_onboarded", {"product": product, "evidence": "dashboards live"}, at=at)
    fire(onboarding, "record_health_check", {"evidence": "https://vitally/acme/health"}, at=at)


# ---- opening -----------------------------------------------------------------------------------


def test_opens_pending_its_plan_and_tells_the_owner():
    onboarding = opened()
    assert onboarding.state == S.PLAN_PENDING and onboarding.data.won_at == NOW
    assert effects(onboarding) == ["onboarding_opened"]
    body = onboarding.core.unprojected_effects[0].payload["body"]
    assert "within 7 days, by 2026-03-09" in body and "every 14 days for the first 6 months" in body


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"track": "SELF_SERVE"}, "track"),
        ({"arr": "-1"}, "arr"),
        ({"won_at": (NOW + timedelta(days=1)).isoformat()}, "won_at"),
        ({"owner_role": "CSM", "retained_by_tae": True}, "retained_by_tae"),
        ({"paid_products": ["TELEPATHY"]}, "paid_products.0"),
    ],
)
def test_bad_openings_are_refused(fields: dict[str, Any], field: str):
    with pytest.raises(ValidationError) as caught:
        opened(**fields)
    assert field in fields_of(caught.value)


# ---- the plan ----------------------------------------------------------------------------------


def test_plan_reminded_to_the_owner_then_escalated_to_the_team_lead():
    onboarding = opened()
    assert run_timers(onboarding, NOW + timedelta(days=5) - timedelta(seconds=1)) == []
    assert run_timers(onboarding, NOW + timedelta(days=5)) == ["plan_reminder"]
    assert run_timers(onboarding, NOW + timedelta(days=8)) == ["plan_escalation"]
    escalation = onboarding.core.unprojected_effects[-1]
    assert escalation.recipients == ["role:team_lead", OWNER] and "was due by 2026-03-09" in escalation.payload["body"]


def test_an_onboarding_opened_for_a_deal_won_weeks_ago_is_not_reminded_of_the_past():
    onboarding = LifecycleInstance.open(
        ONBOARDING, "acme/1", {**OPENING, "won_at": (NOW - timedelta(days=20)).isoformat()}, {}, NOW, actor=OWNER
    )
    assert run_timers(onboarding, NOW + timedelta(days=30)) == []


def test_sending_the_plan_starts_the_cadence_and_silences_the_plan_timers():
    onboarding = opened(paid_products=[])
    fire(onboarding, "send_plan", {"paid_products": ["FEATURE_FLAGS"]}, at=NOW + timedelta(days=3))
    assert onboarding.state == S.IN_PROGRESS and onboarding.data.paid_products == ["FEATURE_FLAGS"]
    assert onboarding.data.cadence_from == NOW + timedelta(days=3)
    assert run_timers(onboarding, NOW + timedelta(days=10)) == []


# ---- the check-in cadence ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arr", "early", "late"),
    [
        ("60000", timedelta(days=14), timedelta(days=30)),
        ("59999.99", timedelta(days=30), timedelta(days=91)),
        ("20000", timedelta(days=30), timedelta(days=91)),
        ("19999.99", timedelta(days=30), timedelta(days=30)),
    ],
)
def test_cadence_by_arr(arr: str, early: timedelta, late: timedelta):
    data = opened(arr=arr).data
    policy = ONBOARDING.policy_model()
    assert check_in_every(data, policy, NOW + timedelta(days=1)) == early
    assert check_in_every(data, policy, add_months_dt(NOW, 7)) == late


def test_a_missed_check_in_nudges_a_second_stalls_and_a_check_in_re_engages():
    onboarding = in_progress()
    plan_at = NOW + timedelta(days=2)
    # Due 14 days after the plan, missed 3 days later.
    assert run_timers(onboarding, plan_at + timedelta(days=17) - timedelta(seconds=1)) == []
    assert run_timers(onboarding, plan_at + timedelta(days=17)) == ["check_in_missed"]
    assert onboarding.state == S.IN_PROGRESS and effects(onboarding)[-1] == "check_in_missed"
    assert onboarding.core.unprojected_effects[-1].recipients == [OWNER]
    assert run_timers(onboarding, plan_at + timedelta(days=31)) == ["check_in_missed"]
    assert onboarding.state == S.STALLED and effects(onboarding)[-1] == "onboarding_stalled"
    assert onboarding.core.unprojected_effects[-1].recipients == ["role:team_lead", OWNER]
    assert run_timers(onboarding, plan_at + timedelta(days=120)) == []  # nothing more while stalled

    held = plan_at + timedelta(days=40)
    fire(onboarding, "record_check_in", {"note": "back on track", "held_at": held.isoformat()}, at=held)
    assert onboarding.state == S.IN_PROGRESS and onboarding.data.missed_check_ins == 0
    assert onboarding.data.cadence_from == held


def test_each_check_in_re_arms_the_next():
    onboarding = in_progress()
    at = NOW + timedelta(days=2)
    for _ in range(6):
        at += timedelta(days=14)
        assert run_timers(onboarding, at) == []
        fire(onboarding, "record_check_in", {"note": "weekly sync"}, at=at)
    assert len(onboarding.data.check_ins) == 6 and onboarding.state == S.IN_PROGRESS


def test_reengaging_needs_a_reason_and_restarts_the_cadence():
    onboarding = in_progress()
    run_timers(onboarding, NOW + timedelta(days=40))
    assert onboarding.state == S.STALLED
    rejected(onboarding, GuardFailed, "reengage", at=NOW + timedelta(days=41))
    fire(onboarding, "reengage", reason="the champion is back from leave", at=NOW + timedelta(days=41))
    assert onboarding.state == S.IN_PROGRESS and onboarding.data.cadence_from == NOW + timedelta(days=41)


@pytest.mark.parametrize(
    ("held_at", "message"),
    [
        (NOW + timedelta(days=3), "must not be in the future"),
        (NOW + timedelta(days=1), "must not be before the last check-in or the plan"),
        ("2026-03-03T10:00:00", "timezone"),
    ],
)
def test_bad_check_ins_are_refused(held_at: Any, message: str):
    onboarding = in_progress()
    value = held_at.isoformat() if isinstance(held_at, datetime) else held_at
    error = rejected(
        onboarding, ValidationError, "record_check_in", {"note": "n", "held_at": value}, at=NOW + timedelta(days=2)
    )
    assert message in fields_of(error)["held_at"]


def test_a_check_in_before_the_plan_is_not_a_move_of_this_state():
    rejected(opened(), InvalidTransition, "record_check_in", {"note": "too early"})


# ---- onboarded -----------------------------------------------------------------------------------


def test_onboarded_names_everything_missing():
    onboarding = in_progress()
    fire(onboarding, "record_skill", {"skill": "COHORTS", "evidence": "built a cohort"})
    fire(onboarding, "record_product_onboarded", {"product": "SESSION_REPLAY", "evidence": "recordings on"})
    error = rejected(onboarding, GuardFailed, "mark_onboarded")
    unmet = " ".join(unmet_of(error))
    for missing in ("Actions", "Data taxonomy", "Notebooks", "Activity log", "Internal and test user filtering"):
        assert f"the skill {missing}" in unmet
    assert "Cohorts" not in unmet
    assert "product analytics onboarded" in unmet and "session replay" not in unmet
    assert "implementation health check" in unmet


def test_onboarded_without_paid_products_says_so():
    onboarding = in_progress(paid_products=[])
    error = rejected(onboarding, GuardFailed, "mark_onboarded")
    assert "No paid products are recorded" in " ".join(unmet_of(error))


@pytest.mark.parametrize(
    ("trigger", "params", "field"),
    [
        ("record_skill", {"skill": "COHORTS", "evidence": "again"}, "skill"),
        ("record_skill", {"skill": "TELEKINESIS", "evidence": "x"}, "skill"),
        ("record_skill", {"skill": "ACTIONS", "evidence": "  "}, "evidence"),
        ("record_product_onboarded", {"product": "DATA_WAREHOUSE", "evidence": "x"}, "product"),
        ("record_product_onboarded", {"product": "SESSION_REPLAY", "evidence": "again"}, "product"),
        ("record_health_check", {"evidence": "twice"}, "evidence"),
        ("record_paid_products", {"paid_products": ["PRODUCT_ANALYTICS"]}, "paid_products"),
        ("record_paid_products", {"paid_products": []}, "paid_products"),
    ],
)
def test_bad_checklist_records_are_refused(trigger: str, params: dict[str, Any], field: str):
    onboarding = in_progress()
    fire(onboarding, "record_skill", {"skill": "COHORTS", "evidence": "built one"})
    fire(onboarding, "record_product_onboarded", {"product": "SESSION_REPLAY", "evidence": "recordings on"})
    fire(onboarding, "record_health_check", {"evidence": "done"})
    error = rejected(onboarding, ValidationError, trigger, params)
    assert any(name.startswith(field) for name in fields_of(error))


def test_onboarded_then_completed_at_three_months_opens_the_handover():
    onboarding = in_progress(credit_purchased_on="2026-03-01")
    checklist_done(onboarding, NOW + timedelta(days=30))
    fire(onboarding, "mark_onboarded", at=NOW + timedelta(days=30))
    assert onboarding.state == S.ONBOARDED
    due = handover_due_at(onboarding.data, ONBOARDING.policy_model())
    assert due == datetime(2026, 6, 1, tzinfo=UTC)
    assert run_timers(onboarding, due - timedelta(seconds=1)) == []
    assert run_timers(onboarding, due) == ["handover_window"]
    assert onboarding.state == S.COMPLETED
    handover = onboarding.core.unprojected_effects[-1]
    assert handover.name == "open_handover" and handover.type == "lifecycle.start"
    assert handover.payload["kind"] == "handover" and handover.payload["entity_id"] is None
    assert handover.payload["account_id"] == "acme"
    data = handover.payload["data"]
    assert (data["reason"], data["outgoing_role"], data["owner"]) == ("ONBOARDED", "TAE", OWNER)
    assert data["onboarded_products"] == ["PRODUCT_ANALYTICS", "SESSION_REPLAY"]
    # The handover kind accepts what the effect sends.
    opened_handover = LifecycleInstance.open(HANDOVER, "acme/1", data, {}, due, actor=OWNER)
    assert opened_handover.state == "REQUESTED"


def test_a_pre_purchased_account_the_tae_retains_is_handed_over_at_twelve_months():
    data = opened(retained_by_tae=True, credit_purchased_on="2026-03-01").data
    assert handover_due_at(data, ONBOARDING.policy_model()) == datetime(2027, 3, 1, tzinfo=UTC)


def test_an_account_not_owned_by_a_tae_completes_without_a_handover():
    onboarding = in_progress(owner_role="CSM", track="CS_LED")
    checklist_done(onboarding, NOW + timedelta(days=30))
    fire(onboarding, "mark_onboarded", at=NOW + timedelta(days=30))
    run_timers(onboarding, NOW + timedelta(days=100))
    assert onboarding.state == S.COMPLETED and "open_handover" not in effects(onboarding)


def test_timer_triggers_are_the_services_own():
    onboarding = opened()
    for trigger in ("miss_check_in", "record_retention", "complete"):
        rejected(onboarding, Forbidden, trigger)


# ---- churn and retention ---------------------------------------------------------------------------


@pytest.mark.parametrize("state", [S.PLAN_PENDING, S.IN_PROGRESS, S.STALLED, S.ONBOARDED])
def test_churn_from_any_open_state_asks_for_the_retro(state: str):
    onboarding = opened()
    if state != S.PLAN_PENDING:
        fire(onboarding, "send_plan", at=NOW)
    if state == S.STALLED:
        run_timers(onboarding, NOW + timedelta(days=40))
    if state == S.ONBOARDED:
        checklist_done(onboarding, NOW)
        fire(onboarding, "mark_onboarded")
    assert onboarding.state == state
    at = onboarding.core.state_entered_at + timedelta(hours=1)
    rejected(onboarding, GuardFailed, "churn", at=at)
    fire(onboarding, "churn", {"source": "BILLING"}, reason="subscription cancelled", at=at)
    assert onboarding.state == S.CHURNED and onboarding.data.churn.source == "BILLING"
    retro = onboarding.core.unprojected_effects[-1]
    assert retro.name == "churn_retro_due"
    assert retro.recipients == [OWNER, "role:team_lead", "channel:churn"]
    assert f"by {(at + timedelta(days=7)):%Y-%m-%d}" in retro.payload["body"]


def test_churn_after_the_end_is_not_a_move():
    onboarding = opened()
    fire(onboarding, "churn", reason="cancelled")
    rejected(onboarding, InvalidTransition, "churn", reason="again")


def test_the_specialist_track_records_its_three_month_retention():
    kept = opened(track="SPECIALIST", arr="9000", owner_role="ONBOARDING")
    assert run_timers(kept, add_months_dt(NOW, 3) - timedelta(seconds=1)) == ["plan_reminder", "plan_escalation"]
    assert run_timers(kept, add_months_dt(NOW, 3)) == ["retention_recorded"]
    assert kept.data.retained_three_months is True

    lost = opened(track="SPECIALIST", arr="9000", owner_role="ONBOARDING")
    fire(lost, "churn", reason="went with a competitor", at=NOW + timedelta(days=20))
    assert lost.data.retained_three_months is False

    other = opened()
    run_timers(other, add_months_dt(NOW, 4))
    assert other.data.retained_three_months is None


# ---- the handover's READY guard reads the onboarding -----------------------------------------------


def _assigned_handover() -> LifecycleInstance:
    handover = LifecycleInstance.open(
        HANDOVER,
        "acme/1",
        {
            "account": {"id": "acme", "name": "ACME"},
            "arr": "72000",
            "owner": OWNER,
            "outgoing_role": "TAE",
            "reason": "ONBOARDED",
            "paid_products": ["PRODUCT_ANALYTICS"],
        },
        {},
        NOW,
        actor=OWNER,
    )
    fire(handover, "allocate", {"team": "TAM", "region": "EU"}, actor=LEAD)
    fire(handover, "assign", {"incoming_owner": "tam@example.com"}, actor=LEAD)
    fire(handover, "record_account_plan", {"link": "https://vitally/acme", "updated_on": "2026-03-01"})
    fire(handover, "record_health_check", {"healthy": True, "note": "steady"})
    return handover


def _ready_refusal(handover: LifecycleInstance, facts: dict[str, Any]) -> list[str]:
    try:
        handover.decide("mark_ready", {}, actor=OWNER, role=Role.OPERATOR, reason=None, now=NOW, facts=facts)
    except GuardFailed as refused:
        return unmet_of(refused)
    return []


def test_the_handover_reads_onboarding_complete_from_the_onboarding_lifecycle():
    handover = _assigned_handover()  # no product recorded onboarded on the handover itself
    onboarding_of = {"workflow_id": "onboarding/acme/1", "state": "IN_PROGRESS"}
    unmet = _ready_refusal(handover, {OPEN_LATE_PAYMENTS: [], ACCOUNT_ONBOARDING: onboarding_of})
    assert unmet == ["The account's onboarding onboarding/acme/1 is IN_PROGRESS, not yet onboarded (004:2425-2496)."]
    for state in ("ONBOARDED", "COMPLETED"):
        facts = {OPEN_LATE_PAYMENTS: [], ACCOUNT_ONBOARDING: {**onboarding_of, "state": state}}
        assert _ready_refusal(handover, facts) == []


def test_without_an_onboarding_lifecycle_the_handover_falls_back_to_its_checklist():
    handover = _assigned_handover()
    # Without the key: a decision recorded before the fact existed.
    facts_without: list[dict[str, Any]] = [{OPEN_LATE_PAYMENTS: [], ACCOUNT_ONBOARDING: None}, {OPEN_LATE_PAYMENTS: []}]
    for facts in facts_without:
        assert _ready_refusal(handover, facts) == ["Onboarding is not complete for product analytics (004:2425-2496)."]


def test_a_paid_product_named_twice_is_recorded_once():
    onboarding = in_progress()
    fire(onboarding, "record_paid_products", {"paid_products": ["FEATURE_FLAGS", "SESSION_REPLAY", "FEATURE_FLAGS"]})
    assert onboarding.data.paid_products == ["FEATURE_FLAGS", "SESSION_REPLAY"]
