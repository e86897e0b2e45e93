"""A lifecycle whose data PostgreSQL cannot hold (recorded before the API bounded its
input, or sent to Temporal by something other than the API) is reported, not retried
silently, and does not stop ``reconcile --repair`` from repairing the others."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlmodel import col

from services.db import upgrade
from services.models import LifecycleRow
from services.reconcile import reconcile
from tests.conftest import OPERATOR, Stack
from tests.postgres import PostgresServer
from tests.reliability.test_reconcile import DEAL
from tests.workflows.helpers import eventually
from workflows.engine.instance import LifecycleInstance
from workflows.engine.types import LifecycleInput, workflow_id_for
from workflows.engine.visibility import search_attributes
from workflows.registry import SPECS, WORKFLOWS

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    url = postgres.create_database(f"unwritable_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    return url


async def test_repair_reports_what_the_database_refuses_and_repairs_the_rest(local_stack: Stack, entity_id: str):
    client, sessions, queue = local_stack.client, local_stack.sessions, local_stack.settings.task_queue
    healthy, legacy = f"{entity_id}-ok", f"{entity_id}-legacy"
    await local_stack.gateway.open("opportunity", healthy, DEAL, principal=OPERATOR)
    spec = SPECS["opportunity"]
    data, policy = LifecycleInstance.validate_new(spec, DEAL, {}, datetime.now(UTC))
    state = LifecycleInstance.entry_state(spec, data, None)
    # Straight to Temporal, past the API's checks: a reason longer than its column.
    handle = await client.start_workflow(
        WORKFLOWS["opportunity"].run,
        LifecycleInput(
            kind="opportunity",
            entity_id=legacy,
            data=data.model_dump(mode="json"),
            policy=policy.model_dump(mode="json"),
            actor=OPERATOR.actor,
            reason="r" * 5000,
            initial_state=state,
        ),
        id=workflow_id_for("opportunity", legacy),
        task_queue=queue,
        search_attributes=search_attributes("opportunity", state, spec.owner_of(data), "acme", None),
    )
    try:
        async with sessions.begin() as session:
            await session.execute(
                sa.delete(LifecycleRow).where(col(LifecycleRow.workflow_id) == workflow_id_for("opportunity", healthy))
            )

        async def both_listed():
            report = await reconcile(client, sessions, queue)
            return report if report.checked == 2 else None

        found = await eventually(both_listed)
        assert {d.workflow_id: d.problem for d in found.differences} == {
            workflow_id_for("opportunity", healthy): "missing from the read model",
            workflow_id_for("opportunity", legacy): "missing from the read model",
        }
        repaired = await reconcile(client, sessions, queue, repair=True)
        assert repaired.repaired == [workflow_id_for("opportunity", healthy)]
        assert [u.workflow_id for u in repaired.unrepairable] == [workflow_id_for("opportunity", legacy)]
        assert "StringDataRightTruncation" in repaired.unrepairable[0].error
        assert not repaired.clean
        after = await reconcile(client, sessions, queue)
        assert [d.workflow_id for d in after.differences] == [workflow_id_for("opportunity", legacy)]
    finally:
        await handle.terminate("test over")
