"""The handover workflow on the time-skipping test server: the week of follow-ups, readiness
read across lifecycles, and the owner cascade surviving a worker killed mid-way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from services.db import Sessions
from services.lifecycles import LifecycleGateway, Principal
from services.settings import Settings
from services.worker import build_worker
from tests.conftest import ADMIN, OPERATOR, Stack
from tests.workflows.helpers import effects, eventually, lifecycle, transitions, triggers
from workflows.engine.errors import GuardFailed
from workflows.engine.spec import Role
from workflows.engine.types import workflow_id_for
from workflows.engine.visibility import LIFECYCLE_OWNER
from workflows.handover import HandoverWorkflow

OUTGOING, INCOMING = "tae@example.com", "csm@example.com"
AS_INCOMING = Principal(actor=INCOMING, role=Role.OPERATOR)
PRODUCTS = ["PRODUCT_ANALYTICS", "SESSION_REPLAY", "FEATURE_FLAGS"]


def request(account: str, **fields: Any) -> dict[str, Any]:
    return {
        "account": {"id": account, "name": account.upper()},
        "arr": "64000",
        "owner": OUTGOING,
        "outgoing_role": "TAE",
        "reason": "ONBOARDED",
        "paid_products": PRODUCTS,
        "onboarded_products": PRODUCTS[:2],
        **fields,
    }


async def to_assigned(g: LifecycleGateway, entity_id: str) -> None:
    await g.transition("handover", entity_id, "allocate", {"team": "TAM", "region": "US"}, principal=OPERATOR)
    await g.transition("handover", entity_id, "assign", {"incoming_owner": INCOMING}, principal=OPERATOR)


async def record_checklist(g: LifecycleGateway, entity_id: str) -> None:
    today = (await g.snapshot("handover", entity_id)).updated_at.date().isoformat()
    await g.transition(
        "handover",
        entity_id,
        "record_account_plan",
        {"link": "https://vitally.example/plan", "updated_on": today},
        principal=OPERATOR,
    )
    await g.transition("handover", entity_id, "record_onboarding", {"product": "FEATURE_FLAGS"}, principal=OPERATOR)
    await g.transition(
        "handover", entity_id, "record_health_check", {"healthy": True, "note": "usage steady"}, principal=OPERATOR
    )


async def to_call_held(g: LifecycleGateway, entity_id: str) -> None:
    await to_assigned(g, entity_id)
    await record_checklist(g, entity_id)
    await g.transition("handover", entity_id, "mark_ready", principal=OPERATOR)
    await g.transition("handover", entity_id, "record_call", {"notes": "champion: Dana"}, principal=OPERATOR)


async def follow_up(g: LifecycleGateway, entity_id: str) -> None:
    for item in ("ACCOUNT_PLAN_UPDATED", "INTRODUCED", "OPEN_ITEMS_PICKED_UP"):
        await g.transition(
            "handover", entity_id, "record_follow_up", {"item": item, "note": "done"}, principal=AS_INCOMING
        )


async def chased(stack: Stack, workflow_id: str) -> list[str]:
    """The reminders and escalations about the incoming owner's follow-ups, in the order they were sent."""
    chasers = ("follow_up_reminder", "follow_up_escalated")
    return [e.name for e in await effects(stack.sessions, workflow_id) if e.name in chasers]


