"""Contract renewals on the time-skipping server: a year of milestones, renewals through the opportunity,
declines, credits running out, and the at-risk flag."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from services.lifecycles import Principal
from tests.conftest import OPERATOR, Stack
from tests.workflows.helpers import effects, eventually, lifecycle, transitions, triggers
from workflows.engine.calendar import add_months, start_of_day
from workflows.engine.errors import Forbidden, InvalidTransition
from workflows.engine.spec import Role
from workflows.engine.types import workflow_id_for
from workflows.renewal import RenewalData, RenewalWorkflow

HOUR = timedelta(hours=1)
BILLING = Principal(actor="late-payment/in_1", role=Role.SYSTEM)
CONTRACT = {
    "account": {"id": "acme", "name": "ACME"},
    "owner": "csm@example.com",
    "credit_amount": "60000",
    "annual_spend": "45000",
}
DEAL = {
    "name": "ACME analytics",
    "account": {"id": "acme", "name": "ACME"},
    "owner": "csm@example.com",
    "close_date": "2027-03-31",
    "amount": "60000",
    "discount_percent": "25",
    "plan_type": "ANNUAL",
}


class Clock:
    """The contract's dates on the test server's clock."""

    def __init__(self, env: WorkflowEnvironment, start: date) -> None:
        self.env = env
        self.start = start
        self.end = add_months(start, 12)

    def before_end(self, days: int) -> datetime:
        return start_of_day(self.end - timedelta(days=days))

    async def sleep_until(self, moment: datetime) -> None:
        await sleep_until(self.env, moment)


async def sleep_until(env: WorkflowEnvironment, moment: datetime) -> None:
    await env.sleep(max(moment - await env.get_current_time(), timedelta(0)))


async def start_contract(stack: Stack, env: WorkflowEnvironment, contract_id: str, **fields: Any) -> Clock:
    clock = Clock(env, (await env.get_current_time()).date())
    data = {**CONTRACT, "start_date": clock.start.isoformat(), **fields}
    await stack.gateway.open("renewal", contract_id, data, principal=OPERATOR)
    return clock


async def state_of(stack: Stack, kind: str, entity_id: str) -> str | None:
    row = await lifecycle(stack.sessions, workflow_id_for(kind, entity_id))
    return row.state if row else None


async def reaches(stack: Stack, kind: str, entity_id: str, state: str) -> Any:
    async def check() -> Any:
        row = await lifecycle(stack.sessions, workflow_id_for(kind, entity_id))
        return row if row is not None and row.state == state else None

    return await eventually(check)


async def delivered(stack: Stack, workflow_id: str, *names: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        rows = {e.name: e for e in await effects(stack.sessions, workflow_id) if e.status == "DELIVERED"}
        return rows if set(names) <= set(rows) else None

    return await eventually(check)


async def timed(stack: Stack, workflow_id: str) -> list[str]:
    """What the contract's timers did, in order: the transitions they fired and the reminders they sent."""
    fired = [(t.at, t.trigger) for t in await transitions(stack.sessions, workflow_id) if t.actor == "timer"]
    sent = [
        (e.created_at, e.name)
        for e in await effects(stack.sessions, workflow_id)
        if e.name in ("early_renewal_closing", "early_renewal_closed")
    ]
    return [name for _, name in sorted(fired + sent)]


