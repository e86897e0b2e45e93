"""Handover scenarios recorded for the replay tests (see tests/replay/record.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.testing import WorkflowEnvironment

from services.db import create_engine, session_factory
from services.lifecycles import LifecycleGateway, Principal
from tests.replay.record import ADMIN, OPERATOR, Scenario
from workflows.engine.spec import Role
from workflows.engine.types import workflow_id_for

INCOMING = Principal(actor="csm@example.com", role=Role.OPERATOR)
REQUEST = {
    "account": {"id": "globex", "name": "Globex"},
    "arr": "85000",
    "owner": "tae@example.com",
    "outgoing_role": "TAE",
    "reason": "ONBOARDED",
    "paid_products": ["PRODUCT_ANALYTICS", "SESSION_REPLAY", "FEATURE_FLAGS", "ERROR_TRACKING"],
    "onboarded_products": ["PRODUCT_ANALYTICS", "SESSION_REPLAY", "FEATURE_FLAGS"],
}


async def handover_full(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """Request to completion: a push-back overruled, readiness, the call, the follow-up timers, the cascade."""
    # READY reads the account's open late payments from the read model: the gateway needs it.
    engine = create_engine(g.settings.database_url)
    try:
        return await _full(LifecycleGateway(g.client, g.settings, session_factory(engine)), env)
    finally:
        await engine.dispose()


async def _full(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    await g.open(
        "opportunity",
        "globex-expansion",
        {
            "name": "Globex expansion",
            "account": REQUEST["account"],
            "owner": "tae@example.com",
            "close_date": "2027-06-30",
            "amount": "30000",
        },
        principal=OPERATOR,
    )
    await g.open("handover", "globex/1", REQUEST, principal=OPERATOR, reason="Onboarded three months ago")
    await g.transition(
        "handover", "globex/1", "allocate", {"team": "TAM", "region": "EU"}, principal=OPERATOR, reason=None
    )
    await g.transition("handover", "globex/1", "assign", {"incoming_owner": "csm@example.com"}, principal=OPERATOR)
    await g.transition(
        "handover",
        "globex/1",
        "push_back",
        {"flags": ["MISSING_ACCOUNT_PLAN", "CONCENTRATED_USERS"], "note": "Two users do everything"},
        principal=INCOMING,
    )
    await g.transition(
        "handover", "globex/1", "overrule", principal=ADMIN, reason="Strategic account; take it as a lead"
    )
    await g.transition(
        "handover",
        "globex/1",
        "record_account_plan",
        {"link": "https://vitally.example/globex/plan", "updated_on": datetime.now(UTC).date().isoformat()},
        principal=OPERATOR,
    )
    await g.transition("handover", "globex/1", "record_onboarding", {"product": "ERROR_TRACKING"}, principal=OPERATOR)
    await g.transition(
        "handover", "globex/1", "record_health_check", {"healthy": True, "note": "Usage steady"}, principal=OPERATOR
    )
    await g.transition("handover", "globex/1", "mark_ready", principal=OPERATOR)
    await g.transition("handover", "globex/1", "record_call", {"notes": "Champion is Dana"}, principal=OPERATOR)
    await env.sleep(timedelta(days=10))
    for item in ("ACCOUNT_PLAN_UPDATED", "INTRODUCED", "OPEN_ITEMS_PICKED_UP"):
        await g.transition(
            "handover", "globex/1", "record_follow_up", {"item": item, "note": "done"}, principal=INCOMING
        )
    await g.transition("handover", "globex/1", "complete", principal=OPERATOR)
    await env.sleep(timedelta(minutes=5))
    return [workflow_id_for("handover", "globex/1"), workflow_id_for("opportunity", "globex-expansion")]


async def handover_rejected(g: LifecycleGateway, env: WorkflowEnvironment) -> list[str]:
    """Allocated against the suggestion (with a reason), pushed back, remedied, then rejected."""
    await g.open(
        "handover", "initech/1", {**REQUEST, "account": {"id": "initech", "name": "Initech"}}, principal=OPERATOR
    )
    await g.transition(
        "handover",
        "initech/1",
        "allocate",
        {"team": "CSM", "region": "US"},
        principal=OPERATOR,
        reason="CSM team has capacity (004:2289)",
    )
    await g.transition("handover", "initech/1", "assign", {"incoming_owner": "csm@example.com"}, principal=OPERATOR)
    await g.transition("handover", "initech/1", "push_back", {"flags": ["DECLINING_USAGE"]}, principal=INCOMING)
    await g.transition("handover", "initech/1", "remedy", principal=OPERATOR, reason="Usage explained: seasonal")
    await g.transition("handover", "initech/1", "reject", principal=OPERATOR, reason="Expansion levers remain")
    await env.sleep(timedelta(minutes=1))
    return [workflow_id_for("handover", "initech/1")]


SCENARIOS: dict[str, Scenario] = {
    "handover-full": handover_full,
    "handover-rejected": handover_rejected,
}
