"""The read model on SQLite and on a real PostgreSQL: migrations, idempotent projection, lists."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, col

import services.projection  # noqa: F401  (registers every table on the metadata)
from services.db import Reader, Sessions, sync_url, upgrade
from services.derived import DERIVED
from services.models import EffectRow, LifecycleRow, TransitionRow
from services.pagination import Page, encode_cursor
from services.projection import Projector, apply_projection
from services.read_model import get_snapshot, snapshot_of
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import Role
from workflows.opportunity import OPPORTUNITY

NOW = datetime(2026, 5, 4, 12, 30, tzinfo=UTC)
OPPORTUNITIES = DERIVED["opportunity"]
OpportunityRow = OPPORTUNITIES.table


def deal(entity_id: str, **fields) -> LifecycleInstance:
    data = {
        "name": f"Deal {entity_id}",
        "account": {"id": "acme", "name": "ACME"},
        "owner": "ann@example.com",
        "close_date": "2026-09-30",
        "amount": "25000",
        **fields,
    }
    return LifecycleInstance.open(OPPORTUNITY, entity_id, data, {}, NOW, actor="ann@example.com")


def step(instance: LifecycleInstance, trigger: str, params: dict, at: datetime) -> None:
    decision = instance.decide(trigger, params, actor="ann@example.com", role=Role.OPERATOR, reason=None, now=at)
    instance.apply(decision, at)


async def project(sessions: Sessions, instance: LifecycleInstance, at: datetime = NOW) -> None:
    batch = instance.projection_batch(at)
    async with sessions.begin() as session:
        await apply_projection(session=session, batch=batch)
    instance.mark_projected(batch)


async def counts(sessions: Sessions) -> tuple[int, int, int, int]:
    out = []
    async with sessions() as session:
        for table in (LifecycleRow, OpportunityRow, TransitionRow, EffectRow):
            out.append((await session.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())
    return tuple(out)  # type: ignore[return-value]


async def test_the_projector_writes_batches_sent_at_once_each_once(readmodel: Sessions, readmodel_url: str):
    """What the worker's transitions do under load: many lifecycles' batches at once, and
    retries of some (a write retried after its answer was lost)."""
    instances = [deal(f"p{n}") for n in range(24)]
    for n, instance in enumerate(instances):
        step(instance, "update_fields", {"amount": str(1000 + n)}, NOW + timedelta(minutes=1))
    batches = [instance.projection_batch(NOW) for instance in instances]
    projector = Projector(readmodel_url)
    try:
        added = await asyncio.gather(*(projector.write(batch) for batch in batches))
        retried = await asyncio.gather(*(projector.write(batch) for batch in batches[:6]))
    finally:
        projector.close()
    assert added == [True] * 24 and retried == [False] * 6
    # Every lifecycle at its last transition, each transition once.
    assert await counts(readmodel) == (24, 24, 48, 0)
    async with readmodel() as session:
        amounts = (await session.execute(sa.select(col(OpportunityRow.amount_cents)))).scalars().all()
    assert sorted(amounts) == [(1000 + n) * 100 for n in range(24)]


async def test_a_batch_whose_caller_gave_up_before_its_turn_is_never_written(readmodel: Sessions, readmodel_url: str):
    """A projection that timed out in its local activity is retried by a regular activity with
    the workflow's newer batch: the abandoned one must not be written later, out of turn."""
    projector = Projector(readmodel_url)
    blocker = sa.create_engine(sync_url(readmodel_url))
    try:
        with blocker.connect() as holding:
            # Every writer thread stuck behind a lock held elsewhere, one more batch queued.
            if holding.dialect.name == "sqlite":
                holding.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                holding.exec_driver_sql("LOCK TABLE lifecycles IN EXCLUSIVE MODE")
            busy = [
                asyncio.ensure_future(projector.write(deal(f"busy{n}").projection_batch(NOW)))
                for n in range(projector.writers)
            ]
            abandoned = asyncio.ensure_future(projector.write(deal("abandoned").projection_batch(NOW)))
            await asyncio.sleep(0.5)
            assert not any(task.done() for task in (*busy, abandoned))
            abandoned.cancel()
            holding.rollback()
        assert await asyncio.gather(*busy) == [True] * projector.writers
    finally:
        projector.close()
        blocker.dispose()
    async with readmodel() as session:
        ids = (await session.execute(sa.select(col(LifecycleRow.entity_id)))).scalars().all()
    assert sorted(ids) == sorted(f"busy{n}" for n in range(projector.writers))


