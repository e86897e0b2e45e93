"""Writing a lifecycle's changes into the read model, idempotently.

A batch (snapshot + transitions + effects) is written in one transaction. The
lifecycle rows are replaced only by a snapshot with the same or a higher sequence
number, so a retried or reordered write never moves a row backwards; the same
sequence number is rewritten because a timer that only sends effects changes the
deadlines and not the sequence. Transitions and effects are keyed (workflow id + seq,
effect id) and inserted at most once.

The worker writes through a ``Projector``: the database's synchronous driver, each batch
whole on a thread of the projector's, one hop from the event loop per batch. Through
SQLAlchemy's asyncio adapter every statement was four hops to aiosqlite's thread and
back (cursor, execute, fetch, close), and the projection runs inside every transition:
~1.5 ms of the worker's CPU a transition, against ~0.55 ms this way (docs/performance.md).
"""

from __future__ import annotations

from functools import lru_cache, partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from services.change_feed import append_changes
from services.db import POSTGRES_POOL_SIZE, DriverThreads, Sessions, engine_of
from services.derived import DERIVED
from services.models import EffectRow, EffectStatus, LifecycleRow, ReadModel, TransitionRow
from workflows.engine.types import LifecycleSnapshot, ProjectionBatch

# kind -> its typed table and projection, for every kind that declares one; importing
# them also registers every table on the metadata (migrations, reconciliation).
READ_MODELS: dict[str, ReadModel] = {kind: derived.read_model for kind, derived in DERIVED.items()}


def table_of(model: type[SQLModel]) -> sa.Table:
    """The table a ``table=True`` model maps to (SQLModel does not declare ``__table__``)."""
    table: sa.Table = sa.inspect(model).local_table
    return table


def insert_for(session: AsyncSession, table: type[SQLModel]) -> Any:
    """An INSERT with ON CONFLICT support on the session's dialect (SQLite or PostgreSQL)."""
    dialect = session.bind.dialect.name if session.bind else "sqlite"
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table_of(table))


# The projection runs inside every transition (a local activity the update waits for),
# so its statements are built once per dialect, table and column set, and executed with
# the row as parameters: building an upsert per call (``excluded`` makes a fresh alias of
# the table each time) cost more than the database write itself (docs/performance.md).
@lru_cache(maxsize=256)
def _upsert_newer_statement(dialect: str, table: type[SQLModel], keys: tuple[str, ...]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    columns = table_of(table).c
    statement = module.insert(table_of(table))
    return statement.on_conflict_do_update(
        index_elements=[columns.workflow_id],
        set_={k: statement.excluded[k] for k in keys if k != "workflow_id"},
        where=columns.seq <= statement.excluded.seq,
    )


@lru_cache(maxsize=64)
def _insert_once_statement(dialect: str, table: type[SQLModel], unique: tuple[str, ...]) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table_of(table)).on_conflict_do_nothing(index_elements=list(unique))


@lru_cache(maxsize=8)
def _insert_once_returning(dialect: str, table: type[SQLModel], unique: tuple[str, ...]) -> Any:
    """Rows inserted at most once, answering the keys of those this write added."""
    return _insert_once_statement(dialect, table, unique).returning(*(table_of(table).c[k] for k in unique))


def _upsert_newer(connection: sa.Connection, table: type[SQLModel], values: dict[str, Any]) -> None:
    connection.execute(_upsert_newer_statement(connection.dialect.name, table, tuple(values)), values)


def lifecycle_values(snapshot: LifecycleSnapshot) -> dict[str, Any]:
    return {
        "workflow_id": snapshot.workflow_id,
        "kind": snapshot.kind,
        "entity_id": snapshot.entity_id,
        "state": snapshot.state,
        "terminal": snapshot.terminal,
        "seq": snapshot.seq,
        "owner": snapshot.owner,
        "account_id": snapshot.account_id,
        "account_name": snapshot.account_name,
        "summary": snapshot.summary[:500],
        "opened_at": snapshot.opened_at,
        "state_entered_at": snapshot.state_entered_at,
        "updated_at": snapshot.updated_at,
        "closed_at": snapshot.closed_at,
        "next_deadline": snapshot.next_deadline,
        "data": snapshot.data,
        "policy": snapshot.policy,
        "deadlines": [d.model_dump(mode="json") for d in snapshot.deadlines],
    }


