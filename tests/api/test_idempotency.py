"""Idempotency keys over real HTTP (uvicorn on a free port): Stripe's semantics.

The matrix: the same caller sending the same request again gets the original answer
and the change is applied once; the same caller reusing the key for a different
request is refused with ``IdempotencyKeyReused`` and nothing changes; another caller
using the same key is independent; the service's own key namespace is refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn

from services.api import create_app
from tests.api.documents import mutation
from tests.conftest import TOKEN, Stack
from tests.postgres import free_port
from workflows.engine.idempotency import SYSTEM_KEY_PREFIX

CHANGED = """
  ... on OpportunityChanged { opportunity { stage version } transition { seq trigger actor idempotencyKey } }
  ... on IdempotencyKeyReused { idempotencyKey originalTrigger originalSeq }
"""
OPEN = mutation("openOpportunity", "OpenOpportunityInput", CHANGED)
RECORD = mutation("recordExitCriterion", "ExitCriterionInput", CHANGED)
LOST = mutation("closeOpportunityLost", "CloseOpportunityLostInput", CHANGED)
STATE = """query($id: ID!) { opportunity(id: $id) { ... on Opportunity {
  stage version exitCriteria { key met } history { totalCount } } } }"""


class HttpApi:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(self, query: str, variables: dict[str, Any], role: str = "operator") -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": {"input": variables}},
            headers={"authorization": f"Bearer {TOKEN[role]}"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return next(iter(body["data"].values()))

    async def state(self, entity_id: str) -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": STATE, "variables": {"id": entity_id}},
            headers={"authorization": f"Bearer {TOKEN['viewer']}"},
        )
        return response.json()["data"]["opportunity"]


@pytest.fixture
async def http_api(local_stack: Stack) -> AsyncIterator[HttpApi]:
    app = create_app(local_stack.settings, client=local_stack.client)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        assert not serving.done(), "uvicorn did not start"
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.config.port}", timeout=60) as http:
            yield HttpApi(http)
    finally:
        server.should_exit = True
        await serving


def criterion(entity_id: str, key: str, evidence: str = "discovery call notes") -> dict[str, Any]:
    return {
        "id": entity_id,
        "stage": "PROBLEM_AGREEMENT",
        "criterion": "quantified_pain",
        "evidence": evidence,
        "idempotencyKey": key,
    }


async def open_deal(http_api: HttpApi, entity_id: str) -> None:
    deal = {
        "id": entity_id,
        "name": "ACME analytics",
        "account": {"id": "acme", "name": "ACME"},
        "closeDate": "2027-03-31",
        "amount": "60000",
    }
    opened = await http_api.call(OPEN, deal)
    assert opened["__typename"] == "OpportunityChanged", opened


async def test_the_idempotency_key_reuse_matrix(http_api: HttpApi, entity_id: str):
    await open_deal(http_api, entity_id)

    # Same caller, same request: the original answer, applied once.
    first = await http_api.call(RECORD, criterion(entity_id, "K"))
    assert first["transition"] == {
        "seq": 2,
        "trigger": "record_criterion",
        "actor": "otto@example.com",
        "idempotencyKey": "K",
    }
    again = await http_api.call(RECORD, criterion(entity_id, "K"))
    assert again == first
    after_first = await http_api.state(entity_id)
    assert after_first["version"] == 2 and after_first["history"]["totalCount"] == 2

    # Same caller, different request (another mutation, or the same one with other
    # input): refused, naming what the key did first, and nothing changed.
    lost = await http_api.call(LOST, {"id": entity_id, "lossReason": "PRICING", "idempotencyKey": "K"})
    assert {k: v for k, v in lost.items() if k != "message"} == {
        "__typename": "IdempotencyKeyReused",
        "idempotencyKey": "K",
        "originalTrigger": "record_criterion",
        "originalSeq": 2,
    }
    assert "record_criterion" in lost["message"]
    other_input = await http_api.call(RECORD, criterion(entity_id, "K", evidence="a different call"))
    assert other_input["__typename"] == "IdempotencyKeyReused"
    assert await http_api.state(entity_id) == after_first

    # Another caller with the same key: independent of the first.
    by_admin = await http_api.call(
        LOST, {"id": entity_id, "lossReason": "PRICING", "idempotencyKey": "K"}, role="admin"
    )
    assert by_admin["__typename"] == "OpportunityChanged", by_admin
    assert by_admin["transition"] == {
        "seq": 3,
        "trigger": "close_lost",
        "actor": "ada@example.com",
        "idempotencyKey": "K",
    }
    assert by_admin["opportunity"]["stage"] == "CLOSED_LOST"
    # ... and the first caller's key still answers its own request.
    assert (await http_api.call(RECORD, criterion(entity_id, "K")))["transition"] == first["transition"]


async def test_callers_may_not_use_the_service_s_own_key_namespace(http_api: HttpApi, entity_id: str):
    await open_deal(http_api, entity_id)
    before = await http_api.state(entity_id)
    query = mutation("recordExitCriterion", "ExitCriterionInput", "... on ValidationError { fields { field message } }")
    refused = await http_api.call(query, criterion(entity_id, f"{SYSTEM_KEY_PREFIX}opportunity/{entity_id}#1.1"))
    assert refused["__typename"] == "ValidationError"
    assert [f["field"] for f in refused["fields"]] == ["idempotencyKey"]
    assert SYSTEM_KEY_PREFIX in refused["fields"][0]["message"]
    assert await http_api.state(entity_id) == before
