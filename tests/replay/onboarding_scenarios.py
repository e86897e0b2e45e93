"""Onboarding scenarios recorded for the replay tests (see tests/replay/record.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from services.lifecycles import LifecycleGateway
from tests.replay.record import OPERATOR, Scenario
from workflows.engine.types import workflow_id_for

ACCOUNT = {"id": "umbrella", "name": "Umbrella"}


async def onboarding_won(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """A won deal opens it; the plan, check-ins, two missed (stalled), re-engaged, the checklist, onboarded,
    then completed at three months, opening the handover."""
    await g.open(
        "opportunity",
        "umbrella-deal",
        {
            "name": "Umbrella platform",
            "account": ACCOUNT,
            "owner": "tae@example.com",
            "close_date": "2027-06-30",
            "amount": "4000",
            # The credit purchase the handover window counts from.
            "contract_start_date": datetime.now(UTC).date().isoformat(),
        },
        principal=OPERATOR,
    )
    await g.transition("opportunity", "umbrella-deal", "close_won", principal=OPERATOR)
    await env.sleep(timedelta(minutes=1))
    await g.transition(
        "onboarding", "umbrella/1", "send_plan", {"paid_products": ["PRODUCT_ANALYTICS"]}, principal=OPERATOR
    )
    await env.sleep(timedelta(days=20))
    await g.transition("onboarding", "umbrella/1", "record_check_in", {"note": "first sync"}, principal=OPERATOR)
    await env.sleep(timedelta(days=70))
    await g.transition("onboarding", "umbrella/1", "reengage", principal=OPERATOR, reason="New champion")
    for skill in (
        "ACTIONS",
        "COHORTS",
        "DATA_TAXONOMY",
        "NOTEBOOKS",
        "ACTIVITY_LOG",
        "INTERNAL_AND_TEST_USER_FILTERING",
    ):
        await g.transition(
            "onboarding", "umbrella/1", "record_skill", {"skill": skill, "evidence": "shown"}, principal=OPERATOR
        )
    await g.transition(
        "onboarding",
        "umbrella/1",
        "record_product_onboarded",
        {"product": "PRODUCT_ANALYTICS", "evidence": "dashboards live"},
        principal=OPERATOR,
    )
    await g.transition(
        "onboarding", "umbrella/1", "record_health_check", {"evidence": "health check doc"}, principal=OPERATOR
    )
    await g.transition("onboarding", "umbrella/1", "mark_onboarded", principal=OPERATOR)
    await env.sleep(timedelta(days=200))
    # The completion opened the handover (its id is the onboarding's too: not recorded here, where the
    # files are named by entity id; tests/replay/handover_scenarios.py records handovers).
    await g.client.get_workflow_handle(workflow_id_for("handover", "umbrella/1")).fetch_history()
    return [workflow_id_for("onboarding", "umbrella/1"), workflow_id_for("opportunity", "umbrella-deal")]


async def onboarding_churned(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """The specialists' track: opened by an operator, a check-in, then churned before three months."""
    data = {"account": {"id": "hooli", "name": "Hooli"}, "owner": "spec@example.com", "owner_role": "ONBOARDING"}
    await g.open("onboarding", "hooli/1", {**data, "track": "SPECIALIST", "arr": "9000"}, principal=OPERATOR)
    await g.transition("onboarding", "hooli/1", "send_plan", principal=OPERATOR)
    await env.sleep(timedelta(days=10))
    await g.transition("onboarding", "hooli/1", "record_check_in", {"note": "quiet"}, principal=OPERATOR)
    await g.transition(
        "onboarding", "hooli/1", "churn", {"source": "BILLING"}, principal=OPERATOR, reason="subscription cancelled"
    )
    await env.sleep(timedelta(minutes=1))
    return [workflow_id_for("onboarding", "hooli/1")]


SCENARIOS: dict[str, Scenario] = {
    "onboarding-won": onboarding_won,
    "onboarding-churned": onboarding_churned,
}
