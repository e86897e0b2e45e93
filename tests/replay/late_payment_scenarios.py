"""Late-payment scenarios recorded for the replay tests (see tests/replay/record.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from services.lifecycles import LifecycleGateway
from tests.replay.record import ADMIN, OPERATOR, Scenario
from workflows.engine.types import workflow_id_for


def _invoice(invoice_id: str, **fields: object) -> dict[str, object]:
    return {
        "invoice_id": invoice_id,
        "account": {"id": "acme", "name": "ACME"},
        "owner": "csm@example.com",
        "amount": "4200.00",
        "currency": "USD",
        "due_date": (datetime.now(UTC) - timedelta(days=1)).date().isoformat(),
        "contact_emails": ["ap@acme.test"],
        **fields,
    }


async def late_payment_ladder(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """The whole ladder to cancellation, with an extension on the way."""
    await g.open("late-payment", "ladder", _invoice("ladder"), principal=OPERATOR)
    await env.sleep(timedelta(days=2))
    snapshot = await g.snapshot("late-payment", "ladder")
    until = snapshot.deadlines[0].due_at + timedelta(days=2)
    await g.transition(
        "late-payment",
        "ladder",
        "grant_extension",
        {"until": until.isoformat()},
        principal=OPERATOR,
        reason="AP runs Thursdays",
    )
    await env.sleep(timedelta(days=20))
    return [workflow_id_for("late-payment", "ladder")]


async def late_payment_card(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """Failed card attempts, a partial payment, suspension, then payment restoring access."""
    await g.open(
        "late-payment",
        "card",
        _invoice("card", collection_method="CARD", due_date=None, failed_attempts=1),
        principal=OPERATOR,
    )
    for attempt in (2, 3, 4):
        await env.sleep(timedelta(days=1))
        await g.transition("late-payment", "card", "record_failed_attempt", {"attempt": attempt}, principal=OPERATOR)
    await g.transition("late-payment", "card", "record_payment", {"amount": "1000"}, principal=OPERATOR)
    await env.sleep(timedelta(days=6))
    await g.transition("late-payment", "card", "record_payment", {"amount": "3200"}, principal=OPERATOR)
    await env.sleep(timedelta(minutes=5))
    return [workflow_id_for("late-payment", "card")]


async def late_payment_advance(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """The third missed period: payment, then the advance; another invoice credited and one voided."""
    await g.open(
        "late-payment",
        "advance",
        _invoice("advance", consecutive_missed_periods=2, typical_monthly_usage="1500"),
        principal=OPERATOR,
    )
    await g.open("late-payment", "credited", _invoice("credited"), principal=OPERATOR)
    await g.open("late-payment", "voided", _invoice("voided"), principal=OPERATOR)
    await env.sleep(timedelta(days=8))
    await g.transition("late-payment", "advance", "record_payment", {"amount": "4200"}, principal=OPERATOR)
    await g.transition("late-payment", "credited", "apply_credit_note", {"amount": "4200"}, principal=OPERATOR)
    await g.transition("late-payment", "voided", "void", principal=ADMIN, reason="duplicate")
    await env.sleep(timedelta(days=2))
    await g.transition("late-payment", "advance", "record_advance_payment", {"amount": "4500"}, principal=OPERATOR)
    await env.sleep(timedelta(minutes=5))
    return [workflow_id_for("late-payment", name) for name in ("advance", "credited", "voided")]


SCENARIOS: dict[str, Scenario] = {
    "late-payment-ladder": late_payment_ladder,
    "late-payment-card": late_payment_card,
    "late-payment-advance": late_payment_advance,
}
