"""An unfiltered list's total comes from the row counts the list tables' triggers keep
(services/row_counts.py): exact after every write path, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from sqlmodel import col

from services.db import Sessions, alembic_config, create_engine, session_factory, sync_url, upgrade
from services.models import LifecycleRow
from services.projection import apply_projection
from services.reconcile import reconcile
from services.row_counts import count_of, counted_tables
from tests.api.test_lists_and_machines import LIST
from tests.api.test_opportunity_api import LOST, UPDATE, call, open_deal
from tests.conftest import Api
from tests.postgres import READ_MODEL_DATABASES, read_model_on
from tests.readmodel.test_projection import NOW, OpportunityRow, deal, project, step
from tests.workflows.helpers import eventually

OPPORTUNITIES: str = sa.inspect(OpportunityRow).local_table.name


@pytest.fixture(params=READ_MODEL_DATABASES)
def database_url(request: pytest.FixtureRequest, database_url: str) -> str:
    """The API, the sessions and the engine of these tests on each database."""
    return read_model_on(request, database_url)


@pytest.fixture
def engine(database_url: str) -> Any:
    engine = sa.create_engine(sync_url(database_url))
    yield engine
    engine.dispose()


def kept_and_real(engine: Any, table_name: str = OPPORTUNITIES) -> tuple[int, int]:
    """The table's count as its triggers keep it, and as counting its rows finds it."""
    with engine.connect() as connection:
        kept = connection.execute(count_of(table_name)).scalar_one()
        real = connection.execute(sa.select(sa.func.count()).select_from(sa.table(table_name))).scalar_one()
    return kept, real


async def listed_total(api: Api, filter: dict[str, Any] | None = None) -> int:
    listed = await api.gql(LIST, {"filter": filter, "first": 1}, role="viewer")
    return int(listed["opportunities"]["totalCount"])


async def test_an_unfiltered_total_follows_openings_transitions_and_repairs(api: Api, entity_id: str, engine: Any):
    ids = [f"{entity_id}-{n}" for n in range(3)]
    for ident in ids:
        await open_deal(api, ident)
    assert await listed_total(api) == 3
    # Transitions rewrite existing rows (the projection's upsert): the total does not move.
    await call(api, UPDATE, {"id": ids[0], "forecastCategory": "BEST_CASE"})
    await call(api, LOST, {"id": ids[1], "lossReason": "PERFORMANCE_CONCERNS"})
    assert await listed_total(api) == 3
    assert await listed_total(api, {"stage": ["CLOSED_LOST"]}) == 1
    assert await listed_total(api, {"forecastCategory": ["BEST_CASE"]}) == 1
    assert kept_and_real(engine) == (3, 3)

    # A lost write: the lifecycle's rows are gone from the read model, and the reconcile's
    # repair writes them back.
    lost = f"opportunity/{ids[2]}"
    async with api.stack.sessions.begin() as session:
        await session.execute(sa.delete(LifecycleRow).where(col(LifecycleRow.workflow_id) == lost))
        await session.execute(sa.delete(OpportunityRow).where(col(OpportunityRow.workflow_id) == lost))
    assert await listed_total(api) == 2
    client, queue = api.stack.client, api.stack.settings.task_queue

    async def all_found() -> Any:
        report = await reconcile(client, api.stack.sessions, queue, ["opportunity"])
        return report if report.checked == len(ids) else None

    assert [d.workflow_id for d in (await eventually(all_found)).differences] == [lost]
    repaired = await reconcile(client, api.stack.sessions, queue, ["opportunity"], repair=True)
    assert repaired.repaired == [lost]
    assert await listed_total(api) == 3
    assert kept_and_real(engine) == (3, 3)


async def test_rewriting_a_row_never_moves_its_count(sessions: Sessions, engine: Any):
    instance = deal("d1")
    older = instance.projection_batch(NOW)
    for _ in range(3):  # a retried write
        await project(sessions, instance)
    step(instance, "update_fields", {"name": "Renamed"}, NOW + timedelta(minutes=1))
    await project(sessions, instance)
    async with sessions.begin() as session:  # an older snapshot, which changes nothing
        await apply_projection(session=session, batch=older)
    await project(sessions, deal("d2"))
    assert kept_and_real(engine) == (2, 2)


