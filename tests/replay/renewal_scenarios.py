"""Renewal scenarios recorded for the replay tests (see tests/replay/record.py)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from services.lifecycles import LifecycleGateway, Principal
from tests.replay.record import OPERATOR, Scenario
from workflows.engine.errors import NotFound
from workflows.engine.spec import Role
from workflows.engine.types import workflow_id_for

BILLING = Principal(actor="late-payment/in_1", role=Role.SYSTEM)
CONTRACT = {
    "account": {"id": "acme", "name": "ACME"},
    "owner": "csm@example.com",
    "credit_amount": "60000",
    "annual_spend": "45000",
}


async def opened(g: LifecycleGateway, kind: str, entity_id: str) -> None:
    """Wait for a lifecycle another one's effect is opening."""
    while True:
        try:
            await g.snapshot(kind, entity_id)
            return
        except NotFound:
            await asyncio.sleep(0.1)


async def renewal_declined(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """A contract registered directly: at risk and cleared, credits out, declined, expired."""
    start = (await env.get_current_time()).date()
    await g.open("renewal", "declined", {**CONTRACT, "start_date": start.isoformat()}, principal=OPERATOR)
    await g.transition(
        "renewal", "declined", "late_payment_risk", {"invoice_id": "in_1", "at_risk": True}, principal=BILLING
    )
    await g.transition("renewal", "declined", "mark_at_risk", principal=OPERATOR, reason="Champion left")
    await env.sleep(timedelta(days=280))  # past T-90: the churn review
    await g.transition(
        "renewal", "declined", "late_payment_risk", {"invoice_id": "in_1", "at_risk": False}, principal=BILLING
    )
    await g.transition("renewal", "declined", "clear_at_risk", principal=OPERATOR, reason="New champion")
    await g.transition("renewal", "declined", "record_credits_exhausted", principal=OPERATOR)
    await opened(g, "opportunity", "declined-renewal-1")
    await g.transition("renewal", "declined", "decline", {"loss_reason": "PRICING"}, principal=OPERATOR)
    await env.sleep(timedelta(days=90))  # past the end date: expired
    return [workflow_id_for("renewal", "declined"), workflow_id_for("opportunity", "declined-renewal-1")]


async def _renewed(g: LifecycleGateway, env: WorkflowEnvironment) -> None:
    """An annual deal won opens the contract; its renewal opportunity negotiates and renews it."""
    start = (await env.get_current_time()).date()
    await g.open(
        "opportunity",
        "renewed",
        {
            "name": "ACME analytics",
            "account": {"id": "acme", "name": "ACME"},
            "owner": "csm@example.com",
            "close_date": start.isoformat(),
            "contract_start_date": start.isoformat(),
            "amount": "60000",
            "discount_percent": "25",
            "plan_type": "ANNUAL",
        },
        principal=OPERATOR,
        initial_state="VENDOR_APPROVAL",
    )
    await g.transition(
        "opportunity",
        "renewed",
        "record_criterion",
        {"stage": "VENDOR_APPROVAL", "criterion": "contract_signed", "evidence": "PandaDoc"},
        principal=OPERATOR,
    )
    await g.transition("opportunity", "renewed", "close_won", principal=OPERATOR)
    await opened(g, "renewal", "renewed")
    await opened(g, "opportunity", "renewed-renewal-1")
    for _ in range(2):  # meeting booked, then product evaluation: the contract negotiates
        await g.transition("opportunity", "renewed-renewal-1", "advance", principal=OPERATOR)
    await env.sleep(timedelta(days=200))
    await g.transition(
        "opportunity",
        "renewed-renewal-1",
        "record_criterion",
        {"stage": "COMMERCIAL_LEGAL_REVIEW", "criterion": "contract_signed", "evidence": "PandaDoc"},
        principal=OPERATOR,
    )
    await g.transition("opportunity", "renewed-renewal-1", "close_won", principal=OPERATOR)
    await opened(g, "renewal", "renewed-renewal-1")
    await env.sleep(timedelta(days=170))  # past the old end date: credit rolls over


# A contract has the id of the opportunity that signed it, and history files are named by
# id, so the two kinds of the same run are recorded by two scenarios.
async def renewal_renewed(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """The contracts: renewed through the opportunity, and the successor it started."""
    await _renewed(g, env)
    return [workflow_id_for("renewal", "renewed"), workflow_id_for("renewal", "renewed-renewal-1")]


async def renewal_linked_opportunities(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """The opportunities of the same run: the won deal and the renewal that drove its contract."""
    await _renewed(g, env)
    return [workflow_id_for("opportunity", "renewed"), workflow_id_for("opportunity", "renewed-renewal-1")]


SCENARIOS: dict[str, Scenario] = {
    "renewal-declined": renewal_declined,
    "renewal-renewed": renewal_renewed,
    "renewal-linked-opportunities": renewal_linked_opportunities,
}
