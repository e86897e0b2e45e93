"""The whole path on PostgreSQL: GraphQL mutation -> workflow -> projection -> GraphQL list."""

from __future__ import annotations

import uuid

import pytest

from services.db import upgrade
from tests.api.test_lists_and_machines import LIST
from tests.api.test_opportunity_api import LOST, UPDATE, call, open_deal
from tests.conftest import Api
from tests.postgres import PostgresServer


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    url = postgres.create_database(f"stack_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    return url


async def test_a_deal_lives_in_postgres(api: Api, entity_id: str):
    assert api.stack.settings.database_url.startswith("postgresql+psycopg://")
    await open_deal(api, f"{entity_id}-1", amount="40000")
    await open_deal(api, f"{entity_id}-2", amount="80000")
    updated = await call(api, UPDATE, {"id": f"{entity_id}-1", "forecastCategory": "BEST_CASE"})
    assert updated["opportunity"]["forecastCategory"] == "BEST_CASE"
    await call(api, LOST, {"id": f"{entity_id}-2", "lossReason": "PERFORMANCE_CONCERNS"})
    listed = (await api.gql(LIST, {"orderBy": "AMOUNT_DESC"}, role="viewer"))["opportunities"]
    assert [(e["node"]["id"], e["node"]["stage"]) for e in listed["edges"]] == [
        (f"{entity_id}-2", "CLOSED_LOST"),
        (f"{entity_id}-1", "PROBLEM_AGREEMENT"),
    ]
    assert listed["totalCount"] == 2