async def test_bulk_writes_and_clears_keep_the_count(sessions: Sessions, engine: Any):
    for n in range(3):
        await project(sessions, deal(f"b{n}"))
    table = sa.Table(OPPORTUNITIES, sa.MetaData(), autoload_with=engine)
    columns = [c.name for c in table.columns]

    def copies(suffix: str) -> Any:
        renamed = {"workflow_id": table.c.workflow_id + suffix}
        selected = sa.select(*(renamed.get(name, table.c[name]) for name in columns))
        return sa.insert(table).from_select(columns, selected.where(~table.c.workflow_id.like("%-copy%")))

    with engine.begin() as connection:  # as the benchmark fills its million rows
        connection.execute(copies("-copy1"))
        connection.execute(copies("-copy2"))
    assert kept_and_real(engine) == (9, 9)
    with engine.begin() as connection:
        connection.execute(sa.delete(table).where(table.c.workflow_id.like("%-copy1")))
        connection.execute(sa.delete(table).where(table.c.workflow_id == "no such row"))
    assert kept_and_real(engine) == (6, 6)
    with engine.begin() as connection:
        connection.execute(sa.delete(table))
    assert kept_and_real(engine) == (0, 0)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(copies("-again"))  # nothing left to copy
        await project(sessions, deal("t1"))
        await project(sessions, deal("t2"))
        with engine.begin() as connection:
            connection.exec_driver_sql(f"TRUNCATE {OPPORTUNITIES}")
        assert kept_and_real(engine) == (0, 0)
        await project(sessions, deal("t3"))
        assert kept_and_real(engine) == (1, 1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # INSERT OR REPLACE is SQLite's
async def test_an_insert_or_replace_on_sqlite_counts_the_row_it_replaces(sessions: Sessions, engine: Any):
    await project(sessions, deal("r1"))
    async with sessions.begin() as session:  # the service's connections (services/db.py)
        await session.execute(
            sa.text(f"INSERT OR REPLACE INTO {OPPORTUNITIES} SELECT * FROM {OPPORTUNITIES} WHERE workflow_id = :id"),
            {"id": "opportunity/r1"},
        )
    assert kept_and_real(engine) == (1, 1)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite has one writer at a time
async def test_concurrent_openings_on_postgresql_count_exactly(database_url: str, engine: Any):
    writers = create_engine(database_url)  # its pool: up to 20 connections at once
    try:
        sessions = session_factory(writers)
        instances = [deal(f"c{n:02d}") for n in range(60)]
        await asyncio.gather(*(project(sessions, instance) for instance in instances))
        await asyncio.gather(*(project(sessions, instance) for instance in instances[::2]))
    finally:
        await writers.dispose()
    assert kept_and_real(engine) == (60, 60)
    with engine.connect() as connection:
        slots = connection.execute(
            sa.text("SELECT count(*) FROM row_counts WHERE table_name = :name"), {"name": OPPORTUNITIES}
        )
        # Spread over several rows, so concurrent transactions seldom wait for each other.
        assert slots.scalar_one() > 1


def test_every_list_table_has_its_triggers(engine: Any):
    if engine.dialect.name == "postgresql":
        triggers = "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
    else:
        triggers = "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
    with engine.connect() as connection:
        found = {(table, name) for table, name in connection.exec_driver_sql(triggers)}
    events = ["inserts", "deletes"] + (["truncates"] if engine.dialect.name == "postgresql" else [])
    assert OPPORTUNITIES in counted_tables()
    for table in counted_tables():
        assert {(table, f"count_{table}_{event}") for event in events} <= found, table


async def test_the_migration_counts_a_populated_database(database_url: str, sessions: Sessions, engine: Any):
    command.downgrade(alembic_config(database_url), "0019")
    for n in range(4):
        await project(sessions, deal(f"m{n}"))
    upgrade(database_url)
    assert kept_and_real(engine) == (4, 4)
    assert all(kept_and_real(engine, table) == (0, 0) for table in counted_tables() if table != OPPORTUNITIES)
    await project(sessions, deal("m4"))
    assert kept_and_real(engine) == (5, 5)


async def test_recount_corrects_counters_edited_by_hand(database_url: str, sessions: Sessions, engine: Any):
    for n in range(2):
        await project(sessions, deal(f"h{n}"))
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE row_counts SET row_count = row_count + 40")
    assert kept_and_real(engine)[0] > 2
    recount = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.db", "recount", "--url", database_url, stdout=asyncio.subprocess.PIPE
    )
    printed, _ = await asyncio.wait_for(recount.communicate(), timeout=120)
    assert recount.returncode == 0
    assert json.loads(printed) == {table: 2 if table == OPPORTUNITIES else 0 for table in counted_tables()}
    assert kept_and_real(engine) == (2, 2)