async def test_a_full_handover_with_the_week_of_follow_ups(ts_stack: Stack, time_skipping_env: WorkflowEnvironment):
    g, env, workflow_id = ts_stack.gateway, time_skipping_env, workflow_id_for("handover", "acme/1")
    await g.open("handover", "acme/1", request("acme"), principal=OPERATOR)
    await to_call_held(g, "acme/1")
    steps = ["allocate", "assign", "record_account_plan", "record_onboarding", "record_health_check"]
    steps += ["mark_ready", "record_call"]
    assert [t for t, _ in await triggers(ts_stack.sessions, workflow_id)] == steps

    await env.sleep(timedelta(days=6, hours=23))
    assert await chased(ts_stack, workflow_id) == []
    await env.sleep(timedelta(hours=2))  # day 7: the incoming owner is reminded
    assert await chased(ts_stack, workflow_id) == ["follow_up_reminder"]
    await env.sleep(timedelta(days=1, hours=22))  # day 8 and 23 hours: not yet the team lead
    assert await chased(ts_stack, workflow_id) == ["follow_up_reminder"]
    await env.sleep(timedelta(hours=2))  # day 9: the team lead hears of it
    assert await chased(ts_stack, workflow_id) == ["follow_up_reminder", "follow_up_escalated"]
    # Reminding and escalating change nothing in the handover's history.
    assert [t for t, _ in await triggers(ts_stack.sessions, workflow_id)] == steps
    sent = {e.name: e for e in await effects(ts_stack.sessions, workflow_id)}
    assert sent["follow_up_reminder"].recipients == [INCOMING]
    assert sent["follow_up_escalated"].recipients == ["role:team_lead", INCOMING]
    row = await lifecycle(ts_stack.sessions, workflow_id)
    assert row is not None and row.next_deadline is None

    await follow_up(g, "acme/1")
    done = await g.transition("handover", "acme/1", "complete", principal=OPERATOR)
    assert done.snapshot.state == "COMPLETED"
    result = await ts_stack.client.get_workflow_handle_for(HandoverWorkflow.run, workflow_id).result()
    assert result.state == "COMPLETED" and set(result.data["follow_ups"]) == {
        "ACCOUNT_PLAN_UPDATED",
        "INTRODUCED",
        "OPEN_ITEMS_PICKED_UP",
    }


async def test_follow_ups_done_within_the_week_fire_no_reminder(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment
):
    g, workflow_id = ts_stack.gateway, workflow_id_for("handover", "initech/1")
    await g.open("handover", "initech/1", request("initech"), principal=OPERATOR)
    await to_call_held(g, "initech/1")
    await time_skipping_env.sleep(timedelta(days=3))
    await follow_up(g, "initech/1")
    await time_skipping_env.sleep(timedelta(days=10))
    assert not [t for t, actor in await triggers(ts_stack.sessions, workflow_id) if actor == "timer"]
    row = await lifecycle(ts_stack.sessions, workflow_id)
    assert row is not None and row.state == "CALL_HELD" and row.deadlines == []


async def test_readiness_is_refused_while_a_late_payment_of_the_account_is_open(ts_stack: Stack):
    g = ts_stack.gateway
    await g.open("handover", "hooli/1", request("hooli"), principal=OPERATOR)
    await g.open(
        "late-payment",
        "in_hooli_7",
        {
            "invoice_id": "in_hooli_7",
            "account": {"id": "hooli", "name": "HOOLI"},
            "owner": OUTGOING,
            "amount": "2500.00",
            "collection_method": "CARD",
        },
        principal=OPERATOR,
    )
    # Another account's unpaid invoice is no business of this handover.
    await g.open(
        "late-payment",
        "in_other_1",
        {
            "invoice_id": "in_other_1",
            "account": {"id": "other", "name": "Other"},
            "amount": "90",
            "collection_method": "CARD",
        },
        principal=OPERATOR,
    )
    await to_assigned(g, "hooli/1")
    await record_checklist(g, "hooli/1")
    before = await lifecycle(ts_stack.sessions, workflow_id_for("handover", "hooli/1"))

    with pytest.raises(GuardFailed) as refused:
        await g.transition("handover", "hooli/1", "mark_ready", principal=OPERATOR)
    assert [u["guard"] for u in refused.value.details["unmet"]] == ["invoices_paid"]
    assert "late-payment/in_hooli_7" in refused.value.message and "in_other_1" not in refused.value.message
    after = await lifecycle(ts_stack.sessions, workflow_id_for("handover", "hooli/1"))
    assert after is not None and before is not None
    assert (after.state, after.seq, after.data) == (before.state, before.seq, before.data)

    await g.transition("late-payment", "in_hooli_7", "record_payment", {"amount": "2500.00"}, principal=OPERATOR)
    ready = await g.transition("handover", "hooli/1", "mark_ready", principal=OPERATOR)
    assert ready.snapshot.state == "READY"
    # The decision's facts are in the update's recorded input: replays see what it saw.
    assert (await transitions(ts_stack.sessions, ready.snapshot.workflow_id))[-1].trigger == "mark_ready"


# ---- the cascade, with the worker killed in the middle of it -------------------------------------


