"""The churn-risk lifecycle as a pure table: every edge, every signal's threshold, every refusal."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from workflows.churn_risk import (
    CHURN_RISK,
    DE_RISKING,
    ChurnRiskState,
    ChurnScenario,
    FlagReason,
)
from workflows.engine.errors import Forbidden, GuardFailed, InvalidTransition, Rejection, ValidationError
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import Role

C = ChurnRiskState
NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # a Thursday
TODAY = NOW.date()
ACCOUNT = {"account": {"id": "acme", "name": "ACME"}, "owner": "csm@example.com"}


def opened(policy: dict[str, Any] | None = None) -> LifecycleInstance:
    return LifecycleInstance.open(CHURN_RISK, "acme/1", ACCOUNT, policy or {}, NOW, actor="csm@example.com")


def fire(instance, trigger, params=None, *, role=Role.OPERATOR, reason=None, at=NOW):
    decision = instance.decide(trigger, params or {}, actor="csm@example.com", role=role, reason=reason, now=at)
    return instance.apply(decision, at)


def rejected(instance, kind: type[Rejection], trigger, params=None, **kwargs) -> Rejection:
    before = instance.core.model_copy(deep=True)
    with pytest.raises(kind) as caught:
        fire(instance, trigger, params, **kwargs)
    assert instance.core == before
    return caught.value


def effects(instance: LifecycleInstance) -> list[str]:
    return [e.name for e in instance.core.unprojected_effects]


def message(instance: LifecycleInstance, name: str) -> dict[str, Any]:
    return next(e for e in reversed(instance.core.unprojected_effects) if e.name == name).payload


def usage(value: str, baseline: str = "1000", *, seasonal: bool = False, on: date = TODAY) -> dict[str, Any]:
    return {"usage": value, "baseline": baseline, "seasonal": seasonal, "measured_on": on.isoformat()}


def health(rating: str, week_of: date) -> dict[str, Any]:
    return {"week_of": week_of.isoformat(), "rating": rating}


def flagged(reason: FlagReason = FlagReason.CHAMPION_LEFT) -> LifecycleInstance:
    instance = opened()
    fire(instance, "add_reason", {"flag_reason": reason})
    return instance


def in_recovery() -> LifecycleInstance:
    instance = flagged()
    fire(instance, "record_recovery_call", {"held_on": TODAY.isoformat()})
    fire(instance, "record_recovery_plan", {"scenario": "CHAMPION_LEAVES", "actions": "Meet the new VP."})
    return instance


# ---- the edges ---------------------------------------------------------------------------------


def test_it_opens_watching_and_an_operator_flag_moves_it_to_flagged():
    instance = opened()
    assert instance.state == C.WATCHING
    assert effects(instance) == []
    fire(instance, "add_reason", {"flag_reason": "EVALUATING_ALTERNATIVES", "note": "Asked about Amplitude."})
    assert instance.state == C.FLAGGED
    data = instance.context(NOW).data
    assert [(r.reason, r.note) for r in data.reasons] == [
        (FlagReason.EVALUATING_ALTERNATIVES, "Asked about Amplitude.")
    ]
    assert data.flagged_at == NOW
    assert effects(instance) == ["recovery_call_due", "flag_posted", "renewals_at_risk"]


def test_the_whole_path_to_recovered_clears_the_renewal_flag_it_set():
    instance = in_recovery()
    assert instance.state == C.IN_RECOVERY
    plan = instance.context(NOW).data.recovery_plan
    assert plan is not None and plan.strategy == DE_RISKING[ChurnScenario.CHAMPION_LEAVES]
    fire(instance, "mark_recovered", reason="Usage is back, new champion named.")
    assert instance.state == C.RECOVERED and instance.terminal
    cleared = message(instance, "renewals_risk_cleared")
    assert cleared["kinds"] == ["renewal"] and cleared["trigger"] == "churn_risk"
    assert cleared["params"] == {"churn_risk_id": "acme/1", "at_risk": False}
    marked = message(instance, "renewals_at_risk")
    assert marked["params"] == {"churn_risk_id": "acme/1", "at_risk": True} and marked["reason"] == "churn risk"


@pytest.mark.parametrize("build", [flagged, in_recovery])
def test_churn_from_any_state_at_risk_posts_the_retro_to_the_churn_channel(build):
    instance = build()
    fire(instance, "record_churn", reason="Subscription cancelled.")
    assert instance.state == C.CHURNED and instance.terminal
    posted = next(e for e in instance.core.unprojected_effects if e.name == "churn_retro_due")
    assert "channel:customer-churn" in posted.recipients
    assert "(by 2026-12-10)" in posted.payload["body"]


def test_every_recovery_plan_names_the_handbooks_strategy_for_its_scenario():
    assert set(DE_RISKING) == set(ChurnScenario)
    for scenario in ChurnScenario:
        instance = flagged()
        fire(instance, "record_recovery_call", {"held_on": TODAY.isoformat()})
        fire(instance, "record_recovery_plan", {"scenario": scenario.value, "actions": "Act."})
        assert instance.context(NOW).data.recovery_plan.strategy == DE_RISKING[scenario]


# ---- one open churn risk per account: a second flag adds its reason ----------------------------


def test_a_second_flag_adds_its_reason_and_tells_the_owner():
    instance = flagged(FlagReason.CHAMPION_LEFT)
    fire(instance, "add_reason", {"flag_reason": "DATA_EXPORT_REQUESTED"}, at=NOW + timedelta(hours=1))
    assert instance.state == C.FLAGGED
    assert [r.reason for r in instance.context(NOW).data.reasons] == [
        FlagReason.CHAMPION_LEFT,
        FlagReason.DATA_EXPORT_REQUESTED,
    ]
    assert effects(instance)[-1] == "reason_added"
    assert instance.context(NOW).data.flagged_at == NOW


def test_the_same_reason_twice_is_refused_and_changes_nothing():
    instance = flagged(FlagReason.CHAMPION_LEFT)
    refusal = rejected(instance, GuardFailed, "add_reason", {"flag_reason": "CHAMPION_LEFT"})
    assert "already at risk for CHAMPION_LEFT" in refusal.message


def test_an_unknown_flag_reason_is_refused():
    refusal = rejected(opened(), ValidationError, "add_reason", {"flag_reason": "BAD_VIBES"})
    assert refusal.details["fields"][0]["field"] == "flag_reason"


# ---- usage readings (004:11495) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "flags"),
    [
        (usage("700"), True),  # down exactly 30%
        (usage("100"), True),
        (usage("0"), True),
        (usage("701"), False),  # down 29.9%
        (usage("1500"), False),
        (usage("100", seasonal=True), False),  # a seasonal explanation
    ],
)
def test_a_usage_drop_of_the_policys_share_flags_unless_seasonal(reading, flags):
    instance = opened()
    fire(instance, "record_usage", reading)
    assert instance.state == (C.FLAGGED if flags else C.WATCHING)
    assert len(instance.context(NOW).data.usage_readings) == 1
    assert [r.reason for r in instance.context(NOW).data.reasons] == ([FlagReason.USAGE_DROP] if flags else [])


def test_the_usage_threshold_is_the_pinned_policys():
    instance = opened({"usage_drop": "0.5"})
    fire(instance, "record_usage", usage("600"))
    assert instance.state == C.WATCHING
    fire(instance, "record_usage", usage("500"))
    assert instance.state == C.FLAGGED


def test_a_usage_drop_on_a_flagged_account_adds_its_reason_once():
    instance = flagged()
    fire(instance, "record_usage", usage("100"))
    fire(instance, "record_usage", usage("50"))
    assert [r.reason for r in instance.context(NOW).data.reasons] == [FlagReason.CHAMPION_LEFT, FlagReason.USAGE_DROP]
    assert effects(instance).count("reason_added") == 1
    assert len(instance.context(NOW).data.usage_readings) == 2


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"baseline": "1000", "measured_on": TODAY.isoformat()}, "usage"),  # no number
        (usage("-1"), "usage"),
        (usage("abc"), "usage"),
        (usage("10", "0"), "baseline"),
        (usage("10", "-5"), "baseline"),
        ({"usage": "10", "measured_on": TODAY.isoformat()}, "baseline"),
        (usage("10", on=TODAY + timedelta(days=1)), "measured_on"),
        ({**usage("10"), "extra": 1}, "extra"),
    ],
)
def test_bad_usage_readings_are_refused_and_change_nothing(params, field):
    refusal = rejected(opened(), ValidationError, "record_usage", params)
    assert [f["field"] for f in refusal.details["fields"]] == [field]


# ---- health readings (004:11503) --------------------------------------------------------------

MONDAY = date(2026, 11, 30)  # the week of NOW


def weeks_back(n: int) -> date:
    return MONDAY - timedelta(days=7 * n)


def test_four_consecutive_poor_weeks_flag_the_account():
    instance = opened()
    for n in (3, 2, 1):
        fire(instance, "record_health", health("POOR", weeks_back(n)))
        assert instance.state == C.WATCHING
    fire(instance, "record_health", health("POOR", weeks_back(0) + timedelta(days=2)))  # any day of the week
    assert instance.state == C.FLAGGED
    assert [r.reason for r in instance.context(NOW).data.reasons] == [FlagReason.POOR_HEALTH]


@pytest.mark.parametrize(
    "weeks",
    [
        [(3, "POOR"), (2, "FAIR"), (1, "POOR"), (0, "POOR")],  # broken by a better week
        [(4, "POOR"), (3, "POOR"), (1, "POOR"), (0, "POOR")],  # a week missing
        [(2, "POOR"), (1, "POOR"), (0, "POOR")],  # only three
    ],
)
def test_a_broken_or_short_run_of_poor_weeks_does_not_flag(weeks):
    instance = opened()
    for n, rating in weeks:
        fire(instance, "record_health", health(rating, weeks_back(n)))
    assert instance.state == C.WATCHING


def test_a_weeks_score_recorded_again_replaces_the_first():
    instance = opened()
    for n in (3, 2, 1):
        fire(instance, "record_health", health("POOR", weeks_back(n)))
    fire(instance, "record_health", health("GOOD", weeks_back(1)))
    fire(instance, "record_health", health("POOR", weeks_back(0)))
    assert instance.state == C.WATCHING
    assert len(instance.context(NOW).data.health_readings) == 4


def test_a_future_week_and_an_unknown_rating_are_refused():
    rejected(opened(), ValidationError, "record_health", health("POOR", MONDAY + timedelta(days=7)))
    rejected(opened(), ValidationError, "record_health", health("DREADFUL", MONDAY))


# ---- other signals (004:11499-11505) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"signal": "PAYMENT_FAILED_UNRESPONSIVE", "reference": "in_1"}, FlagReason.PAYMENT_FAILED_UNRESPONSIVE),
        ({"signal": "DATA_EXPORT_REQUESTED"}, FlagReason.DATA_EXPORT_REQUESTED),
        (
            {"signal": "RENEWAL_NEGATIVE_ENGAGEMENT", "renewal_ends_on": (TODAY + timedelta(days=89)).isoformat()},
            FlagReason.RENEWAL_NEGATIVE_ENGAGEMENT,
        ),
        ({"signal": "RENEWAL_NEGATIVE_ENGAGEMENT", "renewal_ends_on": (TODAY + timedelta(days=90)).isoformat()}, None),
    ],
)
def test_signals_flag_by_themselves_a_renewal_only_within_its_window(params, reason):
    instance = opened()
    fire(instance, "record_signal", params)
    assert instance.state == (C.FLAGGED if reason else C.WATCHING)
    assert [r.reason for r in instance.context(NOW).data.reasons] == ([reason] if reason else [])


def test_a_renewal_signal_needs_its_end_date():
    refusal = rejected(opened(), ValidationError, "record_signal", {"signal": "RENEWAL_NEGATIVE_ENGAGEMENT"})
    assert "renewal_ends_on is required" in refusal.details["fields"][0]["message"]


# ---- timers -----------------------------------------------------------------------------------


def test_the_team_lead_hears_at_48_hours_without_a_recovery_call():
    instance = flagged()
    assert instance.next_due_timer(NOW + timedelta(hours=47)) is None
    timer, due = instance.next_due_timer(NOW + timedelta(hours=48))
    assert (timer.name, due) == ("recovery_call_escalation", NOW + timedelta(hours=48))
    instance.fire_timer(timer, due, due)
    overdue = next(e for e in instance.core.unprojected_effects if e.name == "recovery_call_overdue")
    assert overdue.recipients == ["role:team_lead"]
    assert "within 2 days" in overdue.payload["body"]
    assert instance.state == C.FLAGGED
    assert instance.next_due_timer(NOW + timedelta(days=30)) is None


def test_a_recovery_call_in_time_disarms_the_escalation():
    instance = flagged()
    fire(instance, "record_recovery_call", {"held_on": TODAY.isoformat()}, at=NOW + timedelta(hours=20))
    assert instance.next_due_timer(NOW + timedelta(hours=48)) is None


def test_the_owner_is_told_at_once_when_the_call_is_due():
    told = message(flagged(), "recovery_call_due")
    assert "within 2 days" in told["body"] and "(by 2026-12-05T09:00+00:00)" in told["body"]


def test_the_messages_follow_the_pinned_policy():
    instance = opened({"recovery_call_within": "PT24H", "retro_within": "P14D"})
    fire(instance, "add_reason", {"flag_reason": "CHAMPION_LEFT"})
    assert "within 1 day (by 2026-12-04T09:00+00:00)" in message(instance, "recovery_call_due")["body"]
    fire(instance, "record_churn", reason="Gone.")
    assert "(by 2026-12-17)" in message(instance, "churn_retro_due")["body"]


def test_the_weekly_review_asks_for_a_status_note_each_week_after_the_last_one():
    instance = in_recovery()
    timer, due = instance.next_due_timer(NOW + timedelta(days=7))
    assert (timer.name, due) == ("weekly_review", NOW + timedelta(days=7))
    instance.fire_timer(timer, due, due)
    assert effects(instance)[-1] == "status_note_requested"
    fire(instance, "record_status_note", {"note": "Workshop held."}, at=NOW + timedelta(days=10))
    _, due = instance.next_due_timer(NOW + timedelta(days=30))
    assert due == NOW + timedelta(days=17)


# ---- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "trigger", "params", "reason"),
    [
        (opened, "record_recovery_call", {"held_on": TODAY.isoformat()}, None),
        (flagged, "record_recovery_plan", {"scenario": "CHAMPION_LEAVES", "actions": "x"}, None),
        (flagged, "mark_recovered", None, "fine"),
        (opened, "record_churn", None, "gone"),
        (flagged, "record_status_note", {"note": "x"}, None),
    ],
)
def test_triggers_out_of_their_states_are_refused(build, trigger, params, reason):
    rejected(build(), InvalidTransition, trigger, params, reason=reason)


@pytest.mark.parametrize(("build", "trigger"), [(in_recovery, "mark_recovered"), (flagged, "record_churn")])
def test_recovered_and_churned_need_a_reason(build, trigger):
    refusal = rejected(build(), GuardFailed, trigger)
    assert refusal.details["unmet"][0]["guard"] == "reason_required"


def test_a_recovery_call_before_the_flag_or_in_the_future_is_refused():
    for day in (TODAY - timedelta(days=1), TODAY + timedelta(days=1)):
        refusal = rejected(flagged(), ValidationError, "record_recovery_call", {"held_on": day.isoformat()})
        assert refusal.details["fields"][0]["field"] == "held_on"


def test_an_unknown_scenario_is_refused():
    instance = flagged()
    fire(instance, "record_recovery_call", {"held_on": TODAY.isoformat()})
    rejected(instance, ValidationError, "record_recovery_plan", {"scenario": "BAD_LUCK", "actions": "x"})


def test_the_weekly_review_belongs_to_the_service_and_viewers_change_nothing():
    rejected(in_recovery(), Forbidden, "request_status")
    rejected(opened(), Forbidden, "add_reason", {"flag_reason": "CHAMPION_LEFT"}, role=Role.VIEWER)


def test_the_policy_is_checked():
    with pytest.raises(ValidationError):
        opened({"usage_drop": "1.5"})
    with pytest.raises(ValidationError):
        opened({"poor_health_weeks": 0})
