"""One idempotency key, many sends: applied once, the same answer every time, even after
the workflow continued as new (where Temporal's own update deduplication no longer reaches)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.settings import Environment, Settings
from tests.conftest import TOKENS, Api

UPDATE = """mutation($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) {
  __typename ... on OpportunityChanged { transition { seq trigger fromState toState actor reason at params
  idempotencyKey } opportunity { amount } } } }"""
REPLY = """mutation($input: CustomerReplyInput!) { recordCustomerReply(input: $input) { __typename } }"""
OPEN = """mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) { __typename } }"""
VERSION = """query($id: ID!) { opportunity(id: $id) { ... on Opportunity { version history { totalCount } } } }"""


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        task_queue=f"tq-{uuid.uuid4()}",
        api_tokens=TOKENS,
        continue_as_new_after_events=20,
    )


async def version(api: Api, entity_id: str) -> tuple[int, int]:
    found = (await api.gql(VERSION, {"id": entity_id}))["opportunity"]
    return found["version"], found["history"]["totalCount"]


async def test_one_key_sent_many_times_concurrently_and_after_continue_as_new(api: Api, entity_id: str):
    await api.gql(
        OPEN,
        {
            "input": {
                "id": entity_id,
                "name": "Deal",
                "account": {"id": "acme", "name": "ACME"},
                "closeDate": "2027-03-31",
                "amount": "1000",
            }
        },
    )
    request = {"input": {"id": entity_id, "amount": "2500", "reason": "new quote", "idempotencyKey": "quote-v2"}}
    answers = await asyncio.gather(*(api.gql(UPDATE, request) for _ in range(20)))
    transitions = [a["updateOpportunity"]["transition"] for a in answers]
    assert all(t == transitions[0] for t in transitions), "every answer is the same result"
    assert transitions[0]["seq"] == 2 and transitions[0]["idempotencyKey"] == "quote-v2"
    assert await version(api, entity_id) == (2, 2)

    client = api.stack.client
    first_run = (await client.get_workflow_handle(f"opportunity/{entity_id}").describe()).run_id
    for n in range(8):
        await api.gql(REPLY, {"input": {"id": entity_id, "note": f"reply {n}", "idempotencyKey": f"reply-{n}"}})
    assert (await client.get_workflow_handle(f"opportunity/{entity_id}").describe()).run_id != first_run

    again = await asyncio.gather(*(api.gql(UPDATE, request) for _ in range(5)))
    assert all(a["updateOpportunity"]["transition"] == transitions[0] for a in again)
    assert await version(api, entity_id) == (10, 10)
