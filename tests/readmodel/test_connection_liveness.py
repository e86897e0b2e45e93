"""Pooled PostgreSQL connections: pinged after idling, not between back-to-back requests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from services.db import ALIVE_BYPASS_SECONDS, create_engine
from tests.postgres import PostgresServer


@pytest.fixture
def restartable_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.stop()


def counting_pings(engine: Any) -> list[int]:
    """Counts the engine's liveness pings (one list item per ping)."""
    dialect = engine.sync_engine.dialect
    pings: list[int] = []
    ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return bool(ping(dbapi_connection))

    dialect.do_ping = counted
    return pings


async def test_a_connection_used_just_now_is_not_pinged_and_an_idle_one_is(restartable_server: PostgresServer):
    engine = create_engine(restartable_server.create_database("liveness"))
    pings = counting_pings(engine)
    try:
        for _ in range(5):
            async with engine.connect() as connection:
                assert (await connection.execute(sa.text("SELECT 1"))).scalar_one() == 1
        assert pings == []  # one connection, handed out again at once: it has just answered

        await asyncio.sleep(ALIVE_BYPASS_SECONDS + 0.1)
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
        assert pings == [1]
    finally:
        await engine.dispose()


async def test_a_restarted_database_costs_no_request_an_error(restartable_server: PostgresServer):
    engine = create_engine(restartable_server.create_database("restarted"))
    try:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
        restartable_server.halt()
        restartable_server.start()
        # The pooled connection died with the server: the ping finds it out, and a new one answers.
        await asyncio.sleep(ALIVE_BYPASS_SECONDS + 0.1)
        async with engine.connect() as connection:
            assert (await connection.execute(sa.text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()