def write_projection(connection: sa.Connection, batch: ProjectionBatch) -> bool:
    """Write the batch in the connection's transaction; answers whether it added any transition
    or effect (a write retried after a slow commit adds none again, so the worker's metrics
    count each change once)."""
    snapshot = batch.snapshot
    dialect = connection.dialect.name
    added = False
    _upsert_newer(connection, LifecycleRow, lifecycle_values(snapshot))
    read_model = READ_MODELS.get(snapshot.kind)
    if read_model is not None:
        _upsert_newer(connection, read_model.table, read_model.project(snapshot))
    if batch.transitions:
        inserted = connection.execute(
            _insert_once_returning(dialect, TransitionRow, ("workflow_id", "seq")),
            [
                {
                    "workflow_id": snapshot.workflow_id,
                    "seq": t.seq,
                    "kind": snapshot.kind,
                    "entity_id": snapshot.entity_id,
                    "trigger": t.trigger,
                    "from_state": t.from_state,
                    "to_state": t.to_state,
                    "actor": t.actor,
                    "reason": t.reason,
                    "at": t.at,
                    "params": t.params,
                    "idempotency_key": t.idempotency_key,
                }
                for t in batch.transitions
            ],
        )
        added = bool(inserted.all())
    if batch.effects:
        inserted = connection.execute(
            _insert_once_returning(dialect, EffectRow, ("id",)),
            [
                {
                    "id": e.id,
                    "workflow_id": snapshot.workflow_id,
                    "seq": e.seq,
                    "kind": snapshot.kind,
                    "entity_id": snapshot.entity_id,
                    "type": e.type,
                    "name": e.name,
                    "recipients": e.recipients,
                    "payload": e.payload,
                    "created_at": e.at,
                    "status": EffectStatus.SKIPPED if e.skipped else EffectStatus.PENDING,
                    "skipped_reason": e.skipped,
                    "attempts": 0,
                }
                for e in batch.effects
            ],
        )
        added = bool(inserted.all()) or added
    append_changes(connection, batch)
    return added


async def apply_projection(*, session: AsyncSession, batch: ProjectionBatch) -> bool:
    """``write_projection`` in an async session's transaction (reconciliation's repairs)."""
    written: bool = await session.run_sync(lambda sync_session: write_projection(sync_session.connection(), batch))
    return written


class Projector:
    """Writes projection batches, each in a transaction of its own, on the projector's threads.

    SQLite takes one writer at a time, so it gets one thread: batches wait their turn in
    order rather than in SQLite's busy handler, which sleeps milliseconds between tries.
    PostgreSQL gets a thread per pooled connection. The caller's context goes with each
    batch to its thread, so the statements' trace spans stay under the activity's.
    """

    @classmethod
    def beside(cls, sessions: Sessions) -> Projector:
        """A projector on the database ``sessions`` read and write."""
        return cls(engine_of(sessions).url.render_as_string(hide_password=False))

    def __init__(self, database_url: str) -> None:
        # Batches written at once; more wait their turn.
        writers = 1 if database_url.startswith("sqlite") else POSTGRES_POOL_SIZE
        self.threads = DriverThreads(database_url, writers, "projection")
        self.engine = self.threads.engine
        self.writers = writers

    async def write(self, batch: ProjectionBatch) -> bool:
        """Write the batch; answers as ``write_projection`` does."""
        return await self.threads.run(partial(self._write, batch))

    def _write(self, batch: ProjectionBatch) -> bool:
        with self.engine.begin() as connection:
            return write_projection(connection, batch)

    def close(self) -> None:
        """Finish the writes under way, then close the connections."""
        self.threads.close()
