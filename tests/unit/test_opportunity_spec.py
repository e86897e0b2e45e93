"""The opportunity machine as a pure table: every edge, every guard's refusal, every timer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from workflows.engine.errors import Forbidden, GuardFailed, InvalidTransition, Rejection, ValidationError
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import TIMER_ACTOR, Role
from workflows.onboarding import ONBOARDING
from workflows.opportunity import (
    EXIT_CRITERIA,
    NEW_BUSINESS_STAGES,
    OPPORTUNITY,
    RENEWAL_STAGES,
    OpportunityStage,
)

S = OpportunityStage
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DEAL = {
    "name": "ACME analytics",
    "account": {"id": "acme", "name": "ACME"},
    "owner": "tae@example.com",
    "close_date": "2026-03-31",
    "amount": "60000",
}


def opened(state: str | None = None, **fields: Any) -> LifecycleInstance:
    return LifecycleInstance.open(
        OPPORTUNITY, "o-1", {**DEAL, **fields}, {}, NOW, actor="tae@example.com", initial_state=state
    )


def fire(
    instance: LifecycleInstance,
    trigger: str,
    params: dict[str, Any] | None = None,
    *,
    role: Role = Role.OPERATOR,
    reason: str | None = None,
    at: datetime = NOW,
    actor: str = "tae@example.com",
):
    decision = instance.decide(trigger, params or {}, actor=actor, role=role, reason=reason, now=at)
    return instance.apply(decision, at)


def meet(instance: LifecycleInstance, *stages: OpportunityStage) -> None:
    for stage in stages:
        for item in EXIT_CRITERIA.get(stage, ()):
            fire(instance, "record_criterion", {"stage": stage, "criterion": item.key, "evidence": "seen in call"})


def rejected(
    instance: LifecycleInstance,
    kind: type[Rejection],
    trigger: str,
    params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Rejection:
    before = instance.core.model_copy(deep=True)
    with pytest.raises(kind) as caught:
        fire(instance, trigger, params, **kwargs)
    # A refusal changes nothing: not the state, the data, the history or the outbox.
    assert instance.core == before
    return caught.value


# ---- the table of edges ------------------------------------------------------------------------

FORWARD = [
    (pipeline[i], pipeline[j])
    for pipeline in (NEW_BUSINESS_STAGES, RENEWAL_STAGES)
    for i in range(len(pipeline))
    for j in range(i + 1, len(pipeline))
]
BACKWARD = [(b, a) for a, b in FORWARD]


@pytest.mark.parametrize(("source", "dest"), FORWARD)
def test_advance_reaches_every_later_stage_of_its_pipeline_once_criteria_are_met(source, dest):
    record_type = "RENEWAL" if source in RENEWAL_STAGES else "NEW_REVENUE"
    deal = opened(source, record_type=record_type)
    pipeline = RENEWAL_STAGES if source in RENEWAL_STAGES else NEW_BUSINESS_STAGES
    meet(deal, *pipeline[pipeline.index(source) : pipeline.index(dest)])
    record = fire(deal, "advance", {"to": dest})
    assert (record.from_state, record.to_state, deal.state) == (source, dest, dest)


@pytest.mark.parametrize(("source", "dest"), BACKWARD)
def test_move_back_reaches_every_earlier_stage_with_a_reason(source, dest):
    deal = opened(source, record_type="RENEWAL" if source in RENEWAL_STAGES else "NEW_REVENUE")
    record = fire(deal, "move_back", {"to": dest}, reason="buyer changed")
    assert (record.to_state, record.reason) == (dest, "buyer changed")


@pytest.mark.parametrize("stage", [*NEW_BUSINESS_STAGES, *RENEWAL_STAGES])
def test_every_open_stage_closes_lost_with_a_reason(stage):
    deal = opened(stage, record_type="RENEWAL" if stage in RENEWAL_STAGES else "NEW_REVENUE")
    fire(deal, "close_lost", {"loss_reason": "PRICING", "loss_note": "too dear"})
    assert deal.state == S.CLOSED_LOST
    assert deal.data.loss_reason == "PRICING"
    assert deal.data.forecast_category == "OMITTED"
    assert deal.terminal


def test_advance_without_target_goes_to_the_next_stage():
    deal = opened()
    meet(deal, S.PROBLEM_AGREEMENT)
    fire(deal, "advance")
    assert deal.state == S.SOLUTION_AGREEMENT


def test_renewal_deals_skip_the_optional_product_evaluation():
    deal = opened(record_type="RENEWAL")
    assert deal.state == S.QUALIFICATION
    fire(deal, "advance")
    fire(deal, "advance", {"to": S.COMMERCIAL_LEGAL_REVIEW})
    assert deal.state == S.COMMERCIAL_LEGAL_REVIEW
    assert OPPORTUNITY.state(deal.state).probability == 80


# ---- guards -----------------------------------------------------------------------------------


def test_advancing_needs_the_current_stage_criteria_and_names_the_unmet_ones():
    deal = opened()
    fire(deal, "record_criterion", {"stage": S.PROBLEM_AGREEMENT, "criterion": "quantified_pain", "evidence": "$2M"})
    error = rejected(deal, GuardFailed, "advance")
    assert [u["guard"] for u in error.details["unmet"]] == ["exit_criteria_met", "exit_criteria_met"]
    assert "cost_of_inaction" in error.message and "problem_acknowledged" in error.message
    assert "quantified_pain" not in error.message


def test_skipping_ahead_needs_the_skipped_stages_criteria_too():
    deal = opened()
    meet(deal, S.PROBLEM_AGREEMENT)
    error = rejected(deal, GuardFailed, "advance", {"to": S.PRIORITY_AGREEMENT})
    assert all(u["message"].startswith("SOLUTION_AGREEMENT") for u in error.details["unmet"])
    meet(deal, S.SOLUTION_AGREEMENT)
    fire(deal, "advance", {"to": S.PRIORITY_AGREEMENT})
    assert deal.state == S.PRIORITY_AGREEMENT


def test_an_admin_waiver_counts_as_met_and_stays_in_history():
    deal = opened()
    meet(deal, S.PROBLEM_AGREEMENT)
    fire(
        deal,
        "record_criterion",
        {"stage": S.SOLUTION_AGREEMENT, "criterion": "active_usage_or_trial", "evidence": "trial done"},
    )
    fire(
        deal,
        "record_criterion",
        {"stage": S.SOLUTION_AGREEMENT, "criterion": "documented_decision", "evidence": "email"},
    )
    fire(deal, "record_criterion", {"stage": S.SOLUTION_AGREEMENT, "criterion": "champion", "evidence": "Jo"})
    waiver = fire(
        deal,
        "waive_criterion",
        {"stage": S.SOLUTION_AGREEMENT, "criterion": "economic_buyer"},
        role=Role.ADMIN,
        reason="founder-led deal",
        actor="admin@example.com",
    )
    assert (waiver.trigger, waiver.actor, waiver.reason) == ("waive_criterion", "admin@example.com", "founder-led deal")
    fire(deal, "advance", {"to": S.PRIORITY_AGREEMENT})
    assert deal.data.criteria[S.SOLUTION_AGREEMENT]["economic_buyer"].waived


def test_waivers_are_for_admins_with_a_reason_and_only_for_unmet_criteria():
    deal = opened()
    params = {"stage": S.PROBLEM_AGREEMENT, "criterion": "quantified_pain"}
    assert rejected(deal, Forbidden, "waive_criterion", params, reason="x").details["required_role"] == "ADMIN"
    assert rejected(deal, GuardFailed, "waive_criterion", params, role=Role.ADMIN).details["unmet"][0]["guard"] == (
        "reason_required"
    )
    meet(deal, S.PROBLEM_AGREEMENT)
    error = rejected(deal, ValidationError, "waive_criterion", params, role=Role.ADMIN, reason="x")
    assert error.details["fields"] == [{"field": "criterion", "message": "is already met"}]


def test_criteria_must_belong_to_the_stage_and_to_the_deal_pipeline():
    deal = opened()
    error = rejected(
        deal,
        ValidationError,
        "record_criterion",
        {"stage": S.PROBLEM_AGREEMENT, "criterion": "champion", "evidence": "x"},
    )
    assert "has no exit criterion 'champion'" in error.details["fields"][0]["message"]
    error = rejected(
        deal,
        ValidationError,
        "record_criterion",
        {"stage": S.COMMERCIAL_LEGAL_REVIEW, "criterion": "contract_signed", "evidence": "x"},
    )
    assert error.details["fields"] == [
        {"field": "stage", "message": "COMMERCIAL_LEGAL_REVIEW is not a stage of the NEW_BUSINESS pipeline"}
    ]
    error = rejected(
        deal,
        ValidationError,
        "record_criterion",
        {"stage": S.PROBLEM_AGREEMENT, "criterion": "quantified_pain", "evidence": ""},
    )
    assert error.details["fields"][0]["field"] == "evidence"


def test_moving_back_needs_a_reason_and_an_earlier_stage():
    deal = opened(S.PRIORITY_AGREEMENT)
    assert rejected(deal, GuardFailed, "move_back", {"to": S.PROBLEM_AGREEMENT}).details["unmet"][0]["guard"] == (
        "reason_required"
    )
    error = rejected(deal, InvalidTransition, "move_back", {"to": S.VENDOR_APPROVAL}, reason="x")
    assert "advance" in error.details["allowed"]
    rejected(deal, InvalidTransition, "advance", {"to": S.PROBLEM_AGREEMENT})
    rejected(deal, InvalidTransition, "advance", {"to": S.MEETING_BOOKED})
    rejected(deal, InvalidTransition, "advance", {"to": S.CLOSED_WON})


def test_closed_won_needs_the_contract_signed():
    deal = opened(S.VENDOR_APPROVAL, plan_type="ANNUAL")
    error = rejected(deal, GuardFailed, "close_won")
    assert "Contract signed by everyone" in error.message
    fire(
        deal,
        "record_criterion",
        {"stage": S.VENDOR_APPROVAL, "criterion": "contract_signed", "evidence": "PandaDoc completed"},
    )
    fire(deal, "close_won")
    assert deal.state == S.CLOSED_WON and not deal.data.closed_as_monthly_contract


def test_closing_won_from_an_early_stage_needs_every_later_criterion():
    deal = opened(S.COMMERCIAL_AGREEMENT, plan_type="ANNUAL")
    fire(deal, "record_criterion", {"stage": S.VENDOR_APPROVAL, "criterion": "contract_signed", "evidence": "signed"})
    error = rejected(deal, GuardFailed, "close_won")
    assert "COMMERCIAL_AGREEMENT" in error.message
    meet(deal, S.COMMERCIAL_AGREEMENT)
    fire(deal, "close_won")
    assert deal.state == S.CLOSED_WON


@pytest.mark.parametrize(
    ("amount", "discount", "closes"),
    [
        ("19999.99", "0", True),
        ("20000", "0", False),
        ("25000", "25", True),  # ARR after discount is $18,750
    ],
)
def test_small_monthly_deals_close_won_from_any_stage_as_monthly_contracts(amount, discount, closes):
    deal = opened(plan_type="MONTHLY", amount=amount, discount_percent=discount)
    if closes:
        fire(deal, "close_won")
        assert deal.state == S.CLOSED_WON and deal.data.closed_as_monthly_contract
    else:
        assert "MONTHLY with ARR under $20,000" in rejected(deal, GuardFailed, "close_won").message


def test_closed_lost_needs_a_known_loss_reason():
    deal = opened()
    error = rejected(deal, GuardFailed, "close_lost")
    assert error.details["unmet"] == [
        {"guard": "loss_reason_given", "message": "A loss reason is required to close an opportunity as lost."}
    ]
    error = rejected(deal, ValidationError, "close_lost", {"loss_reason": "BAD_LUCK"})
    assert error.details["fields"][0]["field"] == "loss_reason"


@pytest.mark.parametrize("terminal", [S.CLOSED_WON, S.CLOSED_LOST])
@pytest.mark.parametrize(
    "trigger",
    ["advance", "move_back", "close_won", "close_lost", "record_criterion", "update_fields", "record_customer_reply"],
)
def test_terminal_states_are_final(terminal, trigger):
    deal = opened(plan_type="MONTHLY", amount="1000")
    fire(deal, "close_won") if terminal is S.CLOSED_WON else fire(deal, "close_lost", {"loss_reason": "PRICING"})
    error = rejected(deal, InvalidTransition, trigger, {})
    assert error.details["state"] == terminal
    assert trigger not in error.details["allowed"]


def test_timer_triggers_belong_to_timers():
    deal = opened()
    fire(deal, "close_lost", {"loss_reason": "COMPETITOR"})
    error = rejected(deal, Forbidden, "follow_up_due", role=Role.ADMIN)
    assert error.details["required_role"] == "SYSTEM"
    fire(deal, "follow_up_due", role=Role.SYSTEM, actor=TIMER_ACTOR)
    assert deal.data.follow_ups_sent == 1


def test_viewers_change_nothing():
    assert (
        rejected(opened(), Forbidden, "update_fields", {"name": "x"}, role=Role.VIEWER).details["required_role"]
        == "OPERATOR"
    )


def test_unknown_triggers_list_the_allowed_ones():
    error = rejected(opened(), InvalidTransition, "teleport")
    assert {"advance", "close_lost", "record_criterion"} <= set(error.details["allowed"])
    lost = opened()
    fire(lost, "close_lost", {"loss_reason": "COMPETITOR"})
    error = rejected(lost, InvalidTransition, "teleport")
    assert "stop_follow_ups" in error.details["allowed"] and "follow_up_due" not in error.details["allowed"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"amount": "-1"}, "amount"),
        ({"discount_percent": "100.5"}, "discount_percent"),
        ({"discount_percent": "-1"}, "discount_percent"),
        ({"term_months": 0}, "term_months"),
        ({"close_date": "31/12/2026"}, "close_date"),
        ({"forecast_category": "MAYBE"}, "forecast_category"),
        ({"plan_type": "WEEKLY"}, "plan_type"),
        ({}, "input"),
        ({"stage": "CLOSED_WON"}, "stage"),
    ],
)
def test_bad_field_changes_are_refused_per_field(params, field):
    error = rejected(opened(), ValidationError, "update_fields", params)
    assert [f["field"] for f in error.details["fields"]] == [field]


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"amount": "-5"}, ["amount"]),
        ({"discount_percent": "101", "term_months": 0}, ["discount_percent", "term_months"]),
        ({"close_date": "2026-02-30"}, ["close_date"]),
        ({"record_type": "PARTNER"}, ["record_type"]),
        ({"account": {"id": "", "name": "ACME"}}, ["account.id"]),
    ],
)
def test_a_new_deal_with_bad_fields_is_refused_per_field(fields, bad):
    with pytest.raises(ValidationError) as caught:
        opened(**fields)
    assert sorted(f["field"] for f in caught.value.details["fields"]) == sorted(bad)


def test_a_new_deal_joins_only_a_stage_of_its_pipeline():
    assert opened(S.COMMERCIAL_AGREEMENT).state == S.COMMERCIAL_AGREEMENT
    with pytest.raises(ValidationError):
        opened(S.QUALIFICATION)
    with pytest.raises(ValidationError):
        opened(S.CLOSED_WON)


def test_customer_replies_cannot_come_from_the_future():
    deal = opened()
    error = rejected(deal, ValidationError, "record_customer_reply", {"at": (NOW + timedelta(hours=1)).isoformat()})
    assert error.details["fields"] == [{"field": "at", "message": "must not be in the future"}]


# ---- derived fields ---------------------------------------------------------------------------


def test_arr_and_contract_end_are_derived():
    deal = opened(amount="120000", discount_percent="20", term_months=24, contract_start_date="2026-01-31")
    assert deal.data.arr_discounted == Decimal("48000.00")
    assert deal.data.contract_end_date == date(2028, 1, 31)
    fire(deal, "update_fields", {"term_months": 1})
    assert deal.data.contract_end_date == date(2026, 2, 28)


# ---- timers -----------------------------------------------------------------------------------


def deadline(instance: LifecycleInstance, timer: str, at: datetime = NOW) -> datetime | None:
    return next((d.due_at for d in instance.deadlines(at) if d.timer == timer), None)


def test_the_silence_ladder_is_14_then_7_then_3_days_and_a_reply_resets_it():
    deal = opened()
    assert deadline(deal, "silence_first_nudge") == NOW + timedelta(days=14)
    assert deadline(deal, "silence_second_nudge") == NOW + timedelta(days=21)
    assert deadline(deal, "silence_close") == NOW + timedelta(days=24)
    reply = NOW + timedelta(days=10)
    fire(deal, "record_customer_reply", {"at": reply.isoformat()}, at=reply)
    assert deadline(deal, "silence_first_nudge", reply) == reply + timedelta(days=14)
    fire(deal, "update_fields", {"silence_timers_enabled": False})
    assert deadline(deal, "silence_first_nudge") is None


def test_a_late_recorded_older_reply_does_not_pull_the_ladder_back():
    deal = opened()
    recent, older = NOW + timedelta(days=5), NOW + timedelta(days=2)
    fire(deal, "record_customer_reply", {"at": recent.isoformat()}, at=recent)
    fire(deal, "record_customer_reply", {"at": older.isoformat()}, at=recent)
    assert deadline(deal, "silence_first_nudge", recent) == recent + timedelta(days=14)


def fire_due_timers(instance: LifecycleInstance, until: datetime) -> list[tuple[str, datetime, Any]]:
    """Fire every timer due by ``until``, each at its own moment: (timer, moment, transition or None)."""
    fired = []
    while (due := instance.next_due_timer(until)) is not None:
        timer, moment = due
        fired.append((timer.name, moment, instance.fire_timer(timer, moment, moment)))
    return fired


def test_the_silence_ladder_nudges_twice_then_closes_the_deal_as_disappeared():
    deal = opened()
    fired = fire_due_timers(deal, NOW + timedelta(days=24))
    assert [(name, moment) for name, moment, _ in fired] == [
        ("silence_first_nudge", NOW + timedelta(days=14)),
        ("silence_second_nudge", NOW + timedelta(days=21)),
        ("silence_close", NOW + timedelta(days=24)),
    ]
    # The nudges only tell the owner; the close is the one change in the history.
    assert [record for _, _, record in fired[:2]] == [None, None]
    assert [(r.trigger, r.actor) for r in deal.core.history] == [("open", "tae@example.com"), ("close_lost", "timer")]
    assert deal.state == S.CLOSED_LOST and deal.data.loss_reason == "DISAPPEARED"
    nudges = [e for e in deal.core.unprojected_effects if e.name == "silence_nudge"]
    assert [(e.at, e.recipients, e.payload["subject"]) for e in nudges] == [
        (NOW + timedelta(days=14), ["tae@example.com"], "Still interested? (ACME analytics (ACME))"),
        (NOW + timedelta(days=21), ["tae@example.com"], "Did I lose you? (ACME analytics (ACME))"),
    ]
    assert nudges[0].payload["body"] == (
        'No reply from ACME for 14 days, since 2026-01-05. Reply-all with the subject "Still interested?".'
    )
    assert nudges[1].payload["body"].startswith("No reply from ACME for 21 days, since 2026-01-05.")


def test_the_nudges_state_the_silence_periods_of_the_pinned_policy():
    deal = LifecycleInstance.open(
        OPPORTUNITY,
        "o-1",
        DEAL,
        {"silence_first_nudge_after": "P10D", "silence_second_nudge_after": "P5D"},
        NOW,
        actor="tae@example.com",
    )
    fire_due_timers(deal, NOW + timedelta(days=15))
    bodies = [(e.at, e.payload["body"]) for e in deal.core.unprojected_effects if e.name == "silence_nudge"]
    assert [(at, body.split(",")[0]) for at, body in bodies] == [
        (NOW + timedelta(days=10), "No reply from ACME for 10 days"),
        (NOW + timedelta(days=15), "No reply from ACME for 15 days"),
    ]


def test_a_lost_deal_announces_the_follow_up_period_of_the_pinned_policy():
    deal = LifecycleInstance.open(
        OPPORTUNITY, "o-1", DEAL, {"competitor_follow_up_months": 12}, NOW, actor="tae@example.com"
    )
    fire(deal, "close_lost", {"loss_reason": "COMPETITOR"})
    shared = next(e for e in deal.core.unprojected_effects if e.name == "closed_lost_shared")
    assert shared.payload["body"] == "Reason: COMPETITOR. Follow-up: check in after 12 months (004:9764)."
    assert deadline(deal, "loss_follow_up") == datetime(2027, 1, 5, 9, 0, tzinfo=UTC)


def test_a_passed_next_step_due_date_tells_the_owner_once():
    deal = opened(next_step={"text": "Send security questionnaire", "due_date": "2026-01-07"})
    due = datetime(2026, 1, 8, tzinfo=UTC)
    assert deadline(deal, "next_step_overdue") == due
    assert fire_due_timers(deal, due + timedelta(days=5)) == [("next_step_overdue", due, None)]
    assert [r.trigger for r in deal.core.history] == ["open"]
    [told] = [e for e in deal.core.unprojected_effects if e.name == "next_step_overdue"]
    assert (told.at, told.recipients) == (due, ["tae@example.com"])
    assert told.payload["body"] == '"Send security questionnaire" was due 2026-01-07.'
    assert deadline(deal, "next_step_overdue", due) is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("COMPETITOR", [datetime(2026, 10, 5, 9, 0, tzinfo=UTC)]),
        (
            "STUCK_WITH_CURRENT_SETUP",
            [
                datetime(2026, 7, 5, 9, 0, tzinfo=UTC),
                datetime(2027, 1, 5, 9, 0, tzinfo=UTC),
                datetime(2027, 7, 5, 9, 0, tzinfo=UTC),
            ],
        ),
        ("PRICING", []),
    ],
)
def test_loss_follow_ups_follow_the_loss_reason(reason, expected):
    deal = opened()
    fire(deal, "close_lost", {"loss_reason": reason})
    fired = []
    for _ in range(len(expected)):
        due = deadline(deal, "loss_follow_up")
        fired.append(due)
        deal.fire_timer(OPPORTUNITY.timers[-1], due, due)
    assert fired == expected
    if reason == "STUCK_WITH_CURRENT_SETUP":
        fire(deal, "stop_follow_ups", reason="they signed with us elsewhere")
    assert deadline(deal, "loss_follow_up") is None


# ---- effects ----------------------------------------------------------------------------------


def test_an_annual_deal_closed_won_opens_its_renewal_opportunity():
    deal = opened(S.VENDOR_APPROVAL, plan_type="ANNUAL", amount="60000", term_months=12)
    fire(deal, "record_criterion", {"stage": S.VENDOR_APPROVAL, "criterion": "contract_signed", "evidence": "ok"})
    fire(deal, "close_won")
    starts = [e for e in deal.core.unprojected_effects if e.type == "lifecycle.start"]
    # The others: the contract's renewal lifecycle (tests/unit/test_renewal_spec.py) and the
    # new customer's onboarding (tests/unit/test_onboarding_spec.py).
    assert [e.payload["kind"] for e in starts] == ["opportunity", "renewal", "onboarding"]
    payload = starts[0].payload
    assert payload["entity_id"] == "o-1-renewal-1"
    assert payload["data"]["record_type"] == "RENEWAL"
    assert payload["data"]["amount"] == payload["data"]["arr_up_for_renewal"] == "60000"
    assert payload["data"]["close_date"] == (NOW + timedelta(days=28)).date().isoformat()
    renewal = LifecycleInstance.open(OPPORTUNITY, payload["entity_id"], payload["data"], {}, NOW, actor="x")
    assert renewal.state == S.QUALIFICATION and renewal.data.renewal_of == "o-1"
    assert {e.name for e in deal.core.unprojected_effects} >= {"revops_set_up_billing", "closed_won_announced"}


def test_a_monthly_deal_closed_won_opens_no_renewal_only_the_onboarding():
    deal = opened(plan_type="MONTHLY", amount="1000")
    fire(deal, "close_won")
    starts = [e for e in deal.core.unprojected_effects if e.type == "lifecycle.start"]
    assert [e.payload["kind"] for e in starts] == ["onboarding"]


def test_a_new_customers_deal_closed_won_opens_its_onboarding():
    deal = opened(plan_type="MONTHLY", amount="1000", contract_start_date="2026-02-01")
    fire(deal, "close_won")
    (start,) = [e for e in deal.core.unprojected_effects if e.name == "open_onboarding"]
    assert start.payload["entity_id"] is None and start.payload["account_id"] == deal.data.account.id
    onboarding = LifecycleInstance.open(ONBOARDING, "acme/1", start.payload["data"], {}, NOW, actor="x")
    data = onboarding.data
    assert (onboarding.state, data.track, data.owner_role, data.opportunity_id) == (
        "PLAN_PENDING",
        "SALES_LED",
        "TAE",
        "o-1",
    )
    assert data.arr == deal.data.arr_discounted and data.credit_purchased_on.isoformat() == "2026-02-01"


@pytest.mark.parametrize("record_type", ["NEW_REVENUE_EXISTING_CUSTOMER", "EXISTING_CONVERT_TO_ANNUAL"])
def test_an_existing_customers_deal_opens_no_onboarding(record_type: str):
    deal = opened(plan_type="MONTHLY", amount="1000", record_type=record_type)
    fire(deal, "close_won")
    assert "open_onboarding" not in {e.name for e in deal.core.unprojected_effects}


def test_describe_lists_what_is_allowed_and_what_is_missing():
    deal = opened()
    described = {(a.trigger, a.to_state): a for a in deal.describe(NOW)}
    assert not described[("advance", S.SOLUTION_AGREEMENT)].allowed
    assert len(described[("advance", S.SOLUTION_AGREEMENT)].unmet) == 3
    assert described[("close_lost", S.CLOSED_LOST)].allowed
    assert not {trigger for trigger, _ in described} & {"follow_up_due", "silence_nudge", "next_step_overdue"}
    meet(deal, S.PROBLEM_AGREEMENT)
    assert {(a.trigger, a.to_state) for a in deal.describe(NOW) if a.allowed} >= {("advance", S.SOLUTION_AGREEMENT)}
