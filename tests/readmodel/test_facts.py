"""Facts gathered from the read model reach the workflow's guards with the request."""

from __future__ import annotations

import services.facts
from tests.conftest import OPERATOR, Stack


async def test_the_gateway_sends_the_declared_facts_with_the_request(local_stack: Stack, entity_id, monkeypatch):
    seen = []

    async def open_deals(session, snapshot):
        seen.append(snapshot.entity_id)
        return {"open_deals_on_account": 1}

    monkeypatch.setattr(services.facts, "_fact_providers", lambda: {("opportunity", "update_fields"): open_deals})
    await local_stack.gateway.open(
        "opportunity",
        entity_id,
        {
            "name": "Deal",
            "account": {"id": "acme", "name": "ACME"},
            "owner": "ann@example.com",
            "close_date": "2027-03-31",
            "amount": "1000",
        },
        principal=OPERATOR,
    )
    await local_stack.gateway.transition(
        "opportunity", entity_id, "update_fields", {"name": "Renamed"}, principal=OPERATOR
    )
    history = await local_stack.client.get_workflow_handle(f"opportunity/{entity_id}").fetch_history()
    accepted = [e for e in history.events if e.HasField("workflow_execution_update_accepted_event_attributes")]
    payload = accepted[-1].workflow_execution_update_accepted_event_attributes.accepted_request.input.args
    assert b'"open_deals_on_account":1' in payload.payloads[0].data
    assert seen == [entity_id]