@contextmanager
def cascade_dies_after(updates: int, stalled: asyncio.Event) -> Iterator[None]:
    """The service's fan-out gets ``updates`` owner changes through, then its worker hangs.

    Stands in for a worker process dying between two targets: the delivery activity is
    in flight, some targets are changed and the rest are not.
    """
    real = LifecycleGateway.transition
    sent = 0

    async def transition(self: LifecycleGateway, *args: Any, principal: Principal, **kwargs: Any) -> Any:
        nonlocal sent
        if principal.role is Role.SYSTEM:
            if sent == updates:
                stalled.set()
                await asyncio.Event().wait()
            sent += 1
        return await real(self, *args, principal=principal, **kwargs)

    LifecycleGateway.transition = transition  # type: ignore[method-assign]
    try:
        yield
    finally:
        LifecycleGateway.transition = real  # type: ignore[method-assign]


DEAL = {"name": "Deal", "owner": OUTGOING, "close_date": "2027-06-30", "amount": "12000"}


async def test_the_owner_cascade_applies_once_to_every_open_lifecycle_even_if_the_worker_dies(
    local_env: WorkflowEnvironment, settings: Settings, sessions: Sessions, entity_id: str
):
    # The dev server, not the time-skipping one: a retried delivery resends updates whose
    # ids the targets already applied, and only the real server answers those from its cache.
    client, g = local_env.client, LifecycleGateway(local_env.client, settings, sessions)
    account = request(entity_id)["account"]
    handover = f"{entity_id}/1"
    open_ids = [("opportunity", f"{entity_id}-deal-{n}") for n in range(1, 4)] + [("late-payment", f"{entity_id}-in")]
    untouched = [("opportunity", f"{entity_id}-lost"), ("opportunity", f"{entity_id}-other")]
    stalled = asyncio.Event()

    with cascade_dies_after(2, stalled):
        async with build_worker(client, settings, sessions):
            for kind, ident in open_ids[:3]:
                await g.open(kind, ident, {**DEAL, "account": account}, principal=OPERATOR)
            await g.open("opportunity", untouched[0][1], {**DEAL, "account": account}, principal=OPERATOR)
            await g.transition(
                "opportunity", untouched[0][1], "close_lost", {"loss_reason": "PRICING"}, principal=OPERATOR
            )
            await g.open(
                "opportunity",
                untouched[1][1],
                {**DEAL, "account": {"id": "other", "name": "Other"}},
                principal=OPERATOR,
            )
            await g.open("handover", handover, request(entity_id), principal=OPERATOR)
            await to_call_held(g, handover)
            # A card charge fails after the call: its late payment is open when the handover completes.
            await g.open(
                "late-payment",
                open_ids[3][1],
                {
                    "invoice_id": open_ids[3][1],
                    "account": account,
                    "owner": OUTGOING,
                    "amount": "800",
                    "collection_method": "CARD",
                },
                principal=OPERATOR,
            )
            await follow_up(g, handover)
            await g.transition("handover", handover, "complete", principal=ADMIN, reason="unassigned in Vitally")
            await asyncio.wait_for(stalled.wait(), timeout=30)
            # Two targets changed, the others not reached: the worker goes away here.

    assert len([ident for kind, ident in open_ids if await _owner_changes(sessions, kind, ident)]) == 2

    async with build_worker(client, settings, sessions):
        # The delivery is retried on the new worker, after its backoff.
        cascade = await eventually(lambda: _delivered(sessions, handover), within=60)
    assert cascade.attempts >= 2
    reason = f"Handover {handover} of {account['name']} completed: {OUTGOING} → {INCOMING}"
    for kind, ident in open_ids:
        changes = await _owner_changes(sessions, kind, ident)
        assert [(c.actor, c.reason, c.params) for c in changes] == [
            ("ada@example.com", reason, {"new_owner": INCOMING})
        ], ident
        row = await lifecycle(sessions, workflow_id_for(kind, ident))
        assert row is not None and row.owner == INCOMING
        described = await client.get_workflow_handle(workflow_id_for(kind, ident)).describe()
        assert described.typed_search_attributes.get(LIFECYCLE_OWNER) == INCOMING
    for kind, ident in untouched:
        assert await _owner_changes(sessions, kind, ident) == []
        row = await lifecycle(sessions, workflow_id_for(kind, ident))
        assert row is not None and row.owner == OUTGOING


async def _owner_changes(sessions: Sessions, kind: str, ident: str) -> list[Any]:
    return [t for t in await transitions(sessions, workflow_id_for(kind, ident)) if t.trigger == "change_owner"]


async def _delivered(sessions: Sessions, handover: str) -> Any:
    rows = [e for e in await effects(sessions, workflow_id_for("handover", handover)) if e.name == "owners_follow"]
    return rows[0] if rows and rows[0].status == "DELIVERED" else None
