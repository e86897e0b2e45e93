"""The reconciliation check finds every way the read model can drift, and repairs it."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col

from services.models import LifecycleRow, TransitionRow
from services.reconcile import reconcile
from tests.conftest import OPERATOR, Stack
from tests.workflows.helpers import eventually

DEAL = {
    "name": "Deal",
    "account": {"id": "acme", "name": "ACME"},
    "owner": "ann@example.com",
    "close_date": "2027-03-31",
    "amount": "1000",
}


async def test_differences_are_found_and_repaired(local_stack: Stack, entity_id: str):
    g, sessions, queue = local_stack.gateway, local_stack.sessions, local_stack.settings.task_queue
    ids = [f"{entity_id}-{n}" for n in range(4)]
    for ident in ids:
        await g.open("opportunity", ident, DEAL, principal=OPERATOR)
        await g.transition("opportunity", ident, "update_fields", {"name": "Renamed"}, principal=OPERATOR)

    async def all_listed():
        report = await reconcile(local_stack.client, sessions, queue)
        return report if report.checked == len(ids) else None

    assert (await eventually(all_listed)).clean
    async with sessions.begin() as session:
        await session.execute(sa.delete(LifecycleRow).where(col(LifecycleRow.workflow_id) == f"opportunity/{ids[0]}"))
        await session.execute(
            sa.update(LifecycleRow)
            .where(col(LifecycleRow.workflow_id) == f"opportunity/{ids[1]}")
            .values(seq=1, state="CLOSED_LOST")
        )
        await session.execute(sa.delete(TransitionRow).where(col(TransitionRow.workflow_id) == f"opportunity/{ids[2]}"))
        session.add(
            LifecycleRow(
                **{
                    **(await session.get(LifecycleRow, f"opportunity/{ids[3]}")).model_dump(),
                    "workflow_id": "opportunity/ghost",
                    "entity_id": "ghost",
                }
            )
        )
    found = await reconcile(local_stack.client, sessions, queue)
    assert {d.workflow_id: d.problem for d in found.differences} == {
        f"opportunity/{ids[0]}": "missing from the read model",
        f"opportunity/{ids[1]}": "read model behind the workflow",
        f"opportunity/{ids[2]}": "audit log has 0 of 2 transitions",
        "opportunity/ghost": "in the read model, unknown to Temporal",
    }
    repaired = await reconcile(local_stack.client, sessions, queue, repair=True)
    assert sorted(repaired.repaired) == sorted(f"opportunity/{i}" for i in ids[:3])
    after = await reconcile(local_stack.client, sessions, queue)
    assert [d.workflow_id for d in after.differences] == ["opportunity/ghost"]
    async with sessions() as session:
        row = await session.get(LifecycleRow, f"opportunity/{ids[1]}")
        assert (row.seq, row.state, row.data["name"]) == (2, "PROBLEM_AGREEMENT", "Renamed")
