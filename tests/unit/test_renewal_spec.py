"""The renewal machine as a pure table: edges, refusals, timers, credits, risk, and its opportunity links."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from workflows.engine.errors import Forbidden, GuardFailed, InvalidTransition, Rejection, ValidationError
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import TIMER_ACTOR, Role
from workflows.opportunity import OPPORTUNITY
from workflows.renewal import RENEWAL, RenewalState, milestones

R = RenewalState
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
# A 12-month contract signed on 2026-01-01: it ends 2027-01-01.
CONTRACT = {
    "account": {"id": "acme", "name": "ACME"},
    "owner": "csm@example.com",
    "start_date": "2026-01-01",
    "credit_amount": "60000",
    "annual_spend": "45000",
    "renewal_opportunity_id": "deal-renewal-1",
}
END = datetime(2027, 1, 1, tzinfo=UTC)
T90 = END - timedelta(days=90)  # 2026-10-03
LAST_EARLY_DAY = date(2026, 11, 2)  # end - 60 days
SYSTEM = {"role": Role.SYSTEM, "actor": "lead@example.com"}


def opened(at: datetime = NOW, policy: dict[str, Any] | None = None, **fields: Any) -> LifecycleInstance:
    return LifecycleInstance.open(RENEWAL, "deal", {**CONTRACT, **fields}, policy or {}, at, actor="otto@example.com")


def fire(
    instance: LifecycleInstance,
    trigger: str,
    params: dict[str, Any] | None = None,
    *,
    role: Role = Role.OPERATOR,
    reason: str | None = None,
    at: datetime = NOW,
    actor: str = "otto@example.com",
):
    decision = instance.decide(trigger, params or {}, actor=actor, role=role, reason=reason, now=at)
    return instance.apply(decision, at)


def rejected(
    instance: LifecycleInstance, kind: type[Rejection], trigger: str, params: dict[str, Any] | None = None, **kw: Any
) -> Rejection:
    before = instance.core.model_copy(deep=True)
    with pytest.raises(kind) as caught:
        fire(instance, trigger, params, **kw)
    # A refusal changes nothing: not the state, the data, the history or the outbox.
    assert instance.core == before
    return caught.value


def run_until(instance: LifecycleInstance, until: datetime) -> list[tuple[str, datetime]]:
    """Fire every timer due up to ``until`` in order, as the workflow does: (trigger, moment) of each
    transition a timer applies, (effect, moment sent) of each effect a timer sends without one."""
    fired = []
    while (due := instance.next_due_timer(until)) is not None:
        timer, at = due
        outbox = len(instance.core.unprojected_effects)
        record = instance.fire_timer(timer, at, at)
        if record is not None:
            fired.append((record.trigger, at))
        elif timer.trigger is None:
            fired += [(e.name, e.at) for e in instance.core.unprojected_effects[outbox:]]
    return fired


def renew(instance: LifecycleInstance, at: datetime = NOW, **params: Any):
    return fire(
        instance,
        "renew",
        {
            "opportunity_id": "deal-renewal-1",
            "credit_amount": "60000",
            "annual_spend": "45000",
            "term_months": 12,
            "next_renewal_opportunity_id": "deal-renewal-2",
            **params,
        },
        at=at,
        **SYSTEM,
    )


def effects(instance: LifecycleInstance, seq: int | None = None) -> dict[str, Any]:
    seq = instance.core.seq if seq is None else seq
    return {e.name: e for e in instance.core.unprojected_effects if e.seq == seq}


# ---- opening ----------------------------------------------------------------------------------


def test_a_contract_opens_active_with_its_end_date_and_milestones():
    contract = opened()
    assert contract.state == R.ACTIVE and contract.data.end_date == date(2027, 1, 1)
    assert {d.timer: d.due_at for d in contract.deadlines(NOW)} == {
        "renewal_due": T90,
        "early_renewal_reminder": datetime(2026, 10, 26, tzinfo=UTC),
        "early_renewal_window_closes": datetime(2026, 11, 3, tzinfo=UTC),
        "expiry": END,
    }
    assert [(m.key, m.day) for m in milestones(contract.data, contract.policy)] == [
        ("renewal_due", date(2026, 10, 3)),
        ("early_renewal_reminder", date(2026, 10, 26)),
        ("early_renewal_window_closes", LAST_EARLY_DAY),
        ("end", date(2027, 1, 1)),
    ]
    # Its renewal opportunity exists already (the annual deal's Closed Won opened it).
    assert not contract.core.unprojected_effects


def test_multi_year_terms_end_term_months_later():
    assert opened(term_months=36, start_date="2026-01-31").data.end_date == date(2029, 1, 31)
    assert opened(term_months=1, start_date="2026-01-31").data.end_date == date(2026, 2, 28)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"term_months": 0}, "term_months"),
        ({"term_months": "a year"}, "term_months"),
        ({"stated_end_date": "2025-12-31"}, "stated_end_date"),
        ({"stated_end_date": "2026-01-01"}, "stated_end_date"),
        ({"stated_end_date": "2026-12-31"}, "stated_end_date"),
        ({"credit_amount": "-1"}, "credit_amount"),
        ({"annual_spend": "-0.01"}, "annual_spend"),
        ({"start_date": "soon"}, "start_date"),
        ({"start_date": "2024-06-01"}, "end_date"),
        ({"account": {"id": "", "name": "ACME"}}, "account.id"),
    ],
)
def test_bad_contracts_are_refused_per_field(fields, field):
    with pytest.raises(ValidationError) as caught:
        opened(**fields)
    assert [f["field"] for f in caught.value.details["fields"]] == [field]


def test_a_stated_end_date_must_be_start_plus_term():
    with pytest.raises(ValidationError) as caught:
        opened(stated_end_date="2026-12-31")
    assert caught.value.details["fields"][0]["message"] == "must be the start date plus the term: 2027-01-01"
    assert opened(stated_end_date="2027-01-01").data.end_date == date(2027, 1, 1)


def test_a_contract_registered_directly_opens_its_renewal_opportunity():
    contract = LifecycleInstance.open(
        RENEWAL,
        "legacy-7",
        {k: v for k, v in CONTRACT.items() if k != "renewal_opportunity_id"},
        {},
        NOW,
        actor="otto@example.com",
    )
    start = effects(contract)["open_renewal_opportunity"].payload
    assert (start["kind"], start["entity_id"]) == ("opportunity", "legacy-7-renewal-1")
    opportunity = LifecycleInstance.open(OPPORTUNITY, start["entity_id"], start["data"], {}, NOW, actor="x")
    assert opportunity.state == "QUALIFICATION" and opportunity.data.contract_id == "legacy-7"
    # Same ARR as the contract, no silence ladder, and its own win opens legacy-7-renewal-2.
    assert opportunity.data.arr_discounted == Decimal("45000.00")
    assert not opportunity.data.silence_timers_enabled
    assert opportunity.deadlines(NOW) == []
    assert opportunity.data.renewal_of == "legacy-7" and opportunity.data.renewal_generation == 1


# ---- the table of edges --------------------------------------------------------------------------


def in_state(state: RenewalState) -> LifecycleInstance:
    contract = opened()
    if state is R.RENEWAL_DUE:
        run_until(contract, T90)
    elif state is R.NEGOTIATING:
        fire(contract, "start_negotiation", {"opportunity_id": "deal-renewal-1"}, **SYSTEM)
    elif state is R.RENEWED:
        renew(contract)
    elif state is R.NOT_RENEWING:
        fire(contract, "decline", {"loss_reason": "PRICING"})
    elif state is R.EXPIRED:
        run_until(contract, END)
    assert contract.state == state
    return contract


MOVES: dict[str, tuple[dict[str, Any], dict[str, Any], set[RenewalState]]] = {
    # trigger: (params, how it is fired, the states it may leave)
    "start_negotiation": ({"opportunity_id": "deal-renewal-1"}, SYSTEM, {R.ACTIVE, R.RENEWAL_DUE}),
    "renew": (
        {"opportunity_id": "o", "credit_amount": "1", "annual_spend": "1", "term_months": 12},
        SYSTEM,
        {R.ACTIVE, R.RENEWAL_DUE, R.NEGOTIATING},
    ),
    "renewal_lost": (
        {"opportunity_id": "o", "loss_reason": "PRICING"},
        SYSTEM,
        {R.ACTIVE, R.RENEWAL_DUE, R.NEGOTIATING},
    ),
    "decline": ({"loss_reason": "PRICING"}, {}, {R.ACTIVE, R.RENEWAL_DUE, R.NEGOTIATING}),
    "mark_at_risk": ({}, {"reason": "usage down 40%"}, {R.ACTIVE, R.RENEWAL_DUE, R.NEGOTIATING, R.NOT_RENEWING}),
    "late_payment_risk": (
        {"invoice_id": "in_1", "at_risk": True},
        SYSTEM,
        {R.ACTIVE, R.RENEWAL_DUE, R.NEGOTIATING, R.NOT_RENEWING},
    ),
    "churn_risk": (
        {"churn_risk_id": "acme/1", "at_risk": True},
        SYSTEM,
        {R.ACTIVE, R.RENEWAL_DUE, R.NEGOTIATING, R.NOT_RENEWING},
    ),
    "record_credits_exhausted": (
        {},
        {},
        {R.ACTIVE, R.RENEWAL_DUE, R.NEGOTIATING, R.NOT_RENEWING, R.RENEWED},
    ),
}
DESTINATIONS = {"start_negotiation": R.NEGOTIATING, "renew": R.RENEWED, "renewal_lost": R.NOT_RENEWING}
DESTINATIONS["decline"] = R.NOT_RENEWING


@pytest.mark.parametrize("state", list(R))
@pytest.mark.parametrize("trigger", list(MOVES))
def test_each_trigger_leaves_exactly_its_states(trigger: str, state: RenewalState):
    params, how, sources = MOVES[trigger]
    contract = in_state(state)
    at = max(NOW, contract.core.updated_at)
    if state in sources:
        fire(contract, trigger, params, at=at, **how)
        assert contract.state == DESTINATIONS.get(trigger, state)
    else:
        error = rejected(contract, InvalidTransition, trigger, params, at=at, **how)
        assert error.details["state"] == state


def test_renewing_an_expired_contract_is_an_invalid_transition():
    contract = in_state(R.EXPIRED)
    error = rejected(
        contract,
        InvalidTransition,
        "renew",
        {"opportunity_id": "o", "credit_amount": "60000", "annual_spend": "45000", "term_months": 12},
        at=END + timedelta(days=1),
        **SYSTEM,
    )
    assert error.details == {"state": "EXPIRED", "allowed": []}


@pytest.mark.parametrize(
    "trigger", ["start_negotiation", "renew", "renewal_lost", "late_payment_risk", "churn_risk", "expire"]
)
def test_the_service_only_triggers_are_refused_to_callers(trigger: str):
    contract = opened()
    error = rejected(contract, Forbidden, trigger, {}, role=Role.ADMIN)
    assert error.details["required_role"] == "SYSTEM"
    assert trigger not in {a.trigger for a in contract.describe(NOW)}


def test_viewers_change_nothing():
    contract = opened()
    assert rejected(contract, Forbidden, "decline", {"loss_reason": "PRICING"}, role=Role.VIEWER)


# ---- the timers over a year ---------------------------------------------------------------------------


def test_a_year_without_a_renewal_fires_each_milestone_on_its_day_and_expires():
    contract = opened()
    assert run_until(contract, T90 - timedelta(seconds=1)) == []
    assert run_until(contract, END) == [
        ("mark_due", T90),
        ("early_renewal_closing", datetime(2026, 10, 26, tzinfo=UTC)),
        ("early_renewal_closed", datetime(2026, 11, 3, tzinfo=UTC)),
        ("expire", END),
    ]
    assert contract.state == R.EXPIRED and contract.terminal
    assert contract.deadlines(END) == []
    # The reminders tell the owner and leave the history alone.
    assert [r.trigger for r in contract.core.history] == ["open", "mark_due", "expire"]
    expired = effects(contract)
    assert expired["remaining_credits_removed"].type == "billing.remove_credits"
    assert expired["remaining_credits_removed"].payload == {
        "account_id": "acme",
        "contract_id": "deal",
        "on": "2027-01-01",
    }
    assert expired["account_on_monthly_plan"].payload["from"] == "2027-01-01"
    assert expired["contract_expired"].recipients == ["csm@example.com"]
    lapsed = expired["renewal_opportunity_lapsed"].payload
    assert lapsed["targets"] == [{"kind": "opportunity", "entity_id": "deal-renewal-1"}]
    assert (lapsed["trigger"], lapsed["params"]["loss_reason"]) == ("close_lost", "DISAPPEARED")
    assert not contract.data.on_prepaid_plan


def test_the_due_alert_names_the_early_renewal_deadline():
    contract = opened()
    run_until(contract, T90)
    due = effects(contract)["renewal_due"]
    assert due.recipients == ["csm@example.com"]
    assert "Signed by 2026-11-02, it earns the +5% early-renewal discount" in due.payload["body"]
    assert "churn_risk_review" not in effects(contract)


def test_the_early_window_closes_at_the_end_of_its_last_day():
    contract = opened()
    last_day_ends = datetime(2026, 11, 3, tzinfo=UTC)
    fired = run_until(contract, last_day_ends - timedelta(seconds=1))
    assert "early_renewal_closed" not in [name for name, _ in fired]
    assert run_until(contract, last_day_ends) == [("early_renewal_closed", last_day_ends)]
    closed = effects(contract)["early_renewal_closed"]
    assert closed.recipients == ["csm@example.com"]
    assert closed.payload["subject"] == "Early-renewal window closed: ACME contract deal"


def test_the_early_renewal_reminder_states_the_notice_of_the_pinned_policy():
    contract = opened()
    assert run_until(contract, datetime(2026, 10, 26, tzinfo=UTC))[-1] == (
        "early_renewal_closing",
        datetime(2026, 10, 26, tzinfo=UTC),
    )
    assert effects(contract)["early_renewal_closing"].payload["body"] == (
        "The early-renewal window of ACME contract deal closes in 7 days: a renewal signed by 2026-11-02 earns +5%; "
        "after that day it does not (004:4442)."
    )
    two_weeks = opened(policy={"early_renewal_reminder_before": "P14D"})
    assert run_until(two_weeks, datetime(2026, 10, 19, tzinfo=UTC))[-1] == (
        "early_renewal_closing",
        datetime(2026, 10, 19, tzinfo=UTC),
    )
    body = effects(two_weeks)["early_renewal_closing"].payload["body"]
    assert body.startswith(
        "The early-renewal window of ACME contract deal closes in 14 days: a renewal signed by 2026-11-02"
    )


def test_a_contract_negotiating_early_still_marks_its_ninety_days():
    contract = opened()
    fire(contract, "start_negotiation", {"opportunity_id": "deal-renewal-1"}, **SYSTEM)
    assert run_until(contract, T90) == [("mark_due", T90)]
    assert contract.state == R.NEGOTIATING
    assert contract.core.history[-1].to_state == R.NEGOTIATING


def test_milestones_already_past_when_registered_are_not_announced_but_the_state_catches_up():
    late = datetime(2026, 11, 10, tzinfo=UTC)
    contract = opened(at=late)
    assert run_until(contract, late) == [("mark_due", T90)]
    assert contract.state == R.RENEWAL_DUE
    assert [d.timer for d in contract.deadlines(late)] == ["expiry"]


# ---- renewed through the renewal opportunity ---------------------------------------------------------


def test_a_renewal_signed_early_earns_the_discount_and_starts_the_successor_at_the_old_end():
    contract = opened()
    fire(contract, "start_negotiation", {"opportunity_id": "deal-renewal-1"}, **SYSTEM)
    signed_at = datetime(2026, 11, 2, 15, tzinfo=UTC)  # the last early day
    record = renew(contract, at=signed_at, credit_amount="80000", annual_spend="56000")
    assert (record.from_state, record.to_state, contract.terminal) == (R.NEGOTIATING, R.RENEWED, True)
    signed = contract.data.renewal
    assert signed.early_renewal_discount and signed.signed_on == date(2026, 11, 2)
    assert signed.rollover_allowance == Decimal("30000.00")  # half of 60k: 56k a year >= 45k
    start = effects(contract)["successor_contract"].payload
    assert (start["kind"], start["entity_id"]) == ("renewal", "deal-renewal-1")
    successor = LifecycleInstance.open(RENEWAL, start["entity_id"], start["data"], {}, signed_at, actor="x")
    assert successor.data.start_date == date(2027, 1, 1) and successor.data.end_date == date(2028, 1, 1)
    assert successor.data.renewal_of == "deal" and successor.data.renewal_opportunity_id == "deal-renewal-2"
    assert successor.data.credit_amount == Decimal(80000) and successor.data.annual_spend == Decimal(56000)
    assert not successor.core.unprojected_effects  # its renewal opportunity exists already
    notice = effects(contract)["renewal_signed"]
    assert notice.recipients == ["csm@example.com", "role:revops"]
    assert "+5%" in notice.payload["body"] and "$30,000.00" in notice.payload["body"]


def test_a_late_smaller_renewal_earns_no_early_discount_and_rolls_nothing_over():
    contract = opened()
    renew(contract, at=datetime(2026, 11, 3, 0, 1, tzinfo=UTC), credit_amount="40000", annual_spend="32000")
    assert not contract.data.renewal.early_renewal_discount
    assert contract.data.renewal.rollover_allowance == 0
    body = effects(contract)["renewal_signed"].payload["body"]
    assert "needs 60+ days (last day 2026-11-02)" in body and "No credit rolls over" in body


def test_at_the_end_of_a_renewed_term_credit_rolls_over_and_the_rest_is_removed():
    contract = opened()
    renew(contract)
    assert [d.timer for d in contract.deadlines(NOW)] == ["term_end"]
    assert run_until(contract, END) == [("credits_rolled_over", END), ("remaining_credits_removed", END)]
    assert [r.trigger for r in contract.core.history] == ["open", "renew"]
    ended = effects(contract)
    assert ended["credits_rolled_over"].payload == {
        "account_id": "acme",
        "contract_id": "deal",
        "to_contract_id": "deal-renewal-1",
        "up_to": "30000.00",
    }
    assert "remaining_credits_removed" in ended
    assert contract.deadlines(END) == []


# ---- not renewing ---------------------------------------------------------------------------------------


def test_declining_closes_the_renewal_opportunity_with_the_reason_and_expires_at_the_end():
    contract = opened()
    fire(contract, "decline", {"loss_reason": "COMPETITOR", "loss_note": "Moved to X"})
    assert contract.state == R.NOT_RENEWING
    assert contract.data.not_renewing.loss_reason == "COMPETITOR"
    lost = effects(contract)["renewal_opportunity_lost"].payload
    assert lost["targets"] == [{"kind": "opportunity", "entity_id": "deal-renewal-1"}]
    assert lost["params"] == {"loss_reason": "COMPETITOR", "loss_note": "Moved to X"}
    assert [t for t, _ in run_until(contract, END)] == ["expire"]
    assert "renewal_opportunity_lapsed" not in effects(contract)
    assert "remaining_credits_removed" in effects(contract)


@pytest.mark.parametrize(("params", "field"), [({}, "loss_reason"), ({"loss_reason": "MOON_PHASE"}, "loss_reason")])
def test_declining_needs_a_reason_from_the_loss_list(params, field):
    error = rejected(opened(), ValidationError, "decline", params)
    assert error.details["fields"][0]["field"] == field


def test_the_renewal_opportunity_lost_means_not_renewing():
    contract = opened()
    fire(contract, "renewal_lost", {"opportunity_id": "deal-renewal-1", "loss_reason": "PRICING"}, **SYSTEM)
    assert contract.state == R.NOT_RENEWING
    assert not effects(contract)  # the opportunity is closed already


# ---- credits running out ------------------------------------------------------------------------------


def test_credits_out_without_a_renewal_mean_pay_as_you_go_and_no_early_discount():
    contract = opened()
    at = datetime(2026, 8, 1, 10, tzinfo=UTC)
    fire(contract, "record_credits_exhausted", {"exhausted_on": "2026-07-30"}, at=at)
    assert contract.data.credits_exhausted.usage_covered_until is None
    assert not contract.data.on_prepaid_plan
    done = effects(contract)
    assert done["usage_billed_pay_as_you_go"].payload["from"] == "2026-07-30"
    assert "usage_covered" not in done
    assert "early-renewal discount is lost" in done["credits_exhausted"].payload["body"]
    # The early-renewal window is gone, so nothing announces it any more.
    assert [d.timer for d in contract.deadlines(at)] == ["renewal_due", "expiry"]
    renew(contract, at=datetime(2026, 8, 2, tzinfo=UTC))
    assert not contract.data.renewal.early_renewal_discount


def test_credits_out_late_with_a_renewal_signed_before_are_covered_until_the_end():
    contract = opened()
    renew(contract, at=datetime(2026, 10, 20, tzinfo=UTC), credit_amount="60000")
    fire(contract, "record_credits_exhausted", at=datetime(2026, 11, 15, 12, tzinfo=UTC))
    assert contract.data.credits_exhausted.exhausted_on == date(2026, 11, 15)
    assert contract.data.credits_exhausted.usage_covered_until == date(2027, 1, 1)
    covered = effects(contract)
    assert covered["usage_covered"].payload == {"account_id": "acme", "contract_id": "deal", "until": "2027-01-01"}
    assert "usage_billed_pay_as_you_go" not in covered


@pytest.mark.parametrize(
    ("signed", "amount", "exhausted", "unmet"),
    [
        ("2026-10-20", "50000", "2026-11-15", "less than the current"),
        ("2026-10-20", "60000", "2026-11-01", "months or more left"),
        ("2026-11-16", "60000", "2026-11-15", "after they ran out"),
    ],
)
def test_credits_out_are_not_covered_unless_every_condition_holds(signed, amount, exhausted, unmet):
    contract = opened()
    renew(contract, at=datetime.fromisoformat(signed).replace(tzinfo=UTC), credit_amount=amount)
    fire(contract, "record_credits_exhausted", {"exhausted_on": exhausted}, at=datetime(2026, 11, 20, tzinfo=UTC))
    assert contract.data.credits_exhausted.usage_covered_until is None
    assert unmet in effects(contract)["credits_exhausted"].payload["body"]
    assert "usage_billed_pay_as_you_go" in effects(contract)


@pytest.mark.parametrize(
    ("on", "message"),
    [
        ("2026-01-06", "must not be in the future"),
        ("2025-12-31", "must not be before the contract started (2026-01-01)"),
        ("not a date", None),
    ],
)
def test_credits_out_on_a_bad_day_are_refused(on, message):
    error = rejected(opened(), ValidationError, "record_credits_exhausted", {"exhausted_on": on})
    assert error.details["fields"][0]["field"] == "exhausted_on"
    if message:
        assert error.details["fields"][0]["message"] == message


def test_credits_run_out_once():
    contract = opened()
    fire(contract, "record_credits_exhausted")
    error = rejected(contract, GuardFailed, "record_credits_exhausted")
    assert "already recorded as run out on 2026-01-05" in error.message


# ---- at risk ---------------------------------------------------------------------------------------------


def test_operators_flag_with_a_reason_and_clear_their_own_flag():
    contract = opened()
    missing = rejected(contract, GuardFailed, "mark_at_risk")
    assert missing.details["unmet"][0]["guard"] == "reason_required"
    assert rejected(contract, GuardFailed, "clear_at_risk", reason="fine").details["unmet"][0]["guard"] == (
        "flagged_at_risk"
    )
    fire(contract, "mark_at_risk", reason="Champion left, no replacement")
    assert contract.data.at_risk and contract.data.at_risk_flag.reason == "Champion left, no replacement"
    assert not effects(contract)  # more than 90 days out: no churn review yet
    fire(contract, "clear_at_risk", reason="New champion engaged")
    assert not contract.data.at_risk and contract.data.at_risk_flag is None


def test_late_payments_put_the_renewal_at_risk_while_any_invoice_is_suspended_or_worse():
    contract = opened()
    fire(contract, "late_payment_risk", {"invoice_id": "in_1", "at_risk": True}, **SYSTEM)
    fire(contract, "late_payment_risk", {"invoice_id": "in_2", "at_risk": True}, **SYSTEM)
    again = rejected(contract, GuardFailed, "late_payment_risk", {"invoice_id": "in_1", "at_risk": True}, **SYSTEM)
    assert again.details["unmet"][0]["message"] == "Invoice in_1 already puts this renewal at risk."
    fire(contract, "late_payment_risk", {"invoice_id": "in_1", "at_risk": False}, **SYSTEM)
    assert contract.data.at_risk and contract.data.at_risk_invoices == ["in_2"]
    fire(contract, "late_payment_risk", {"invoice_id": "in_2", "at_risk": False}, **SYSTEM)
    assert not contract.data.at_risk
    unknown = rejected(contract, GuardFailed, "late_payment_risk", {"invoice_id": "in_9", "at_risk": False}, **SYSTEM)
    assert "does not put this renewal at risk" in unknown.message
    bad = rejected(contract, ValidationError, "late_payment_risk", {"invoice_id": "in_9"}, **SYSTEM)
    assert bad.details["fields"][0]["field"] == "at_risk"


def test_a_churn_risk_marks_the_renewal_at_risk_and_clears_only_its_own_flag():
    contract = opened()
    fire(contract, "mark_at_risk", reason="usage down 40%")
    fire(contract, "churn_risk", {"churn_risk_id": "acme/1", "at_risk": True}, **SYSTEM)
    again = rejected(contract, GuardFailed, "churn_risk", {"churn_risk_id": "acme/1", "at_risk": True}, **SYSTEM)
    assert again.details["unmet"][0]["message"] == "Churn risk acme/1 already puts this renewal at risk."
    fire(contract, "churn_risk", {"churn_risk_id": "acme/1", "at_risk": False}, **SYSTEM)
    assert contract.data.at_risk_churn_risks == []
    assert contract.data.at_risk and contract.data.at_risk_flag is not None  # the operator's flag stays
    fire(contract, "clear_at_risk", reason="usage recovered")
    fire(contract, "churn_risk", {"churn_risk_id": "acme/2", "at_risk": True}, **SYSTEM)
    assert contract.data.at_risk and contract.data.at_risk_churn_risks == ["acme/2"]
    unknown = rejected(contract, GuardFailed, "churn_risk", {"churn_risk_id": "acme/9", "at_risk": False}, **SYSTEM)
    assert "does not put this renewal at risk" in unknown.message
    bad = rejected(contract, ValidationError, "churn_risk", {"churn_risk_id": "acme/9"}, **SYSTEM)
    assert bad.details["fields"][0]["field"] == "at_risk"


def test_an_at_risk_contract_goes_to_the_churn_review_at_ninety_days_once_per_stretch():
    contract = opened()
    fire(contract, "late_payment_risk", {"invoice_id": "in_1", "at_risk": True}, **SYSTEM)
    run_until(contract, T90)
    review = effects(contract)["churn_risk_review"]
    assert review.recipients == ["csm@example.com", "channel:customer-churn"]
    assert "invoice in_1 unpaid" in review.payload["body"]
    later = T90 + timedelta(days=2)
    fire(contract, "mark_at_risk", reason="Asked for a full data export", at=later)
    assert "churn_risk_review" not in effects(contract)  # already under review
    fire(contract, "late_payment_risk", {"invoice_id": "in_1", "at_risk": False}, at=later, **SYSTEM)
    fire(contract, "clear_at_risk", reason="Export was for a backup", at=later)
    fire(contract, "mark_at_risk", reason="Usage dropped 30%", at=later + timedelta(days=1))
    assert "Usage dropped 30%" in effects(contract)["churn_risk_review"].payload["body"]


def test_a_contract_not_renewing_goes_to_no_churn_review():
    contract = opened()
    fire(contract, "decline", {"loss_reason": "PRICING"})
    fire(contract, "mark_at_risk", reason="Unresponsive", at=T90 + timedelta(days=1))
    assert contract.data.at_risk and "churn_risk_review" not in effects(contract)


# ---- the opportunity drives the contract ----------------------------------------------------------------

DEAL = {
    "name": "ACME analytics",
    "account": {"id": "acme", "name": "ACME"},
    "owner": "csm@example.com",
    "close_date": "2026-01-05",
    "amount": "60000",
    "discount_percent": "25",
    "plan_type": "ANNUAL",
    "contract_start_date": "2026-01-01",
}


def won(entity_id: str, stage: str, **fields: Any) -> LifecycleInstance:
    deal = LifecycleInstance.open(OPPORTUNITY, entity_id, {**DEAL, **fields}, {}, NOW, actor="x", initial_state=stage)
    criterion = {"VENDOR_APPROVAL": "VENDOR_APPROVAL", "QUALIFICATION": "COMMERCIAL_LEGAL_REVIEW"}[stage]
    fire(deal, "record_criterion", {"stage": criterion, "criterion": "contract_signed", "evidence": "PandaDoc"})
    fire(deal, "close_won")
    return deal


def test_an_annual_deal_won_opens_its_contract_renewal_with_the_deal_id():
    deal = won("deal", "VENDOR_APPROVAL")
    start = effects(deal)["open_contract_renewal"].payload
    assert (start["kind"], start["entity_id"]) == ("renewal", "deal")
    contract = LifecycleInstance.open(RENEWAL, "deal", start["data"], {}, NOW, actor="x")
    assert contract.data.start_date == date(2026, 1, 1) and contract.data.end_date == date(2027, 1, 1)
    assert contract.data.credit_amount == Decimal(60000) and contract.data.annual_spend == Decimal("45000.00")
    assert contract.data.renewal_opportunity_id == "deal-renewal-1"
    renewal = effects(deal)["open_renewal_opportunity"].payload
    assert renewal["entity_id"] == "deal-renewal-1" and renewal["data"]["contract_id"] == "deal"
    assert renewal["data"]["silence_timers_enabled"] is False
    assert "contract_renewed" not in effects(deal)


def test_the_renewal_opportunity_moves_its_contract():
    renewal = LifecycleInstance.open(
        OPPORTUNITY,
        "deal-renewal-1",
        {**DEAL, "record_type": "RENEWAL", "contract_id": "deal", "renewal_of": "deal", "renewal_generation": 1},
        {},
        NOW,
        actor="x",
    )
    fire(renewal, "advance")  # to MEETING_BOOKED: still steady state
    assert "contract_negotiating" not in effects(renewal)
    fire(renewal, "advance")  # to PRODUCT_EVALUATION
    negotiating = effects(renewal)["contract_negotiating"].payload
    assert negotiating["targets"] == [{"kind": "renewal", "entity_id": "deal"}]
    assert (negotiating["trigger"], negotiating["params"]) == (
        "start_negotiation",
        {"opportunity_id": "deal-renewal-1"},
    )
    fire(
        renewal,
        "record_criterion",
        {"stage": "COMMERCIAL_LEGAL_REVIEW", "criterion": "contract_signed", "evidence": "ok"},
    )
    fire(renewal, "close_won")
    renewed = effects(renewal)["contract_renewed"].payload
    assert renewed["trigger"] == "renew" and renewed["targets"] == [{"kind": "renewal", "entity_id": "deal"}]
    assert renewed["params"] == {
        "opportunity_id": "deal-renewal-1",
        "credit_amount": "60000",
        "annual_spend": "45000.00",
        "term_months": 12,
        "next_renewal_opportunity_id": "deal-renewal-2",
    }
    # A renewal's win renews its contract; it does not open a second one.
    assert "open_contract_renewal" not in effects(renewal)
    assert effects(renewal)["open_renewal_opportunity"].payload["data"]["contract_id"] == "deal-renewal-1"


def test_the_renewal_opportunity_lost_ends_its_contract():
    renewal = LifecycleInstance.open(
        OPPORTUNITY, "deal-renewal-1", {**DEAL, "record_type": "RENEWAL", "contract_id": "deal"}, {}, NOW, actor="x"
    )
    fire(renewal, "close_lost", {"loss_reason": "PRICING", "loss_note": "Budget cut"})
    lost = effects(renewal)["contract_not_renewing"].payload
    assert lost["trigger"] == "renewal_lost"
    assert lost["params"] == {"opportunity_id": "deal-renewal-1", "loss_reason": "PRICING", "loss_note": "Budget cut"}


def test_a_deal_without_a_contract_fires_nothing_at_contracts():
    deal = LifecycleInstance.open(OPPORTUNITY, "d", {**DEAL, "record_type": "RENEWAL"}, {}, NOW, actor="x")
    fire(deal, "close_lost", {"loss_reason": "PRICING"})
    assert "contract_not_renewing" not in effects(deal)


def test_timer_actor_is_recorded_for_milestones():
    contract = opened()
    run_until(contract, T90)
    assert contract.core.history[-1].actor == TIMER_ACTOR