async def test_a_closed_projector_refuses_a_batch_rather_than_lose_it(readmodel: Sessions, readmodel_url: str):
    instance = deal("closed")
    projector = Projector(readmodel_url)
    projector.close()
    with pytest.raises(RuntimeError, match="shutdown"):
        await projector.write(instance.projection_batch(NOW))
    assert await counts(readmodel) == (0, 0, 0, 0)


def test_migrations_build_exactly_the_models_schema(readmodel_url: str):
    engine = sa.create_engine(sync_url(readmodel_url))
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    engine.dispose()
    assert diff == [], "the models and the migrations disagree: add a migration"


async def test_projection_is_idempotent(readmodel: Sessions):
    instance = deal("d1", plan_type="MONTHLY", amount="1000")
    step(instance, "close_won", {}, NOW + timedelta(minutes=1))
    batch = instance.projection_batch(NOW)
    added = []
    for _ in range(3):
        async with readmodel.begin() as session:
            added.append(await apply_projection(session=session, batch=batch))
    # Its effects: RevOps, #closed-won and the new customer's onboarding.
    assert await counts(readmodel) == (1, 1, 2, 3)
    # Only the first write added anything (what the worker's metrics count).
    assert added == [True, False, False]


async def test_an_older_snapshot_never_overwrites_a_newer_one(readmodel: Sessions):
    instance = deal("d2")
    old = instance.projection_batch(NOW)
    step(instance, "update_fields", {"amount": "99000", "forecast_category": "COMMIT"}, NOW + timedelta(hours=1))
    new = instance.projection_batch(NOW)
    async with readmodel.begin() as session:
        await apply_projection(session=session, batch=new)
    async with readmodel.begin() as session:
        await apply_projection(session=session, batch=old)
    async with readmodel() as session:
        row = await session.get(LifecycleRow, "opportunity/d2")
        typed = await session.get(OpportunityRow, "opportunity/d2")
        seqs = (await session.execute(sa.select(col(TransitionRow.seq)).order_by(col(TransitionRow.seq)))).scalars()
        assert row is not None and typed is not None
        assert (row.seq, row.data["amount"], typed.amount_cents, typed.forecast_category) == (
            2,
            "99000",
            9_900_000,
            "COMMIT",
        )
        assert list(seqs) == [1, 2]
        assert row.updated_at == NOW + timedelta(hours=1) and row.updated_at.tzinfo is not None


async def test_a_timer_that_only_sends_effects_moves_the_deadlines_on(readmodel: Sessions):
    instance = deal("d3")
    await project(readmodel, instance)
    timer, due = instance.next_due_timer(NOW + timedelta(days=14))
    assert (timer.name, due) == ("silence_first_nudge", NOW + timedelta(days=14))
    assert instance.fire_timer(timer, due, due) is None
    await project(readmodel, instance, due)
    async with readmodel() as session:
        row = await session.get(LifecycleRow, "opportunity/d3")
        nudges = (await session.execute(sa.select(EffectRow).where(col(EffectRow.name) == "silence_nudge"))).scalars()
        assert row is not None and row.seq == 1
        assert row.next_deadline == NOW + timedelta(days=21)
        assert row.deadlines[0]["timer"] == "silence_second_nudge"
        assert [e.created_at for e in nudges] == [due]


