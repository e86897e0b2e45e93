"""The handover read model on SQLite and PostgreSQL: the typed row, lists, the account's owner,
the next id and the late-payment facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.db import Sessions
from services.handover import (
    HANDOVERS,
    account_owner,
    next_handover_id,
    open_late_payments,
    open_lifecycles,
)
from services.models import LifecycleRow
from services.pagination import encode_cursor
from services.projection import apply_projection, lifecycle_values
from workflows.engine.errors import AlreadyExists
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import Role
from workflows.engine.types import LifecycleSnapshot
from workflows.handover import EXPOSURE, HANDOVER, OPEN_LATE_PAYMENTS, FollowUpItem

T0 = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
FOLLOW_UP_DUE = next(c for c in EXPOSURE.columns if c.name == "follow_up_due_at")


def step(instance: LifecycleInstance, trigger: str, params: dict[str, Any], at: datetime, actor: str = "x@e.com"):
    decision = instance.decide(
        trigger, params, actor=actor, role=Role.OPERATOR, reason=None, now=at, facts={OPEN_LATE_PAYMENTS: []}
    )
    instance.apply(decision, at)


def handover(account: str, n: int, at: datetime, *, through: str, incoming: str = "csm@e.com") -> LifecycleInstance:
    data = {
        "account": {"id": account, "name": account.title()},
        "arr": "40000",
        "owner": "tae@e.com",
        "outgoing_role": "TAE",
        "reason": "ONBOARDED",
        "paid_products": ["SESSION_REPLAY"],
        "onboarded_products": ["SESSION_REPLAY"],
    }
    instance = LifecycleInstance.open(HANDOVER, f"{account}/{n}", data, {}, at, actor="tae@e.com")
    path: list[tuple[str, dict[str, Any]]] = [
        ("allocate", {"team": "TAM", "region": "EU"}),
        ("assign", {"incoming_owner": incoming}),
        ("record_account_plan", {"link": "x", "updated_on": at.date().isoformat()}),
        ("record_health_check", {"healthy": True, "note": "ok"}),
        ("mark_ready", {}),
        ("record_call", {}),
        *[("record_follow_up", {"item": item, "note": "done"}) for item in FollowUpItem],
        ("complete", {}),
    ]
    for trigger, params in path:
        if instance.core.history[-1].trigger == through:
            break
        step(instance, trigger, params, at + timedelta(hours=1))
    return instance


async def project(sessions: Sessions, instance: LifecycleInstance) -> None:
    async with sessions.begin() as session:
        await apply_projection(session=session, batch=instance.projection_batch(NOW))


async def test_the_typed_row_follows_the_handover(readmodel: Sessions):
    called = handover("acme", 1, T0, through="record_call")
    await project(readmodel, called)
    async with readmodel() as session:
        row = await session.get(HANDOVERS.table, "handover/acme/1")
    assert row is not None
    assert (row.state, row.outgoing_owner, row.incoming_owner, row.team, row.region, row.reason) == (
        "CALL_HELD",
        "tae@e.com",
        "csm@e.com",
        "TAM",
        "EU",
        "ONBOARDED",
    )
    assert row.follow_up_due_at == T0 + timedelta(hours=1, days=7) and row.completed_at is None
    for item in FollowUpItem:
        step(called, "record_follow_up", {"item": item, "note": "done"}, T0 + timedelta(days=2))
    step(called, "complete", {}, T0 + timedelta(days=2))
    await project(readmodel, called)
    async with readmodel() as session:
        row = await session.get(HANDOVERS.table, "handover/acme/1")
    assert row is not None and row.follow_up_due_at is None and row.completed_at == T0 + timedelta(days=2)


async def test_lists_filter_overdue_follow_ups_and_page_with_cursors(readmodel: Sessions):
    overdue = handover("acme", 1, T0, through="record_call")
    on_time = handover("globex", 1, NOW - timedelta(days=2), through="record_call")
    fresh = handover("initech", 1, T0 + timedelta(days=1), through="open")
    for instance in (overdue, on_time, fresh):
        await project(readmodel, instance)

    async def ids(overdue: bool | None, first: int = 10, after: str | None = None) -> tuple[list[str], Any]:
        async with readmodel() as session:
            page = await session.run_sync(
                HANDOVERS.read_page,
                [(FOLLOW_UP_DUE, overdue)],
                "OPENED_AT_DESC",
                first=first,
                after=after,
                max_page_size=50,
                now=NOW,
            )
        return [row.entity_id for row in page.items], page

    assert (await ids(overdue=True))[0] == ["acme/1"]
    assert (await ids(overdue=False))[0] == ["globex/1", "initech/1"]
    first, page = await ids(None, first=2)
    assert first == ["globex/1", "initech/1"] and page.has_next and page.total == 3
    rest, page = await ids(None, first=2, after=encode_cursor(page.keys[-1]))
    assert rest == ["acme/1"] and not page.has_next


async def test_the_account_owner_is_the_latest_completed_handovers_incoming_one(readmodel: Sessions):
    async with readmodel() as session:
        assert await account_owner(session, "acme") is None
    await project(readmodel, handover("acme", 1, T0, through="open"))
    async with readmodel() as session:
        requested = await account_owner(session, "acme")
    assert requested is not None and (requested.owner, requested.since) == ("tae@e.com", None)

    await project(readmodel, handover("acme", 1, T0, through="complete", incoming="first@e.com"))
    await project(readmodel, handover("acme", 2, T0 + timedelta(days=5), through="complete", incoming="second@e.com"))
    # A newer request does not move the owner until it completes.
    await project(readmodel, handover("acme", 3, T0 + timedelta(days=9), through="assign", incoming="third@e.com"))
    async with readmodel() as session:
        owner = await account_owner(session, "acme")
    assert owner is not None
    assert (owner.owner, owner.since, owner.handover_workflow_id) == (
        "second@e.com",
        T0 + timedelta(days=5, hours=1),
        "handover/acme/2",
    )


async def test_the_next_id_counts_the_accounts_handovers_and_refuses_while_one_is_open(readmodel: Sessions):
    async with readmodel() as session:
        assert await next_handover_id(session, "acme") == "acme/1"
    await project(readmodel, handover("acme", 1, T0, through="complete"))
    async with readmodel() as session:
        assert await next_handover_id(session, "acme") == "acme/2"
    await project(readmodel, handover("acme", 2, T0, through="allocate"))
    async with readmodel() as session:
        with pytest.raises(AlreadyExists, match="acme/2"):
            await next_handover_id(session, "acme")
        assert await next_handover_id(session, "globex") == "globex/1"


def late_payment(invoice: str, account: str, state: str, terminal: bool) -> LifecycleSnapshot:
    return LifecycleSnapshot(
        kind="late-payment",
        entity_id=invoice,
        workflow_id=f"late-payment/{invoice}",
        state=state,
        terminal=terminal,
        seq=1,
        data={},
        policy={},
        account_id=account,
        account_name=account,
        summary=f"Invoice {invoice}",
        opened_at=T0,
        state_entered_at=T0,
        updated_at=T0,
    )


async def test_the_late_payment_facts_read_the_generic_table(readmodel: Sessions):
    called = handover("acme", 1, T0, through="assign")
    await project(readmodel, called)
    # Only the generic lifecycle rows count: they are all the facts read.
    async with readmodel.begin() as session:
        for snapshot in (
            late_payment("in_1", "acme", "SUSPENDED", False),
            late_payment("in_2", "acme", "PAID", True),
            late_payment("in_3", "globex", "OVERDUE", False),
        ):
            session.add(LifecycleRow(**lifecycle_values(snapshot)))
    async with readmodel() as session:
        facts = await open_late_payments(session, called.snapshot(NOW))
        lifecycles = await open_lifecycles(session, "acme", first=10, after=None, max_page_size=50)
    assert facts == {
        OPEN_LATE_PAYMENTS: [{"workflow_id": "late-payment/in_1", "state": "SUSPENDED", "summary": "Invoice in_1"}]
    }
    assert [row.workflow_id for row in lifecycles.items] == ["handover/acme/1", "late-payment/in_1"]
