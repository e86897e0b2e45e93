"""The late-payment ladder on the time-skipping test server: every step on its day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.conftest import ADMIN, OPERATOR, Stack
from tests.workflows.helpers import deliveries, effects, eventually, lifecycle, transitions
from workflows.engine.calendar import start_of_day
from workflows.engine.errors import GuardFailed, InvalidTransition
from workflows.engine.types import workflow_id_for
from workflows.late_payment import LatePaymentData, LatePaymentWorkflow


def invoice(**fields):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    return {
        "invoice_id": "in_x",
        "account": {"id": "acme", "name": "ACME"},
        "owner": "csm@example.com",
        "amount": "4200.00",
        "currency": "USD",
        "collection_method": "INVOICE",
        "due_date": yesterday.isoformat(),
        "contact_emails": ["ap@acme.test"],
        "active_user_emails": ["dev@acme.test"],
        **fields,
    }


async def open_invoice(stack: Stack, entity_id: str, **fields):
    result = await stack.gateway.open(
        "late-payment", entity_id, invoice(invoice_id=entity_id, **fields), principal=OPERATOR
    )
    due = result.snapshot.data["due_date"]
    t0 = start_of_day(datetime.fromisoformat(due).date() + timedelta(days=1)) if due else result.snapshot.opened_at
    return result, t0


async def steps(stack: Stack, entity_id: str) -> list[tuple[str, datetime]]:
    """(state, moment) of each step the timers took, to the second (a timer fires a few ms after its due)."""
    rows = await transitions(stack.sessions, workflow_id_for("late-payment", entity_id))
    return [(r.to_state, r.at.replace(microsecond=0)) for r in rows if r.actor == "timer"]


async def sleep_until(env: WorkflowEnvironment, moment: datetime) -> None:
    await env.sleep(max(moment - await env.get_current_time(), timedelta(0)))


async def test_the_whole_ladder_to_cancellation_with_every_effect_on_its_day(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    env, workflow_id = time_skipping_env, workflow_id_for("late-payment", entity_id)
    _, t0 = await open_invoice(ts_stack, entity_id)
    expected = [("SUSPENSION_WARNING", 6), ("SUSPENDED", 7), ("CANCELLATION_WARNING", 13), ("CANCELLED", 14)]
    for n, (state, day) in enumerate(expected):
        await sleep_until(env, t0 + timedelta(days=day) - timedelta(minutes=5))
        assert len(await steps(ts_stack, entity_id)) == n, f"{state} fired before day {day}"
        await sleep_until(env, t0 + timedelta(days=day) + timedelta(minutes=5))
        assert (await steps(ts_stack, entity_id))[-1] == (state, t0 + timedelta(days=day))
    by_day: dict[int, list[str]] = {}
    for e in await effects(ts_stack.sessions, workflow_id):
        by_day.setdefault((e.created_at - t0).days, []).append(e.name)
    assert by_day[6] == ["suspension_tomorrow"]
    assert by_day[7] == ["access_suspended", "access_suspended_notice", "renewals_at_risk"]
    assert by_day[13] == ["cancellation_tomorrow"]
    assert by_day[14] == ["subscription_cancelled", "cancelled_owner_notice"]
    assert {"owner_alerted", "risk_flag_on", "payment_requested"} <= set(by_day[min(by_day)])
    final = await ts_stack.client.get_workflow_handle_for(LatePaymentWorkflow.run, workflow_id).result()
    assert final.state == "CANCELLED"


async def test_an_invoice_opened_late_skips_the_notices_its_overdue_steps_supersede(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    """Day 0 was 8 days ago: the warning and the suspension are both due at once, so users are told
    access is suspended, not also that it will be tomorrow; the skipped notice stays visible in the outbox."""
    long_ago = (datetime.now(UTC) - timedelta(days=9)).date()
    await open_invoice(ts_stack, entity_id, due_date=long_ago.isoformat())
    workflow_id = workflow_id_for("late-payment", entity_id)

    async def settled():
        rows = {e.name: e for e in await effects(ts_stack.sessions, workflow_id)}
        done = rows.get("access_suspended_notice") and rows["access_suspended_notice"].status == "DELIVERED"
        return rows if done else None

    rows = await eventually(settled)
    assert [s for s, _ in await steps(ts_stack, entity_id)] == ["SUSPENSION_WARNING", "SUSPENDED"]
    warning = rows["suspension_tomorrow"]
    assert warning.status == "SKIPPED" and warning.attempts == 0
    assert warning.skipped_reason.startswith("Superseded: The suspension: user access is blocked was due")
    assert await deliveries(ts_stack.sessions, warning.id) == []
    assert rows["payment_requested"].status == "DELIVERED"


@pytest.mark.parametrize(("day", "restored"), [(3, False), (9, True)])
async def test_payment_settles_and_restores_access_only_if_suspended(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str, day: int, restored: bool
):
    _, t0 = await open_invoice(ts_stack, entity_id)
    await sleep_until(time_skipping_env, t0 + timedelta(days=day))
    paid = await ts_stack.gateway.transition(
        "late-payment", entity_id, "record_payment", {"amount": "4200"}, principal=OPERATOR
    )
    assert paid.snapshot.state == "PAID" and paid.snapshot.deadlines == []
    names = [e.name for e in await effects(ts_stack.sessions, workflow_id_for("late-payment", entity_id))]
    assert ("access_restored" in names) is restored
    assert ("access_suspended" in names) is restored
    await sleep_until(time_skipping_env, t0 + timedelta(days=20))
    assert [s for s, _ in await steps(ts_stack, entity_id)] == (["SUSPENSION_WARNING", "SUSPENDED"] if restored else [])


async def test_payment_after_cancellation_is_refused(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    _, t0 = await open_invoice(ts_stack, entity_id)
    await sleep_until(time_skipping_env, t0 + timedelta(days=15))
    with pytest.raises(InvalidTransition):
        await ts_stack.gateway.transition(
            "late-payment", entity_id, "record_payment", {"amount": "4200"}, principal=OPERATOR
        )
    row = await lifecycle(ts_stack.sessions, workflow_id_for("late-payment", entity_id))
    assert row.state == "CANCELLED" and row.data["payments"] == []


async def test_four_failed_card_attempts_then_a_successful_charge(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    await open_invoice(ts_stack, entity_id, collection_method="CARD", due_date=None, failed_attempts=1)
    for attempt in (2, 3, 4):
        await time_skipping_env.sleep(timedelta(days=1))
        await ts_stack.gateway.transition(
            "late-payment",
            entity_id,
            "record_failed_attempt",
            {"attempt": attempt},
            principal=OPERATOR,
            idempotency_key=f"evt_{attempt}",
        )
    with pytest.raises(GuardFailed, match="stopped after 4"):
        await ts_stack.gateway.transition(
            "late-payment", entity_id, "record_failed_attempt", {"attempt": 5}, principal=OPERATOR
        )
    names = [e.name for e in await effects(ts_stack.sessions, workflow_id_for("late-payment", entity_id))]
    assert names.count("failed_attempt_alert") == 3 and "automatic_collection_stopped" in names
    paid = await ts_stack.gateway.transition(
        "late-payment", entity_id, "record_payment", {"amount": "4200"}, principal=OPERATOR
    )
    assert paid.snapshot.state == "PAID"


async def test_an_extension_moves_every_remaining_step(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    _, t0 = await open_invoice(ts_stack, entity_id)
    await sleep_until(time_skipping_env, t0 + timedelta(days=2))
    until = t0 + timedelta(days=10)  # the next step (the day-6 warning) moves four days
    await ts_stack.gateway.transition(
        "late-payment",
        entity_id,
        "grant_extension",
        {"until": until.isoformat()},
        principal=OPERATOR,
        reason="Their AP runs on Thursdays",
    )
    await sleep_until(time_skipping_env, t0 + timedelta(days=30))
    assert await steps(ts_stack, entity_id) == [
        ("SUSPENSION_WARNING", t0 + timedelta(days=10)),
        ("SUSPENDED", t0 + timedelta(days=11)),
        ("CANCELLATION_WARNING", t0 + timedelta(days=17)),
        ("CANCELLED", t0 + timedelta(days=18)),
    ]


async def test_the_third_missed_period_waits_for_the_advance(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    _, t0 = await open_invoice(ts_stack, entity_id, consecutive_missed_periods=2, typical_monthly_usage="1500")
    await sleep_until(time_skipping_env, t0 + timedelta(days=8))
    paid = await ts_stack.gateway.transition(
        "late-payment", entity_id, "record_payment", {"amount": "4200"}, principal=OPERATOR
    )
    assert paid.snapshot.state == "ADVANCE_PAYMENT_REQUIRED" and paid.snapshot.data["access_suspended"]
    await time_skipping_env.sleep(timedelta(days=2))
    advance = await ts_stack.gateway.transition(
        "late-payment", entity_id, "record_advance_payment", {"amount": "4500"}, principal=OPERATOR
    )
    assert advance.snapshot.state == "PAID" and not advance.snapshot.data["access_suspended"]


async def test_no_advance_within_fourteen_days_cancels(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    _, t0 = await open_invoice(ts_stack, entity_id, consecutive_missed_periods=2, typical_monthly_usage="1500")
    await sleep_until(time_skipping_env, t0 + timedelta(days=8))
    paid = await ts_stack.gateway.transition(
        "late-payment", entity_id, "record_payment", {"amount": "4200"}, principal=OPERATOR
    )
    await sleep_until(time_skipping_env, t0 + timedelta(days=30))
    assert (await steps(ts_stack, entity_id))[-1] == (
        "CANCELLED",
        (paid.transition.at + timedelta(days=14)).replace(microsecond=0),
    )


async def test_a_credit_note_to_zero_settles(ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str):
    _, t0 = await open_invoice(ts_stack, entity_id)
    await sleep_until(time_skipping_env, t0 + timedelta(days=8))
    partial = await ts_stack.gateway.transition(
        "late-payment", entity_id, "apply_credit_note", {"amount": "1200", "credit_note_id": "cn_1"}, principal=OPERATOR
    )
    assert partial.snapshot.state == "SUSPENDED" and LatePaymentData.model_validate(partial.snapshot.data).owed == 3000
    settled = await ts_stack.gateway.transition(
        "late-payment", entity_id, "apply_credit_note", {"amount": "3000", "credit_note_id": "cn_2"}, principal=OPERATOR
    )
    assert settled.snapshot.state == "PAID"
    names = [e.name for e in await effects(ts_stack.sessions, workflow_id_for("late-payment", entity_id))]
    assert "access_restored" in names


async def test_an_admin_voids(ts_stack: Stack, entity_id: str):
    await open_invoice(ts_stack, entity_id)
    voided = await ts_stack.gateway.transition(
        "late-payment", entity_id, "void", principal=ADMIN, reason="Issued twice"
    )
    assert voided.snapshot.state == "VOIDED"