async def test_lists_filter_sort_and_page(readmodel: Sessions):
    for n in range(12):
        await project(
            readmodel,
            deal(
                f"p{n:02d}",
                amount=str(1000 * (n + 1)),
                owner="ann@example.com" if n % 2 else "bob@example.com",
                close_date=f"2026-{(n % 12) + 1:02d}-15",
            ),
        )
    seen, after = [], None
    while True:
        async with readmodel() as session:
            page = await session.run_sync(
                OPPORTUNITIES.read_page,
                [("owner", "ann@example.com")],
                "AMOUNT_DESC",
                first=4,
                after=after,
                max_page_size=100,
            )
        seen += [row.entity_id for row in page.items]
        assert page.total == 6
        if not page.has_next:
            break
        after = encode_cursor(page.keys[-1])
    assert seen == ["p11", "p09", "p07", "p05", "p03", "p01"]
    async with readmodel() as session:
        close_date = next(c for c in OPPORTUNITIES.exposure.columns if c.name == "close_date")
        page = await session.run_sync(
            OPPORTUNITIES.read_page,
            [(close_date, (datetime(2026, 3, 1).date(), datetime(2026, 5, 31).date()))],
            "CLOSE_DATE_DESC",
            first=10,
            after=None,
            max_page_size=100,
        )
    assert [row.entity_id for row in page.items] == ["p04", "p03", "p02"]


def test_migrations_downgrade_cleanly(readmodel_url: str):
    from alembic import command

    from services.db import alembic_config

    command.downgrade(alembic_config(readmodel_url), "base")
    engine = sa.create_engine(sync_url(readmodel_url))
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(readmodel_url)


async def test_a_lists_statements_are_kept_per_shape_and_its_values_bound_each_time(readmodel: Sessions):
    for n, owner in enumerate(["ann@example.com", "bob@example.com", "bob@example.com"]):
        await project(readmodel, deal(f"s{n}", owner=owner))

    reader = Reader(readmodel)

    def read(owner: str, after: str | None, connection: sa.Connection) -> Page[sa.Row[Any]]:
        if connection.dialect.name == "postgresql":
            # It reads in autocommit: no BEGIN, no ROLLBACK round trip.
            assert connection.connection.driver_connection.autocommit
        else:
            # Whole on a thread of the reader's, through the synchronous driver.
            assert threading.current_thread().name.startswith("read-model")
        return OPPORTUNITIES.read_page(
            connection, [("owner", owner)], "AMOUNT_DESC", first=1, after=after, max_page_size=100
        )

    async def page(owner: str, after: str | None = None) -> tuple[list[str], int | None, bool]:
        # Through the reader the API's lists read with.
        found = await reader.run(partial(read, owner, after))
        return [row.entity_id for row in found.items], found.total, found.has_next

    try:
        # One shape (an owner), two values: the second query is not answered with the first's.
        assert await page("ann@example.com") == (["s0"], 1, False)
        assert await page("bob@example.com") == (["s2"], 2, True)  # the same amount: the later id first
        assert await page("carol@example.com") == ([], 0, False)
        # Past the last row the page is empty, and its total is counted by itself.
        async with readmodel() as session:
            last = await session.run_sync(
                OPPORTUNITIES.read_page,
                [("owner", "bob@example.com")],
                "AMOUNT_DESC",
                first=2,
                after=None,
                max_page_size=100,
            )
        assert await page("bob@example.com", after=encode_cursor(last.keys[-1])) == ([], 2, False)
    finally:
        reader.close()


async def test_a_list_pages_rows_make_the_same_snapshots_as_a_lookup(readmodel: Sessions):
    # A page reads the policy and the deadlines as text, decoded when a field needs them.
    await project(readmodel, deal("p1"))
    async with readmodel() as session:
        found = await session.run_sync(
            OPPORTUNITIES.read_page, [], "UPDATED_AT_DESC", first=5, after=None, max_page_size=100
        )
        looked_up = await get_snapshot(session, "opportunity", "p1")
    assert looked_up is not None and looked_up.deadlines and looked_up.policy
    assert [snapshot_of(row) for row in found.items] == [looked_up]
