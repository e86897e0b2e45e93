"""The late-payment ladder as a pure table: every step, every resolution, every refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from workflows.engine.errors import Forbidden, GuardFailed, InvalidTransition, Rejection, ValidationError
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import Role
from workflows.late_payment import LATE_PAYMENT, LatePaymentState

S = LatePaymentState
NOW = datetime(2026, 6, 10, 14, 30, tzinfo=UTC)
INVOICE = {
    "invoice_id": "in_1",
    "account": {"id": "acme", "name": "ACME"},
    "owner": "csm@example.com",
    "amount": "4200.00",
    "currency": "usd",
    "collection_method": "INVOICE",
    "due_date": "2026-06-09",
    "contact_emails": ["ap@acme.test"],
    "finance_emails": ["finance@acme.test"],
    "active_user_emails": ["dev1@acme.test", "dev2@acme.test"],
}
T0 = datetime(2026, 6, 10, tzinfo=UTC)  # the day after the due date


def opened(**fields: Any) -> LifecycleInstance:
    return LifecycleInstance.open(LATE_PAYMENT, "in_1", {**INVOICE, **fields}, {}, NOW, actor="stripe")


def fire(instance, trigger, params=None, *, role=Role.OPERATOR, reason=None, at=NOW):
    decision = instance.decide(trigger, params or {}, actor="csm@example.com", role=role, reason=reason, now=at)
    return instance.apply(decision, at)


def rejected(instance, kind: type[Rejection], trigger, params=None, **kwargs) -> Rejection:
    before = instance.core.model_copy(deep=True)
    with pytest.raises(kind) as caught:
        fire(instance, trigger, params, **kwargs)
    assert instance.core == before
    return caught.value


def run_until(instance: LifecycleInstance, moment: datetime) -> list[tuple[str, datetime]]:
    fired = []
    while (due := instance.next_due_timer(moment)) is not None:
        timer, at = due
        record = instance.fire_timer(timer, at, at)
        fired.append((record.to_state, at))
    return fired


def effects(instance: LifecycleInstance) -> list[tuple[str, str]]:
    return [(e.type, e.name) for e in instance.core.unprojected_effects]


def test_the_whole_ladder_day_by_day():
    invoice = opened()
    assert invoice.state == S.OVERDUE
    assert run_until(invoice, T0 + timedelta(days=30)) == [
        (S.SUSPENSION_WARNING, T0 + timedelta(days=6)),
        (S.SUSPENDED, T0 + timedelta(days=7)),
        (S.CANCELLATION_WARNING, T0 + timedelta(days=13)),
        (S.CANCELLED, T0 + timedelta(days=14)),
    ]
    assert [name for _, name in effects(invoice)] == [
        "owner_alerted",
        "risk_flag_on",
        "payment_requested",
        "suspension_tomorrow",
        "access_suspended",
        "access_suspended_notice",
        "renewals_at_risk",
        "cancellation_tomorrow",
        "subscription_cancelled",
        "cancelled_owner_notice",
    ]
    suspend = next(e for e in invoice.core.unprojected_effects if e.name == "access_suspended")
    assert suspend.type == "access.suspend"
    assert suspend.payload["reason"] == "Access revoked due to an unpaid balance."
    assert invoice.terminal and invoice.deadlines(T0 + timedelta(days=30)) == []


def message(instance: LifecycleInstance, name: str) -> dict[str, Any]:
    [effect] = [e for e in instance.core.unprojected_effects if e.name == name]
    return effect.payload


def test_the_messages_tell_the_default_ladder():
    invoice = opened()
    assert message(invoice, "payment_requested")["body"] == (
        "We have not received 4,200.00 USD for invoice in_1. The invoice in_1 is attached to your account's billing "
        "page. If we do not receive payment in the next 7 calendar days, user access will be suspended."
    )
    assert message(invoice, "owner_alerted")["body"].endswith("access is suspended on 2026-06-17 without payment.")
    run_until(invoice, T0 + timedelta(days=14))
    assert message(invoice, "suspension_tomorrow")["subject"] == "Access to ACME will be suspended tomorrow"
    assert (
        "If this isn't resolved in the next 7 calendar days the account reverts"
        in (message(invoice, "access_suspended_notice")["body"])
    )
    assert message(invoice, "cancellation_tomorrow")["subject"] == "Your subscription ends tomorrow (ACME)"


def test_the_messages_follow_the_pinned_policy_not_the_handbook_defaults():
    policy = {
        "suspension_warning_after": "P2D",
        "suspend_after": "P4D",
        "cancellation_warning_after": "P5D",
        "cancel_after": "P10D",
    }
    invoice = LifecycleInstance.open(LATE_PAYMENT, "in_1", INVOICE, policy, NOW, actor="stripe")
    assert (
        "If we do not receive payment in the next 4 calendar days, user access will be suspended."
        in (message(invoice, "payment_requested")["body"])
    )
    assert message(invoice, "owner_alerted")["body"].endswith("access is suspended on 2026-06-14 without payment.")
    run_until(invoice, T0 + timedelta(days=2))
    assert message(invoice, "suspension_tomorrow")["subject"] == "Access to ACME will be suspended on 2026-06-14"
    run_until(invoice, T0 + timedelta(days=5))
    assert (
        "If this isn't resolved in the next 6 calendar days the account reverts"
        in (message(invoice, "access_suspended_notice")["body"])
    )
    assert message(invoice, "cancellation_tomorrow")["subject"] == "Your subscription ends on 2026-06-20 (ACME)"


def test_an_extension_moves_the_dates_people_are_told():
    invoice = opened()
    fire(invoice, "grant_extension", {"until": "2026-06-19T00:00:00+00:00"}, reason="paying on Friday")
    run_until(invoice, datetime(2026, 6, 19, tzinfo=UTC))
    assert message(invoice, "suspension_tomorrow")["subject"] == "Access to ACME will be suspended tomorrow"
    assert invoice.deadlines(datetime(2026, 6, 19, tzinfo=UTC))[0].due_at == datetime(2026, 6, 20, tzinfo=UTC)


def test_catching_up_skips_a_notice_its_own_next_step_supersedes():
    invoice = opened()
    late = T0 + timedelta(days=7, hours=3)  # the worker was down over day 6 and day 7
    while (due := invoice.next_due_timer(late)) is not None:
        invoice.fire_timer(*due, late)
    assert invoice.state == S.SUSPENDED
    warning = next(e for e in invoice.core.unprojected_effects if e.name == "suspension_tomorrow")
    assert warning.skipped and warning.skipped.startswith("Superseded: The suspension: user access is blocked")
    assert warning.id not in invoice.core.undelivered_effects
    notice = next(e for e in invoice.core.unprojected_effects if e.name == "access_suspended_notice")
    assert notice.skipped is None and notice.id in invoice.core.undelivered_effects
    # On time, nothing is superseded.
    on_time = opened()
    run_until(on_time, T0 + timedelta(days=14))
    assert not [e for e in on_time.core.unprojected_effects if e.skipped]


def test_runs_started_before_the_patch_send_every_notice():
    invoice = LifecycleInstance.open(LATE_PAYMENT, "in_1", INVOICE, {}, NOW, actor="stripe", patches=frozenset())
    late = T0 + timedelta(days=7, hours=3)
    while (due := invoice.next_due_timer(late)) is not None:
        invoice.fire_timer(*due, late)
    assert not [e for e in invoice.core.unprojected_effects if e.skipped]


def test_day_zero_for_a_card_is_the_first_failure():
    card = opened(collection_method="CARD", due_date=None, failed_attempts=1)
    assert [d.due_at for d in card.deadlines(NOW)] == [NOW + timedelta(days=6)]


def test_who_is_alerted_and_who_is_asked_to_pay():
    owned = opened()
    alert = next(e for e in owned.core.unprojected_effects if e.name == "owner_alerted")
    assert alert.recipients == ["csm@example.com", "channel:sales-alerts"]
    ask = next(e for e in owned.core.unprojected_effects if e.name == "payment_requested")
    assert ask.recipients == ["ap@acme.test", "finance@acme.test"]
    assert "7 calendar days" in ask.payload["body"]

    small = opened(owner=None, amount="1499.99")
    assert next(e for e in small.core.unprojected_effects if e.name == "owner_alerted").recipients == [
        "role:revenue_lead",
        "channel:sales-alerts",
    ]
    large = opened(owner=None, amount="1500")
    assert next(e for e in large.core.unprojected_effects if e.name == "owner_alerted").recipients == [
        "role:billing_escalation",
        "channel:sales-alerts",
    ]


def test_payment_before_suspension_settles_without_touching_access():
    invoice = opened()
    run_until(invoice, T0 + timedelta(days=3))
    fire(invoice, "record_payment", {"amount": "4200"}, at=T0 + timedelta(days=3))
    assert invoice.state == S.PAID
    names = [name for _, name in effects(invoice)]
    assert "access_restored" not in names and "risk_flag_off" in names


def test_payment_after_suspension_restores_access():
    invoice = opened()
    run_until(invoice, T0 + timedelta(days=9))
    assert invoice.state == S.SUSPENDED and invoice.data.access_suspended
    fire(invoice, "record_payment", {"amount": "4200"}, at=T0 + timedelta(days=9))
    assert invoice.state == S.PAID and not invoice.data.access_suspended
    assert ("access.restore", "access_restored") in effects(invoice)
    assert ("lifecycle.fire", "renewals_risk_cleared") in effects(invoice)


def test_withheld_tax_and_partial_payments_leave_the_invoice_open():
    invoice = opened()
    partial = fire(invoice, "record_payment", {"amount": "3780", "tax_withheld": "420"})
    assert (partial.to_state, invoice.data.owed) == (S.OVERDUE, Decimal("420.00"))
    fire(invoice, "record_payment", {"amount": "420"})
    assert invoice.state == S.PAID


def test_payment_after_cancellation_is_refused():
    invoice = opened()
    run_until(invoice, T0 + timedelta(days=15))
    error = rejected(invoice, InvalidTransition, "record_payment", {"amount": "4200"})
    assert error.details["state"] == S.CANCELLED and error.details["allowed"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "-10"}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"amount": "10", "tax_withheld": "-1"}, "tax_withheld"),
    ],
)
def test_bad_payments_are_refused(params, field):
    error = rejected(opened(), ValidationError, "record_payment", params)
    assert [f["field"] for f in error.details["fields"]] == [field]


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"amount": "0"}, ["amount"]),
        ({"amount": "-5"}, ["amount"]),
        ({"currency": "XYZ"}, ["currency"]),
        ({"currency": "dollars"}, ["currency"]),
        ({"due_date": None}, ["due_date"]),
        ({"due_date": "2026-06-30"}, ["due_date"]),
        ({"consecutive_missed_periods": 2}, ["typical_monthly_usage"]),
        ({"contact_emails": ["not-an-email"]}, ["contact_emails.0"]),
    ],
)
def test_a_new_late_payment_with_bad_fields_is_refused(fields, bad):
    with pytest.raises(ValidationError) as caught:
        opened(**fields)
    assert sorted(f["field"] for f in caught.value.details["fields"]) == bad


def test_four_failed_card_attempts_then_collection_stops():
    card = opened(collection_method="CARD", due_date=None, failed_attempts=1)
    for attempt in (2, 3, 4):
        fire(card, "record_failed_attempt", {"attempt": attempt, "failure_message": "card_declined"})
    alerts = [e for e in card.core.unprojected_effects if e.name == "failed_attempt_alert"]
    assert [a.payload["subject"].split(")")[0] for a in alerts] == [
        "Card charge failed (2/4",
        "Card charge failed (3/4",
        "Card charge failed (4/4",
    ]
    assert ("collection.stop", "automatic_collection_stopped") in effects(card)
    error = rejected(card, GuardFailed, "record_failed_attempt", {"attempt": 5})
    assert "stopped after 4" in error.message
    # A later successful charge still pays.
    fire(card, "record_payment", {"amount": "4200", "reference": "ch_123"})
    assert card.state == S.PAID


def test_a_repeated_attempt_report_is_refused_and_changes_nothing():
    card = opened(collection_method="CARD", due_date=None, failed_attempts=2)
    error = rejected(card, ValidationError, "record_failed_attempt", {"attempt": 2})
    assert error.details["fields"][0]["field"] == "attempt"
    rejected(opened(), GuardFailed, "record_failed_attempt", {"attempt": 1})


def test_an_extension_pushes_every_remaining_deadline():
    invoice = opened()
    run_until(invoice, T0 + timedelta(days=6, hours=1))
    assert invoice.state == S.SUSPENSION_WARNING
    until = T0 + timedelta(days=10)
    fire(
        invoice,
        "grant_extension",
        {"until": until.isoformat()},
        reason="PO stuck in procurement",
        at=T0 + timedelta(days=6, hours=1),
    )
    assert run_until(invoice, T0 + timedelta(days=30)) == [
        (S.SUSPENDED, until),
        (S.CANCELLATION_WARNING, T0 + timedelta(days=16)),
        (S.CANCELLED, T0 + timedelta(days=17)),
    ]
    assert invoice.data.extensions[0].reason == "PO stuck in procurement"


def test_extensions_need_a_reason_and_a_later_date():
    invoice = opened()
    at = T0 + timedelta(days=2)
    assert (
        rejected(
            invoice, GuardFailed, "grant_extension", {"until": (T0 + timedelta(days=9)).isoformat()}, at=at
        ).details["unmet"][0]["guard"]
        == "reason_required"
    )
    past = rejected(
        invoice, ValidationError, "grant_extension", {"until": (T0 + timedelta(days=1)).isoformat()}, reason="x", at=at
    )
    assert past.details["fields"] == [{"field": "until", "message": "must be in the future"}]
    early = rejected(
        invoice, ValidationError, "grant_extension", {"until": (T0 + timedelta(days=5)).isoformat()}, reason="x", at=at
    )
    assert "after the current deadline" in early.details["fields"][0]["message"]
    naive = rejected(invoice, ValidationError, "grant_extension", {"until": "2026-07-01T00:00:00"}, reason="x", at=at)
    assert naive.details["fields"][0]["field"] == "until"


def test_credit_notes_lower_what_is_owed_and_zero_resolves():
    invoice = opened()
    run_until(invoice, T0 + timedelta(days=8))
    fire(invoice, "apply_credit_note", {"amount": "200", "credit_note_id": "cn_1"}, at=T0 + timedelta(days=8))
    assert (invoice.state, invoice.data.owed) == (S.SUSPENDED, Decimal("4000.00"))
    too_much = rejected(invoice, ValidationError, "apply_credit_note", {"amount": "5000"}, at=T0 + timedelta(days=8))
    assert "exceeds the amount owed" in too_much.details["fields"][0]["message"]
    fire(invoice, "apply_credit_note", {"amount": "4000", "credit_note_id": "cn_2"}, at=T0 + timedelta(days=8))
    assert invoice.state == S.PAID and ("access.restore", "access_restored") in effects(invoice)


def test_admins_void_with_a_reason():
    invoice = opened()
    assert rejected(invoice, Forbidden, "void", reason="duplicate").details["required_role"] == "ADMIN"
    assert rejected(invoice, GuardFailed, "void", role=Role.ADMIN).details["unmet"][0]["guard"] == "reason_required"
    fire(invoice, "void", role=Role.ADMIN, reason="duplicate invoice")
    assert invoice.state == S.VOIDED and invoice.data.void_reason == "duplicate invoice"


def test_the_third_missed_period_needs_an_advance_before_access_returns():
    invoice = opened(consecutive_missed_periods=2, typical_monthly_usage="1000")
    run_until(invoice, T0 + timedelta(days=8))
    fire(invoice, "record_payment", {"amount": "4200"}, at=T0 + timedelta(days=8))
    assert invoice.state == S.ADVANCE_PAYMENT_REQUIRED and invoice.data.access_suspended
    ask = next(e for e in invoice.core.unprojected_effects if e.name == "advance_requested")
    assert "3,000.00 USD" in ask.payload["body"]
    short = rejected(invoice, GuardFailed, "record_advance_payment", {"amount": "2999.99"}, at=T0 + timedelta(days=9))
    assert "at least 3,000.00 USD" in short.message
    fire(invoice, "record_advance_payment", {"amount": "3000"}, at=T0 + timedelta(days=9))
    assert invoice.state == S.PAID and ("access.restore", "access_restored") in effects(invoice)


def test_no_advance_in_time_cancels():
    invoice = opened(consecutive_missed_periods=2, typical_monthly_usage="1000")
    run_until(invoice, T0 + timedelta(days=8))
    fire(invoice, "record_payment", {"amount": "4200"}, at=T0 + timedelta(days=8))
    assert run_until(invoice, T0 + timedelta(days=40)) == [(S.CANCELLED, T0 + timedelta(days=22))]


def test_the_third_missed_period_paid_before_suspension_needs_no_advance():
    invoice = opened(consecutive_missed_periods=2, typical_monthly_usage="1000")
    fire(invoice, "record_payment", {"amount": "4200"})
    assert invoice.state == S.PAID


@pytest.mark.parametrize("trigger", ["warn_suspension", "suspend", "warn_cancellation", "cancel"])
def test_ladder_steps_belong_to_the_service(trigger):
    rejected(opened(), Forbidden, trigger, role=Role.ADMIN)


def test_the_policy_must_keep_the_ladder_in_order():
    with pytest.raises(ValidationError) as caught:
        LifecycleInstance.open(LATE_PAYMENT, "in_2", INVOICE, {"suspend_after": "P20D"}, NOW, actor="x")
    assert caught.value.details["fields"][0]["field"] == "policy"


def test_cash_and_withheld_tax_together_cannot_exceed_what_is_owed():
    invoice = opened()
    error = rejected(invoice, ValidationError, "record_payment", {"amount": "3780", "tax_withheld": "421"})
    assert [f["field"] for f in error.details["fields"]] == ["tax_withheld"]
    assert invoice.data.owed == Decimal("4200.00")
    fire(invoice, "record_payment", {"amount": "3780", "tax_withheld": "420"})
    assert invoice.data.owed == Decimal("420.00")