async def test_a_twelve_month_contract_meets_each_milestone_on_its_day_then_expires(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    workflow_id = workflow_id_for("renewal", entity_id)
    clock = await start_contract(ts_stack, time_skipping_env, entity_id)
    opportunity = f"{entity_id}-renewal-1"
    assert await reaches(ts_stack, "opportunity", opportunity, "QUALIFICATION")

    steps = [
        (clock.before_end(90), "mark_due"),  # T-90
        (clock.before_end(67), "early_renewal_closing"),  # the owner is reminded a week before the window closes
        (clock.before_end(59), "early_renewal_closed"),  # and told once T-60, its last day, is over
        (start_of_day(clock.end), "expire"),
    ]
    expected: list[str] = []
    for moment, milestone in steps:
        await clock.sleep_until(moment - HOUR)
        assert await timed(ts_stack, workflow_id) == expected, f"{milestone} came early"
        await clock.sleep_until(moment + HOUR)
        expected.append(milestone)
        assert await timed(ts_stack, workflow_id) == expected, f"{milestone} did not come"
        if milestone == "mark_due":
            assert await state_of(ts_stack, "renewal", entity_id) == "RENEWAL_DUE"
    # The reminders tell the owner; only the due date and the expiry change the contract.
    assert await triggers(ts_stack.sessions, workflow_id) == [("mark_due", "timer"), ("expire", "timer")]

    sent = await delivered(
        ts_stack,
        workflow_id,
        "renewal_due",
        "early_renewal_closing",
        "early_renewal_closed",
        "remaining_credits_removed",
        "account_on_monthly_plan",
        "contract_expired",
        "renewal_opportunity_lapsed",
    )
    assert sent["remaining_credits_removed"].payload["on"] == clock.end.isoformat()
    lapsed = await reaches(ts_stack, "opportunity", opportunity, "CLOSED_LOST")
    assert lapsed.data["loss_reason"] == "DISAPPEARED"
    result = await ts_stack.client.get_workflow_handle_for(RenewalWorkflow.run, workflow_id).result()
    assert result.state == "EXPIRED" and not result.data["on_prepaid_plan"]

    # Renewing an expired contract is refused, and changes nothing.
    before = await lifecycle(ts_stack.sessions, workflow_id)
    with pytest.raises(InvalidTransition):
        await ts_stack.gateway.transition(
            "renewal",
            entity_id,
            "renew",
            {"opportunity_id": opportunity, "credit_amount": "60000", "annual_spend": "45000", "term_months": 12},
            principal=Principal(actor="opportunity", role=Role.SYSTEM),
        )
    after = await lifecycle(ts_stack.sessions, workflow_id)
    assert after is not None and before is not None and (after.seq, after.state) == (before.seq, before.state)


async def test_renewed_through_the_renewal_opportunity_the_successor_starts_at_the_old_end_and_chains(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    env, g = time_skipping_env, ts_stack.gateway
    start = (await env.get_current_time()).date()
    await g.open(
        "opportunity",
        entity_id,
        {**DEAL, "contract_start_date": start.isoformat()},
        principal=OPERATOR,
        initial_state="VENDOR_APPROVAL",
    )
    await g.transition(
        "opportunity",
        entity_id,
        "record_criterion",
        {"stage": "VENDOR_APPROVAL", "criterion": "contract_signed", "evidence": "PandaDoc #1"},
        principal=OPERATOR,
    )
    await g.transition("opportunity", entity_id, "close_won", principal=OPERATOR)

    # The won deal opened its contract's renewal lifecycle and the renewal opportunity driving it.
    contract = await reaches(ts_stack, "renewal", entity_id, "ACTIVE")
    assert contract.data["start_date"] == start.isoformat()
    # The end date is derived (a computed field): lifecycles carry the fields it comes from.
    assert RenewalData.model_validate(contract.data).end_date == add_months(start, 12)
    assert contract.data["annual_spend"] == "45000.00"
    renewal_opportunity = f"{entity_id}-renewal-1"
    assert contract.data["renewal_opportunity_id"] == renewal_opportunity
    await reaches(ts_stack, "opportunity", renewal_opportunity, "QUALIFICATION")

    await g.transition("opportunity", renewal_opportunity, "advance", principal=OPERATOR)  # meeting booked
    await env.sleep(timedelta(days=150))
    assert await state_of(ts_stack, "renewal", entity_id) == "ACTIVE"
    await g.transition("opportunity", renewal_opportunity, "advance", principal=OPERATOR)  # product evaluation
    await reaches(ts_stack, "renewal", entity_id, "NEGOTIATING")

    await env.sleep(timedelta(days=30))  # day 180: well before T-60
    await g.transition("opportunity", renewal_opportunity, "update_fields", {"amount": "80000"}, principal=OPERATOR)
    await g.transition(
        "opportunity",
        renewal_opportunity,
        "record_criterion",
        {"stage": "COMMERCIAL_LEGAL_REVIEW", "criterion": "contract_signed", "evidence": "PandaDoc #2"},
        principal=OPERATOR,
    )
    await g.transition("opportunity", renewal_opportunity, "close_won", principal=OPERATOR)

    renewed = await reaches(ts_stack, "renewal", entity_id, "RENEWED")
    assert renewed.data["renewal"]["early_renewal_discount"] is True
    assert renewed.data["renewal"]["rollover_allowance"] == "30000.00"
    successor = await reaches(ts_stack, "renewal", renewal_opportunity, "ACTIVE")
    assert successor.data["start_date"] == add_months(start, 12).isoformat()
    assert RenewalData.model_validate(successor.data).end_date == add_months(start, 24)
    assert successor.data["credit_amount"] == "80000" and successor.data["renewal_of"] == entity_id
    next_opportunity = f"{entity_id}-renewal-2"
    assert successor.data["renewal_opportunity_id"] == next_opportunity
    following = await reaches(ts_stack, "opportunity", next_opportunity, "QUALIFICATION")
    assert following.data["contract_id"] == renewal_opportunity

    # At the old end date the renewed contract rolls its credit over and completes.
    old_end = start_of_day(add_months(start, 12))
    await sleep_until(env, old_end - HOUR)
    assert "credits_rolled_over" not in [e.name for e in await effects(ts_stack.sessions, contract.workflow_id)]
    await sleep_until(env, old_end + HOUR)
    handle = ts_stack.client.get_workflow_handle_for(RenewalWorkflow.run, contract.workflow_id)
    assert (await handle.result()).state == "RENEWED"
    ended = await delivered(ts_stack, contract.workflow_id, "credits_rolled_over", "remaining_credits_removed")
    assert ended["credits_rolled_over"].payload["to_contract_id"] == renewal_opportunity
    assert old_end <= ended["credits_rolled_over"].created_at < old_end + HOUR
    assert ended["remaining_credits_removed"].payload["on"] == old_end.date().isoformat()

    # And the chain goes on: the successor's own renewal opportunity renews it in turn.
    await g.transition(
        "opportunity",
        next_opportunity,
        "record_criterion",
        {"stage": "COMMERCIAL_LEGAL_REVIEW", "criterion": "contract_signed", "evidence": "PandaDoc #3"},
        principal=OPERATOR,
    )
    await g.transition("opportunity", next_opportunity, "close_won", principal=OPERATOR)
    await reaches(ts_stack, "renewal", renewal_opportunity, "RENEWED")
    third = await reaches(ts_stack, "renewal", next_opportunity, "ACTIVE")
    assert third.data["start_date"] == add_months(start, 24).isoformat()
    assert third.data["renewal_opportunity_id"] == f"{entity_id}-renewal-3"


async def test_a_declined_renewal_closes_its_opportunity_and_expires_at_the_end(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    workflow_id = workflow_id_for("renewal", entity_id)
    clock = await start_contract(ts_stack, time_skipping_env, entity_id)
    opportunity = f"{entity_id}-renewal-1"
    await reaches(ts_stack, "opportunity", opportunity, "QUALIFICATION")
    await clock.sleep_until(clock.before_end(80))
    declined = await ts_stack.gateway.transition(
        "renewal",
        entity_id,
        "decline",
        {"loss_reason": "COMPETITOR", "loss_note": "Moving to an all-in-one suite"},
        principal=OPERATOR,
    )
    assert declined.snapshot.state == "NOT_RENEWING"
    lost = await reaches(ts_stack, "opportunity", opportunity, "CLOSED_LOST")
    assert lost.data["loss_reason"] == "COMPETITOR"
    # The opportunity's Closed Lost answers back, and the contract, already not renewing, ignores it.
    await delivered(ts_stack, workflow_id_for("opportunity", opportunity), "contract_not_renewing")
    assert [t for t, _ in await triggers(ts_stack.sessions, workflow_id)] == ["mark_due", "decline"]

    await clock.sleep_until(start_of_day(clock.end) - HOUR)
    assert await state_of(ts_stack, "renewal", entity_id) == "NOT_RENEWING"
    await clock.sleep_until(start_of_day(clock.end) + HOUR)
    assert [t for t, _ in await triggers(ts_stack.sessions, workflow_id)] == ["mark_due", "decline", "expire"]
    sent = await delivered(ts_stack, workflow_id, "remaining_credits_removed", "account_on_monthly_plan")
    assert "renewal_opportunity_lapsed" not in sent


async def test_credits_out_without_a_signed_renewal_go_pay_as_you_go_and_lose_the_early_window(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    workflow_id = workflow_id_for("renewal", entity_id)
    clock = await start_contract(ts_stack, time_skipping_env, entity_id)
    await clock.sleep_until(start_of_day(clock.start) + timedelta(days=200))
    out = await ts_stack.gateway.transition("renewal", entity_id, "record_credits_exhausted", principal=OPERATOR)
    assert out.snapshot.data["credits_exhausted"]["usage_covered_until"] is None
    assert not out.snapshot.data["on_prepaid_plan"]
    assert [d.timer for d in out.snapshot.deadlines] == ["renewal_due", "expiry"]
    await delivered(ts_stack, workflow_id, "usage_billed_pay_as_you_go", "credits_exhausted")

    await clock.sleep_until(clock.before_end(50))
    assert [t for t, _ in await triggers(ts_stack.sessions, workflow_id)] == ["record_credits_exhausted", "mark_due"]


async def test_credits_out_late_after_a_renewal_signed_in_time_are_covered_until_the_end(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    workflow_id = workflow_id_for("renewal", entity_id)
    clock = await start_contract(ts_stack, time_skipping_env, entity_id)
    opportunity = f"{entity_id}-renewal-1"
    await reaches(ts_stack, "opportunity", opportunity, "QUALIFICATION")
    await clock.sleep_until(clock.before_end(70))
    await ts_stack.gateway.transition(
        "opportunity",
        opportunity,
        "record_criterion",
        {"stage": "COMMERCIAL_LEGAL_REVIEW", "criterion": "contract_signed", "evidence": "PandaDoc"},
        principal=OPERATOR,
    )
    await ts_stack.gateway.transition("opportunity", opportunity, "close_won", principal=OPERATOR)
    await reaches(ts_stack, "renewal", entity_id, "RENEWED")

    await clock.sleep_until(clock.before_end(30))
    out = await ts_stack.gateway.transition("renewal", entity_id, "record_credits_exhausted", principal=OPERATOR)
    assert out.snapshot.data["credits_exhausted"]["usage_covered_until"] == clock.end.isoformat()
    sent = await delivered(ts_stack, workflow_id, "usage_covered")
    assert sent["usage_covered"].payload["until"] == clock.end.isoformat()
    assert "usage_billed_pay_as_you_go" not in {e.name for e in await effects(ts_stack.sessions, workflow_id)}


async def test_a_late_payment_puts_the_renewal_at_risk_and_sends_it_to_the_churn_review(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    workflow_id = workflow_id_for("renewal", entity_id)
    clock = await start_contract(ts_stack, time_skipping_env, entity_id)
    flagged = await ts_stack.gateway.transition(
        "renewal", entity_id, "late_payment_risk", {"invoice_id": "in_1", "at_risk": True}, principal=BILLING
    )
    assert RenewalData.model_validate(flagged.snapshot.data).at_risk and flagged.snapshot.data["at_risk_invoices"] == [
        "in_1"
    ]
    with pytest.raises(Forbidden):
        await ts_stack.gateway.transition(
            "renewal", entity_id, "late_payment_risk", {"invoice_id": "in_2", "at_risk": True}, principal=OPERATOR
        )

    await clock.sleep_until(clock.before_end(90) + HOUR)
    review = (await delivered(ts_stack, workflow_id, "churn_risk_review"))["churn_risk_review"]
    assert review.recipients == ["csm@example.com", "channel:customer-churn"]
    assert "invoice in_1" in review.payload["body"]

    paid = await ts_stack.gateway.transition(
        "renewal", entity_id, "late_payment_risk", {"invoice_id": "in_1", "at_risk": False}, principal=BILLING
    )
    assert not RenewalData.model_validate(paid.snapshot.data).at_risk
    rows = await transitions(ts_stack.sessions, workflow_id)
    assert [(r.trigger, r.actor) for r in rows[1:]] == [
        ("late_payment_risk", "late-payment/in_1"),
        ("mark_due", "timer"),
        ("late_payment_risk", "late-payment/in_1"),
    ]


async def test_the_accounts_late_payment_at_suspension_flags_the_renewal_until_paid(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    env = time_skipping_env
    await start_contract(ts_stack, env, entity_id)
    invoice_id = f"{entity_id}-in"
    due = (await env.get_current_time()).date() - timedelta(days=1)
    await ts_stack.gateway.open(
        "late-payment",
        invoice_id,
        {
            "invoice_id": invoice_id,
            "account": {"id": "acme", "name": "ACME"},
            "owner": "csm@example.com",
            "amount": "4200.00",
            "currency": "USD",
            "collection_method": "INVOICE",
            "due_date": due.isoformat(),
            "contact_emails": ["ap@acme.test"],
            "active_user_emails": ["dev@acme.test"],
        },
        principal=OPERATOR,
    )
    suspended_at = start_of_day(due + timedelta(days=1)) + timedelta(days=7)  # T0 + 7 (004:3665)

    async def at_risk(expected: bool) -> Any:
        row = await lifecycle(ts_stack.sessions, workflow_id_for("renewal", entity_id))
        return row if row is not None and RenewalData.model_validate(row.data).at_risk is expected else None

    await sleep_until(env, suspended_at - HOUR)
    assert await state_of(ts_stack, "late-payment", invoice_id) == "SUSPENSION_WARNING"
    assert (
        RenewalData.model_validate(
            (await lifecycle(ts_stack.sessions, workflow_id_for("renewal", entity_id))).data
        ).at_risk
        is False
    )
    await sleep_until(env, suspended_at + HOUR)
    flagged = await eventually(lambda: at_risk(True))
    assert flagged.data["at_risk_invoices"] == [invoice_id]

    await ts_stack.gateway.transition(
        "late-payment", invoice_id, "record_payment", {"amount": "4200"}, principal=OPERATOR
    )
    cleared = await eventually(lambda: at_risk(False))
    assert cleared.data["at_risk_invoices"] == []
