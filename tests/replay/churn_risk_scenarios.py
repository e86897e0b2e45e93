"""Churn-risk scenarios recorded for the replay tests (see tests/replay/record.py)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from services.lifecycles import LifecycleGateway
from services.per_account import fire_for_account
from tests.replay.record import OPERATOR, Scenario
from workflows.engine.types import workflow_id_for

INITECH = {"id": "initech", "name": "Initech"}


async def signal(g: LifecycleGateway, trigger: str, params: dict[str, Any], account: dict[str, str] = INITECH) -> str:
    result = await fire_for_account(g, "churn-risk", account, "csm@example.com", trigger, params, principal=OPERATOR)
    return result.snapshot.entity_id


async def renewal_flags(g: LifecycleGateway, contract: str, expected: list[str]) -> None:
    """Wait for the churn risk's effect to reach the renewal."""
    for _ in range(600):
        if (await g.snapshot("renewal", contract)).data["at_risk_churn_risks"] == expected:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the renewal's churn risks never became {expected}")


async def _recovered(g: LifecycleGateway, env: WorkflowEnvironment) -> None:
    """A usage drop flags the account and marks its renewal; the call comes late, the plan runs, it recovers."""
    today = (await env.get_current_time()).date()
    await g.open(
        "renewal",
        "initech-2026",
        {
            "account": INITECH,
            "owner": "csm@example.com",
            "credit_amount": "60000",
            "annual_spend": "45000",
            "start_date": today.isoformat(),
        },
        principal=OPERATOR,
    )
    await signal(g, "record_usage", {"usage": "900", "baseline": "1000", "measured_on": today.isoformat()})
    churn_risk = await signal(g, "record_usage", {"usage": "550", "baseline": "1000", "measured_on": today.isoformat()})
    await renewal_flags(g, "initech-2026", [churn_risk])
    await signal(g, "add_reason", {"flag_reason": "CHAMPION_LEFT", "note": "Dana left"})
    await env.sleep(timedelta(days=3))  # past the 48 hours: the team lead is told
    await signal(g, "record_recovery_call", {"held_on": (today + timedelta(days=3)).isoformat()})
    await signal(g, "record_recovery_plan", {"scenario": "CHAMPION_LEAVES", "actions": "Meet the new VP"})
    await env.sleep(timedelta(days=8))  # a weekly review
    await signal(g, "record_status_note", {"note": "Met the VP; two teams onboarded"})
    await g.transition("churn-risk", churn_risk, "mark_recovered", principal=OPERATOR, reason="Usage back")
    await renewal_flags(g, "initech-2026", [])


async def churn_risk_recovered(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    await _recovered(g, env)
    return [workflow_id_for("churn-risk", "initech/1")]


async def renewal_churn_risk(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """The renewal of the same run: marked at risk by the churn risk, then cleared by its recovery."""
    await _recovered(g, env)
    return [workflow_id_for("renewal", "initech-2026")]


async def churn_risk_churned(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """Four poor weeks flag the account; it churns."""
    account = {"id": "hooli", "name": "Hooli"}
    for _ in range(4):
        week: date = (await env.get_current_time()).date()
        churn_risk = await signal(g, "record_health", {"week_of": week.isoformat(), "rating": "POOR"}, account)
        await env.sleep(timedelta(days=7))
    await signal(g, "record_signal", {"signal": "DATA_EXPORT_REQUESTED"}, account)
    await g.transition("churn-risk", churn_risk, "record_churn", principal=OPERATOR, reason="Cancelled")
    return [workflow_id_for("churn-risk", churn_risk)]


SCENARIOS: dict[str, Scenario] = {
    "churn-risk-recovered": churn_risk_recovered,
    "churn-risk-churned": churn_risk_churned,
    "renewal-churn-risk": renewal_churn_risk,
}
