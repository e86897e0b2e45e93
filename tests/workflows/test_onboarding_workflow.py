"""The onboarding workflow on the time-skipping test server: six months of the $60k+ cadence,
missed check-ins stalling it, the won deal that opens it, completion opening the handover, and the
handover's READY reading it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from services.lifecycles import LifecycleGateway
from tests.conftest import OPERATOR, Stack
from tests.workflows.helpers import effects, eventually, lifecycle, triggers
from workflows.engine.errors import GuardFailed
from workflows.engine.types import workflow_id_for

OWNER = "tae@example.com"
SKILLS = ("ACTIONS", "COHORTS", "DATA_TAXONOMY", "NOTEBOOKS", "ACTIVITY_LOG", "INTERNAL_AND_TEST_USER_FILTERING")


def opening(account: str, **fields: Any) -> dict[str, Any]:
    return {
        "account": {"id": account, "name": account.upper()},
        "owner": OWNER,
        "owner_role": "TAE",
        "track": "SALES_LED",
        "arr": "72000",
        "paid_products": ["PRODUCT_ANALYTICS", "SESSION_REPLAY"],
        **fields,
    }


async def nudges(stack: Stack, workflow_id: str) -> list[str]:
    chasers = ("check_in_missed", "onboarding_stalled")
    return [e.name for e in await effects(stack.sessions, workflow_id) if e.name in chasers]


async def onboard(g: LifecycleGateway, entity_id: str, products: list[str]) -> None:
    for skill in SKILLS:
        await g.transition(
            "onboarding", entity_id, "record_skill", {"skill": skill, "evidence": "shown"}, principal=OPERATOR
        )
    for product in products:
        await g.transition(
            "onboarding",
            entity_id,
            "record_product_onboarded",
            {"product": product, "evidence": "live"},
            principal=OPERATOR,
        )
    await g.transition("onboarding", entity_id, "record_health_check", {"evidence": "done"}, principal=OPERATOR)


async def test_six_months_of_fortnightly_check_ins_then_monthly_and_two_missed_stall_it(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
):
    g, env, workflow_id = ts_stack.gateway, time_skipping_env, workflow_id_for("onboarding", "acme/1")
    await g.open("onboarding", "acme/1", opening("acme"), principal=OPERATOR)
    await g.transition("onboarding", "acme/1", "send_plan", principal=OPERATOR)

    # Every check-in held on its 14th day for six months re-arms the next: no nudge.
    for _ in range(13):
        await env.sleep(timedelta(days=14))
        await g.transition("onboarding", "acme/1", "record_check_in", {"note": "sync"}, principal=OPERATOR)
    assert await nudges(ts_stack, workflow_id) == []
    row = await lifecycle(ts_stack.sessions, workflow_id)
    assert row is not None and row.state == "IN_PROGRESS"
    # Past six months the cadence is monthly: 30 days plus the grace before a miss.
    last = (await g.snapshot("onboarding", "acme/1")).data["check_ins"][-1]["held_at"]
    held = datetime.fromisoformat(last) if isinstance(last, str) else last
    assert held >= (await g.snapshot("onboarding", "acme/1")).opened_at + timedelta(days=180)
    await env.sleep(timedelta(days=32))
    assert await nudges(ts_stack, workflow_id) == []
    await env.sleep(timedelta(days=2))
    assert await nudges(ts_stack, workflow_id) == ["check_in_missed"]
    await env.sleep(timedelta(days=30))
    assert await nudges(ts_stack, workflow_id) == ["check_in_missed", "onboarding_stalled"]
    stalled = await g.snapshot("onboarding", "acme/1")
    assert stalled.state == "STALLED"
    sent = {e.name: e for e in await effects(ts_stack.sessions, workflow_id)}
    assert sent["check_in_missed"].recipients == [OWNER]
    assert sent["onboarding_stalled"].recipients == ["role:team_lead", OWNER]

    back = await g.transition("onboarding", "acme/1", "reengage", principal=OPERATOR, reason="New champion")
    assert back.snapshot.state == "IN_PROGRESS"
    timer_moves = [t for t, actor in await triggers(ts_stack.sessions, workflow_id) if actor == "timer"]
    assert timer_moves == ["miss_check_in", "miss_check_in"]


async def test_onboarded_then_completed_at_three_months_opens_the_handover_that_reads_it(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
):
    g, env = ts_stack.gateway, time_skipping_env
    today = datetime.now(UTC).date().isoformat()
    await g.open("onboarding", "globex/1", opening("globex", credit_purchased_on=today), principal=OPERATOR)
    await g.transition("onboarding", "globex/1", "send_plan", principal=OPERATOR)
    await onboard(g, "globex/1", ["PRODUCT_ANALYTICS", "SESSION_REPLAY"])
    onboarded = await g.transition("onboarding", "globex/1", "mark_onboarded", principal=OPERATOR)
    assert onboarded.snapshot.state == "ONBOARDED"

    await env.sleep(timedelta(days=93))
    done = await g.snapshot("onboarding", "globex/1")
    assert done.state == "COMPLETED"

    async def handover_opened() -> Any:
        return await lifecycle(ts_stack.sessions, workflow_id_for("handover", "globex/1"))

    handover = await eventually(handover_opened)
    assert handover.state == "REQUESTED" and handover.owner == OWNER
    assert handover.data["reason"] == "ONBOARDED" and handover.data["outgoing_role"] == "TAE"
    assert handover.data["onboarded_products"] == ["PRODUCT_ANALYTICS", "SESSION_REPLAY"]

    # READY's "onboarding complete" is the onboarding's state, though the handover recorded no product itself.
    await g.transition("handover", "globex/1", "allocate", {"team": "TAM", "region": "US"}, principal=OPERATOR)
    await g.transition("handover", "globex/1", "assign", {"incoming_owner": "tam@example.com"}, principal=OPERATOR)
    await g.transition(
        "handover",
        "globex/1",
        "record_account_plan",
        {"link": "https://vitally.example/plan", "updated_on": done.updated_at.date().isoformat()},
        principal=OPERATOR,
    )
    await g.transition(
        "handover", "globex/1", "record_health_check", {"healthy": True, "note": "steady"}, principal=OPERATOR
    )
    ready = await g.transition("handover", "globex/1", "mark_ready", principal=OPERATOR)
    assert ready.snapshot.state == "READY"


async def test_the_handover_waits_for_an_onboarding_still_in_progress(ts_stack: Stack):
    g = ts_stack.gateway
    await g.open("onboarding", "initech/1", opening("initech"), principal=OPERATOR)
    await g.open(
        "handover",
        "initech/1",
        {
            "account": {"id": "initech", "name": "INITECH"},
            "arr": "72000",
            "owner": OWNER,
            "outgoing_role": "TAE",
            "reason": "ONBOARDED",
            "paid_products": ["PRODUCT_ANALYTICS"],
            "onboarded_products": ["PRODUCT_ANALYTICS"],
        },
        principal=OPERATOR,
    )
    await g.transition("handover", "initech/1", "allocate", {"team": "TAM", "region": "US"}, principal=OPERATOR)
    await g.transition("handover", "initech/1", "assign", {"incoming_owner": "tam@example.com"}, principal=OPERATOR)
    today = (await g.snapshot("handover", "initech/1")).updated_at.date().isoformat()
    await g.transition(
        "handover",
        "initech/1",
        "record_account_plan",
        {"link": "https://vitally.example/plan", "updated_on": today},
        principal=OPERATOR,
    )
    await g.transition(
        "handover", "initech/1", "record_health_check", {"healthy": True, "note": "steady"}, principal=OPERATOR
    )
    # The handover's own checklist says onboarded; the onboarding lifecycle says otherwise, and wins.
    with pytest.raises(GuardFailed) as refused:
        await g.transition("handover", "initech/1", "mark_ready", principal=OPERATOR)
    assert [u["guard"] for u in refused.value.details["unmet"]] == ["onboarding_complete"]
    assert "onboarding/initech/1 is PLAN_PENDING" in refused.value.message


async def test_a_won_new_business_deal_opens_the_onboarding(ts_stack: Stack, time_skipping_env: WorkflowEnvironment):
    g = ts_stack.gateway
    await g.open(
        "opportunity",
        "hooli-deal",
        {
            "name": "Hooli analytics",
            "account": {"id": "hooli", "name": "HOOLI"},
            "owner": OWNER,
            "close_date": "2027-01-31",
            "amount": "3000",
        },
        principal=OPERATOR,
    )
    await g.transition("opportunity", "hooli-deal", "close_won", principal=OPERATOR)

    async def opened() -> Any:
        return await lifecycle(ts_stack.sessions, workflow_id_for("onboarding", "hooli/1"))

    row = await eventually(opened)
    assert (row.state, row.owner, row.data["track"], row.data["opportunity_id"]) == (
        "PLAN_PENDING",
        OWNER,
        "SALES_LED",
        "hooli-deal",
    )
    # The plan is due within the week: the owner hears at day 5, the team lead at day 8.
    await time_skipping_env.sleep(timedelta(days=8, hours=1))
    sent = [e.name for e in await effects(ts_stack.sessions, row.workflow_id)]
    assert sent == ["onboarding_opened", "plan_reminder", "plan_escalation"]


async def test_a_won_deal_for_an_account_being_onboarded_opens_no_second_onboarding(ts_stack: Stack):
    g = ts_stack.gateway
    await g.open("onboarding", "stark/1", opening("stark"), principal=OPERATOR)
    await g.open(
        "opportunity",
        "stark-deal",
        {
            "name": "Stark replay",
            "account": {"id": "stark", "name": "STARK"},
            "owner": OWNER,
            "close_date": "2027-01-31",
            "amount": "3000",
        },
        principal=OPERATOR,
    )
    await g.transition("opportunity", "stark-deal", "close_won", principal=OPERATOR)

    async def delivered() -> Any:
        rows = await effects(ts_stack.sessions, workflow_id_for("opportunity", "stark-deal"))
        return [e for e in rows if e.name == "open_onboarding" and e.status == "DELIVERED"]

    await eventually(delivered)
    assert await lifecycle(ts_stack.sessions, workflow_id_for("onboarding", "stark/2")) is None
