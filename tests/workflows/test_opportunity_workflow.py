"""The opportunity workflow on the time-skipping test server: timers over weeks and months."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from services.db import Sessions
from services.lifecycles import LifecycleGateway
from services.settings import Settings
from services.worker import build_worker
from tests.conftest import OPERATOR, Stack
from tests.workflows.helpers import effects, eventually, lifecycle, transitions, triggers
from workflows.engine.errors import IdempotencyKeyReused, InvalidTransition
from workflows.engine.types import workflow_id_for
from workflows.opportunity import OpportunityWorkflow

DEAL = {
    "name": "ACME analytics",
    "account": {"id": "acme", "name": "ACME"},
    "owner": "tae@example.com",
    "close_date": "2027-03-31",
    "amount": "60000",
}


async def open_deal(stack: Stack, entity_id: str, gateway: LifecycleGateway | None = None, **fields):
    return await (gateway or stack.gateway).open("opportunity", entity_id, {**DEAL, **fields}, principal=OPERATOR)


async def test_the_silence_ladder_nudges_twice_then_closes_and_a_reply_restarts_it(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    env, workflow_id = time_skipping_env, workflow_id_for("opportunity", entity_id)
    await open_deal(ts_stack, entity_id)
    await env.sleep(timedelta(days=13, hours=23))
    assert await nudges(ts_stack, workflow_id) == []

    await env.sleep(timedelta(hours=2))  # day 14: "Still interested?"
    assert await nudges(ts_stack, workflow_id) == ["Still interested?"]
    # A nudge tells the owner and changes nothing in the deal's history.
    assert await triggers(ts_stack.sessions, workflow_id) == []

    await env.sleep(timedelta(days=1))  # day 15: they answer
    await ts_stack.gateway.transition("opportunity", entity_id, "record_customer_reply", principal=OPERATOR)
    await env.sleep(timedelta(days=13))  # day 28: nothing yet, the ladder restarted at day 15
    assert await nudges(ts_stack, workflow_id) == ["Still interested?"]

    await env.sleep(timedelta(days=1, hours=1))  # day 29 = 15 + 14
    assert await nudges(ts_stack, workflow_id) == ["Still interested?", "Still interested?"]
    await env.sleep(timedelta(days=7))  # day 36 = 15 + 21
    assert await nudges(ts_stack, workflow_id) == ["Still interested?", "Still interested?", "Did I lose you?"]
    await env.sleep(timedelta(days=3))  # day 39 = 15 + 24
    assert await triggers(ts_stack.sessions, workflow_id) == [
        ("record_customer_reply", "otto@example.com"),
        ("close_lost", "timer"),
    ]
    row = await lifecycle(ts_stack.sessions, workflow_id)
    assert row is not None and row.state == "CLOSED_LOST" and row.data["loss_reason"] == "DISAPPEARED"
    sent = await eventually(lambda: _delivered(ts_stack, workflow_id, 4))
    assert [e.payload["subject"].split(" (")[0] for e in sent if e.name == "silence_nudge"] == [
        "Still interested?",
        "Still interested?",
        "Did I lose you?",
    ]
    # Nothing left to fire: the workflow completes.
    handle = ts_stack.client.get_workflow_handle_for(OpportunityWorkflow.run, workflow_id)
    assert (await handle.result()).state == "CLOSED_LOST"


async def nudges(stack: Stack, workflow_id: str) -> list[str]:
    """The subjects of the silence-ladder nudges the owner was sent, oldest first."""
    rows = await effects(stack.sessions, workflow_id)
    return [e.payload["subject"].split(" (")[0] for e in rows if e.name == "silence_nudge"]


async def _delivered(stack: Stack, workflow_id: str, count: int):
    rows = await effects(stack.sessions, workflow_id)
    return rows if len(rows) == count and all(e.status == "DELIVERED" for e in rows) else None


async def test_a_competitor_loss_checks_in_once_after_nine_months(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    workflow_id = workflow_id_for("opportunity", entity_id)
    await open_deal(ts_stack, entity_id)
    await ts_stack.gateway.transition(
        "opportunity", entity_id, "close_lost", {"loss_reason": "COMPETITOR"}, principal=OPERATOR
    )
    await time_skipping_env.sleep(timedelta(days=270))
    assert [t for t, _ in await triggers(ts_stack.sessions, workflow_id)] == ["close_lost"]
    await time_skipping_env.sleep(timedelta(days=5))
    assert await triggers(ts_stack.sessions, workflow_id) == [
        ("close_lost", "otto@example.com"),
        ("follow_up_due", "timer"),
    ]
    result = await ts_stack.client.get_workflow_handle_for(OpportunityWorkflow.run, workflow_id).result()
    assert result.data["follow_ups_sent"] == 1


async def test_stuck_with_current_setup_checks_in_every_six_months_until_stopped(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    workflow_id = workflow_id_for("opportunity", entity_id)
    await open_deal(ts_stack, entity_id)
    await ts_stack.gateway.transition(
        "opportunity", entity_id, "close_lost", {"loss_reason": "STUCK_WITH_CURRENT_SETUP"}, principal=OPERATOR
    )
    await time_skipping_env.sleep(timedelta(days=370))
    assert [t for t, _ in await triggers(ts_stack.sessions, workflow_id)] == [
        "close_lost",
        "follow_up_due",
        "follow_up_due",
    ]
    await ts_stack.gateway.transition(
        "opportunity", entity_id, "stop_follow_ups", principal=OPERATOR, reason="they bought a competitor's suite"
    )
    handle = ts_stack.client.get_workflow_handle_for(OpportunityWorkflow.run, workflow_id)
    # It completes: nothing is left to fire once the follow-ups stop.
    assert (await handle.result()).data["follow_ups_stopped"]


async def test_the_policy_is_pinned_when_the_deal_opens(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    before, after = f"{entity_id}-before", f"{entity_id}-after"
    await open_deal(ts_stack, before)
    changed = ts_stack.settings.model_copy(
        update={"policy_overrides": {"opportunity": {"silence_first_nudge_after": "P2D"}}}
    )
    await open_deal(ts_stack, after, gateway=LifecycleGateway(ts_stack.client, changed))
    await time_skipping_env.sleep(timedelta(days=3))
    [nudge] = [e for e in await effects(ts_stack.sessions, workflow_id_for("opportunity", after)) if e.type == "notify"]
    assert nudge.name == "silence_nudge" and nudge.payload["body"].startswith("No reply from ACME for 2 days, since ")
    assert await nudges(ts_stack, workflow_id_for("opportunity", before)) == []
    row = await lifecycle(ts_stack.sessions, workflow_id_for("opportunity", before))
    assert row is not None and row.policy["silence_first_nudge_after"] == "P14D"


async def test_continue_as_new_keeps_state_deadlines_and_applied_keys(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    settings = ts_stack.settings.model_copy(update={"continue_as_new_after_events": 20})
    gateway = LifecycleGateway(ts_stack.client, settings)
    workflow_id = workflow_id_for("opportunity", entity_id)
    opened = await open_deal(ts_stack, entity_id, gateway=gateway)
    first = await gateway.transition(
        "opportunity",
        entity_id,
        "update_fields",
        {"amount": "70000"},
        principal=OPERATOR,
        idempotency_key="raise-amount",
    )
    for n in range(6):
        await gateway.transition(
            "opportunity",
            entity_id,
            "record_customer_reply",
            {"note": f"reply {n}"},
            principal=OPERATOR,
            idempotency_key=f"reply-{n}",
        )
    latest = await ts_stack.client.get_workflow_handle(workflow_id).fetch_history()
    started = latest.events[0].workflow_execution_started_event_attributes
    assert started.continued_execution_run_id, "the workflow should have continued as new"

    again = await gateway.transition(
        "opportunity",
        entity_id,
        "update_fields",
        {"amount": "70000"},
        principal=OPERATOR,
        idempotency_key="raise-amount",
    )
    assert again.transition.seq == first.transition.seq
    # The key's request is remembered with it across the new run: another request under it is refused.
    with pytest.raises(IdempotencyKeyReused) as reused:
        await gateway.transition(
            "opportunity",
            entity_id,
            "update_fields",
            {"amount": "90000"},
            principal=OPERATOR,
            idempotency_key="raise-amount",
        )
    assert reused.value.details["original_trigger"] == "update_fields"
    rows = await transitions(ts_stack.sessions, workflow_id)
    assert [r.seq for r in rows] == list(range(1, 9))
    assert [r.idempotency_key for r in rows].count("raise-amount") == 1

    snapshot = await gateway.snapshot("opportunity", entity_id)
    assert snapshot.seq == 8 and snapshot.data["amount"] == "70000"
    assert snapshot.opened_at == opened.snapshot.opened_at
    # The silence ladder survived the new run and still fires.
    await time_skipping_env.sleep(timedelta(days=15))
    assert await nudges(ts_stack, workflow_id) == ["Still interested?"]


async def test_an_annual_deal_closed_won_opens_its_renewal_opportunity(ts_stack: Stack, entity_id: str):
    # A product-led deal may join at Vendor Approval (004:10791).
    await ts_stack.gateway.open(
        "opportunity", entity_id, {**DEAL, "plan_type": "ANNUAL"}, principal=OPERATOR, initial_state="VENDOR_APPROVAL"
    )
    await ts_stack.gateway.transition(
        "opportunity",
        entity_id,
        "record_criterion",
        {"stage": "VENDOR_APPROVAL", "criterion": "contract_signed", "evidence": "PandaDoc #42"},
        principal=OPERATOR,
    )
    won = await ts_stack.gateway.transition("opportunity", entity_id, "close_won", principal=OPERATOR)
    assert won.snapshot.state == "CLOSED_WON"

    renewal_id = workflow_id_for("opportunity", f"{entity_id}-renewal-1")
    renewal = await eventually(lambda: lifecycle(ts_stack.sessions, renewal_id))
    assert renewal.state == "QUALIFICATION"
    assert renewal.data["record_type"] == "RENEWAL" and renewal.data["renewal_of"] == entity_id
    assert renewal.data["arr_up_for_renewal"] == "60000" and renewal.owner == "tae@example.com"
    opening = (await transitions(ts_stack.sessions, renewal_id))[0]
    assert opening.actor == "otto@example.com" and entity_id in (opening.reason or "")
    started = await eventually(lambda: _delivered(ts_stack, workflow_id_for("opportunity", entity_id), 5))
    assert [e.name for e in started] == [
        "revops_set_up_billing",
        "closed_won_announced",
        "open_renewal_opportunity",
        "open_contract_renewal",
        "open_onboarding",
    ]


async def test_a_passed_next_step_due_date_reaches_the_owner(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    workflow_id = workflow_id_for("opportunity", entity_id)
    opened = await open_deal(ts_stack, entity_id)
    due = (opened.snapshot.opened_at + timedelta(days=2)).date().isoformat()
    await ts_stack.gateway.transition(
        "opportunity",
        entity_id,
        "update_fields",
        {"next_step": {"text": "Security review call", "customer_owner": "CISO", "due_date": due}},
        principal=OPERATOR,
    )
    await time_skipping_env.sleep(timedelta(days=4))
    [overdue] = [e for e in await effects(ts_stack.sessions, workflow_id) if e.name == "next_step_overdue"]
    assert overdue.recipients == ["tae@example.com"]
    assert overdue.payload["body"] == f'"Security review call" was due {due}.'
    assert [t for t, _ in await triggers(ts_stack.sessions, workflow_id)] == ["update_fields"]


async def test_of_two_requests_decided_on_the_same_state_the_second_is_decided_again(
    local_env: WorkflowEnvironment, settings: Settings, sessions: Sessions, entity_id: str
):
    # Sent while no worker polls, both updates reach the next worker in one workflow task.
    # Each is decided on the state it meets: the first applies, the second is refused on
    # the state the first left.
    gateway = LifecycleGateway(local_env.client, settings, sessions)
    async with build_worker(local_env.client, settings, sessions):
        await gateway.open("opportunity", entity_id, DEAL, principal=OPERATOR)
    closings = [
        asyncio.create_task(
            gateway.transition("opportunity", entity_id, "close_lost", {"loss_reason": reason}, principal=OPERATOR)
        )
        for reason in ("COMPETITOR", "PRICING")
    ]
    await asyncio.sleep(1)
    async with build_worker(local_env.client, settings, sessions):
        outcomes = await asyncio.gather(*closings, return_exceptions=True)
    applied = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(applied) == 1 and applied[0].snapshot.state == "CLOSED_LOST"
    assert len(refused) == 1 and isinstance(refused[0], InvalidTransition), refused
    assert [t for t, _ in await triggers(sessions, workflow_id_for("opportunity", entity_id))] == ["close_lost"]
