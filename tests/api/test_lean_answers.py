"""A transition's update carries back only what the mutation's selection reads.

The workflow leaves the pinned policy and the deadlines out of its answer (and so out of
the history) when the selection reads neither; the GraphQL answer is the same either way:
the lifecycle as the read model has it after the transition. Over real HTTP.
"""

from __future__ import annotations

import json
from typing import Any

from temporalio.client import Client

from tests.api.documents import mutation
from tests.api.test_idempotency import HttpApi, criterion, http_api, open_deal
from tests.conftest import TOKEN, Stack

__all__ = ["http_api"]  # the fixture, shared with the idempotency tests

LEAN = "stage version name amount nextDeadline summary history { totalCount }"
# Every field that reads the policy or the deadlines, one of them through a named fragment.
FULL = f"{LEAN} deadlines {{ timer trigger dueAt description }} availableTransitions {{ trigger allowed }} ...pinned"
PINNED = "fragment pinned on Lifecycle { policy }"


def with_fragments(document: str, selection: str) -> str:
    return f"{document} {PINNED}" if "...pinned" in selection else document


def record(selection: str) -> str:
    changed = f"... on OpportunityChanged {{ opportunity {{ {selection} }} transition {{ seq idempotencyKey }} }}"
    return with_fragments(mutation("recordExitCriterion", "ExitCriterionInput", changed), selection)


async def read_model_view(http_api: HttpApi, entity_id: str, selection: str) -> dict[str, Any]:
    query = f"query($id: ID!) {{ opportunity(id: $id) {{ ... on Opportunity {{ {selection} }} }} }}"
    document = with_fragments(query, selection)
    response = await http_api.http.post(
        "/graphql",
        json={"query": document, "variables": {"id": entity_id}},
        headers={"authorization": f"Bearer {TOKEN['viewer']}"},
    )
    body = response.json()
    assert not body.get("errors"), body["errors"]
    opportunity: dict[str, Any] = body["data"]["opportunity"]
    return opportunity


async def update_results(client: Client, entity_id: str) -> list[dict[str, Any]]:
    """Each completed update's result, as the lifecycle's history recorded it."""
    history = await client.get_workflow_handle(f"opportunity/{entity_id}").fetch_history()
    return [
        json.loads(event.workflow_execution_update_completed_event_attributes.outcome.success.payloads[0].data)
        for event in history.events
        if event.HasField("workflow_execution_update_completed_event_attributes")
    ]


async def test_the_answer_is_the_read_model_s_whatever_the_update_carries(
    http_api: HttpApi, local_stack: Stack, entity_id: str
):
    await open_deal(http_api, entity_id)

    full = await http_api.call(record(FULL), criterion(entity_id, "full"))
    assert full["__typename"] == "OpportunityChanged", full
    assert full["opportunity"]["policy"] and full["opportunity"]["deadlines"]
    assert full["opportunity"] == await read_model_view(http_api, entity_id, FULL)

    lean = await http_api.call(record(LEAN), {**criterion(entity_id, "lean"), "criterion": "cost_of_inaction"})
    assert lean["__typename"] == "OpportunityChanged", lean
    assert lean["opportunity"]["version"] == 3
    assert lean["opportunity"] == await read_model_view(http_api, entity_id, LEAN)

    # What travelled: the full answer's update carried the policy and the deadlines, the
    # lean one's left them empty and says so.
    *_, carried, left_out = await update_results(local_stack.client, entity_id)
    assert carried["snapshot"]["policy"] and carried["snapshot"]["deadlines"] and carried["omitted"] == []
    assert left_out["snapshot"]["policy"] == {} and left_out["snapshot"]["deadlines"] == []
    assert left_out["omitted"] == ["policy", "deadlines"]
    assert left_out["snapshot"]["next_deadline"] == carried["snapshot"]["next_deadline"]


async def test_a_retry_that_reads_more_than_the_first_request_gets_all_it_reads(
    http_api: HttpApi, local_stack: Stack, entity_id: str
):
    await open_deal(http_api, entity_id)
    first = await http_api.call(record(LEAN), criterion(entity_id, "K"))
    assert first["transition"] == {"seq": 2, "idempotencyKey": "K"}

    # The same request under the same key, now selecting the policy and the deadlines: the
    # update answers the first request's result (applied once), and the gateway fills in
    # what that one left out from the workflow.
    retried = await http_api.call(record(FULL), criterion(entity_id, "K"))
    assert retried["transition"] == first["transition"]
    assert retried["opportunity"] == await read_model_view(http_api, entity_id, FULL)
    assert retried["opportunity"]["policy"] and retried["opportunity"]["deadlines"]
    assert len(await update_results(local_stack.client, entity_id)) == 2  # the opening's and one transition
