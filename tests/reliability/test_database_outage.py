"""A database outage delays the read model but loses nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.db import upgrade
from tests.conftest import OPERATOR, Stack
from tests.postgres import PostgresServer
from tests.workflows.helpers import eventually, lifecycle, transitions
from workflows.engine.types import workflow_id_for

DEAL = {
    "name": "Deal",
    "account": {"id": "acme", "name": "ACME"},
    "owner": "ann@example.com",
    "close_date": "2027-03-31",
    "amount": "1000",
}


@pytest.fixture
def outage_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def database_url(outage_server: PostgresServer) -> str:
    url = outage_server.create_database("outage")
    upgrade(url)
    return url


async def test_transitions_apply_during_an_outage_and_the_read_model_catches_up(
    local_stack: Stack, outage_server: PostgresServer, entity_id: str
):
    g, workflow_id = local_stack.gateway, workflow_id_for("opportunity", entity_id)
    opened = await g.open("opportunity", entity_id, DEAL, principal=OPERATOR)
    assert opened.projected

    outage_server.halt()
    answers = []
    for n in range(3):
        answers.append(
            await g.transition(
                "opportunity",
                entity_id,
                "record_customer_reply",
                {"note": f"reply {n}"},
                principal=OPERATOR,
                idempotency_key=f"reply-{n}",
            )
        )
    # Applied and acknowledged by the workflow, not yet in the read model.
    assert [a.transition.seq for a in answers] == [2, 3, 4]
    assert not any(a.projected for a in answers)
    assert (await g.snapshot("opportunity", entity_id)).seq == 4

    outage_server.start()

    async def caught_up():
        row = await lifecycle(local_stack.sessions, workflow_id)
        return row if row is not None and row.seq == 4 else None

    row = await eventually(caught_up, within=90)
    assert row.data["last_customer_reply_at"] is not None
    assert [t.seq for t in await transitions(local_stack.sessions, workflow_id)] == [1, 2, 3, 4]
    after = await g.transition("opportunity", entity_id, "update_fields", {"name": "After"}, principal=OPERATOR)
    assert after.projected and after.transition.seq == 5
