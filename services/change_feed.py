"""The change feed behind the API's subscriptions: written by the projection, read by the API.

Writing (``append_changes``, in the projection's transaction): one row per transition
the batch adds, or one for a change without a transition (a timer that only sent
effects), with a monotonic ``sequence`` in commit order, so a subscriber that has seen
sequence N has seen every change before it. SQLite commits one writer at a time; on
PostgreSQL, where a sequence value is taken at insert and a later one may commit first,
the append holds a transaction-scoped advisory lock until commit, and sends ``NOTIFY``
so the API's readers wake at once.

Reading (``ChangeFeed``, one per API process): one reader for every subscriber of the
process reads the rows after the last one it saw, joined with the lifecycle's row (the
snapshot delivered is the read model's) and the transition's, and hands each to the
subscribers whose arguments match. On PostgreSQL it reads when a notification arrives
(and every few seconds in case one was missed while reconnecting); on SQLite it polls
every ``change_feed_poll_seconds`` (once a second by default). Each subscriber has a
bounded queue: one that falls further behind is dropped, and resumes from the feed with
the last sequence it saw. Rows older than the retention period are pruned (the newest
one is kept, so a resume can tell a pruned gap from a quiet feed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel, col

from services.db import Sessions
from services.metrics import API_METRICS
from services.models import ChangeRow, LifecycleRow, TransitionRow
from services.read_model import snapshot_of
from services.settings import Settings
from workflows.engine.errors import Rejection, ValidationError
from workflows.engine.types import LifecycleSnapshot, ProjectionBatch

logger = logging.getLogger("lifecycles.change_feed")

# The NOTIFY channel, and the advisory lock that orders appends by commit (any constant
# no other part of the database uses).
CHANNEL = "lifecycle_changes"
APPEND_LOCK = 0x4C43_4645_4544  # "LCFEED"
# PostgreSQL: the reader also reads this often, should a notification have been missed.
NOTIFIED_FALLBACK_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 300.0
# Rows per read: a large backlog is read and handed out in pages.
PAGE = 500


# ---- writing ----------------------------------------------------------------------------


def _table(model: type[SQLModel] = ChangeRow) -> sa.Table:
    table: sa.Table = sa.inspect(model).local_table
    return table


@lru_cache(maxsize=2)
def _append_statement(dialect: str) -> Any:
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(_table()).on_conflict_do_nothing(index_elements=["workflow_id", "transition_seq"])


def append_changes(connection: sa.Connection, batch: ProjectionBatch) -> None:
    """The batch's changes, appended in the caller's transaction (the projection's)."""
    snapshot = batch.snapshot
    dialect = connection.dialect.name
    common = {
        "workflow_id": snapshot.workflow_id,
        "kind": snapshot.kind,
        "entity_id": snapshot.entity_id,
        "account_id": snapshot.account_id,
        "owner": snapshot.owner,
    }
    rows = [{**common, "transition_seq": t.seq, "at": t.at} for t in batch.transitions] or [
        {**common, "transition_seq": None, "at": snapshot.updated_at}
    ]
    if dialect == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(APPEND_LOCK)))
    connection.execute(_append_statement(dialect), rows)
    if dialect == "postgresql":
        connection.execute(sa.select(sa.func.pg_notify(CHANNEL, "")))


# ---- reading ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    sequence: int
    snapshot: LifecycleSnapshot
    transition: TransitionRow | None


@dataclass(frozen=True)
class ChangeMatch:
    """What a subscriber asked for; every argument given must match (the change's own
    kind, id, account and owner, as the projection wrote them)."""

    kind: str | None = None
    entity_id: str | None = None
    account_id: str | None = None
    owner: str | None = None

    def _wanted(self) -> list[tuple[str, str]]:
        given = {"kind": self.kind, "entity_id": self.entity_id, "account_id": self.account_id, "owner": self.owner}
        return [(name, value) for name, value in given.items() if value is not None]

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        columns = _table().c
        return [columns[name] == value for name, value in self._wanted()]

    def __call__(self, row: ChangeRow) -> bool:
        return all(getattr(row, name) == value for name, value in self._wanted())


class ChangesPruned(Rejection):
    """The changes after the sequence a subscriber resumes from are no longer kept.
    Details: ``oldest_sequence``."""


class SubscriberDropped(Exception):
    """The subscriber left more changes unread than its queue holds."""


@dataclass
class _Dropped:
    reason: str


class Subscriber:
    def __init__(self, match: ChangeMatch, queue_size: int, on_drop: Callable[[str], None]) -> None:
        self.match = match
        self.queue: asyncio.Queue[Change | _Dropped] = asyncio.Queue(maxsize=queue_size)
        self.on_drop = on_drop
        self.dropped = False

    def offer(self, row: ChangeRow, change: Change) -> None:
        if self.dropped or not self.match(row):
            return
        try:
            self.queue.put_nowait(change)
        except asyncio.QueueFull:
            self.dropped = True
            reason = (
                f"Too slow: more than {self.queue.maxsize} changes unread. "
                "Subscribe again with afterSequence set to the last sequence received."
            )
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(_Dropped(reason))
            self.on_drop(reason)


@dataclass
class ChangeFeed:
    """The process's one reader of the feed; ``run`` is its task (started by the API's lifespan)."""

    sessions: Sessions
    settings: Settings
    _subscribers: set[Subscriber] = field(default_factory=set)
    _position: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _active: asyncio.Event = field(default_factory=asyncio.Event)
    _news: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def postgresql(self) -> bool:
        return self.settings.database_url.startswith("postgresql")

    async def run(self) -> None:
        """Read for the subscribers while there are any, and prune, until cancelled."""
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._prune_forever())
            if self.postgresql:
                tasks.create_task(self._listen_forever())
            tasks.create_task(self._read_forever())

    @asynccontextmanager
    async def subscribe(
        self, match: ChangeMatch, after_sequence: int | None, on_drop: Callable[[str], None]
    ) -> AsyncIterator[AsyncIterator[Change]]:
        """The changes matching ``match``: after ``after_sequence`` when given (from the
        feed, then live), else from now on."""
        if after_sequence is not None and after_sequence < 0:
            raise _bad_sequence(f"afterSequence cannot be negative (got {after_sequence}).")
        subscriber = Subscriber(match, self.settings.subscription_queue_size, on_drop)
        async with self._lock:
            if not self._subscribers:
                # The reader was idle: live changes start after the newest one now.
                self._position = await self._newest()
            position = self._position
            if after_sequence is not None:
                await self._check_resumable(after_sequence, position)
            self._subscribers.add(subscriber)
            self._active.set()
        API_METRICS.subscribers.inc()
        try:
            yield self._stream(subscriber, match, after_sequence, position)
        finally:
            API_METRICS.subscribers.dec()
            self._subscribers.discard(subscriber)
            if not self._subscribers:
                self._active.clear()

    async def _stream(
        self, subscriber: Subscriber, match: ChangeMatch, after_sequence: int | None, position: int
    ) -> AsyncIterator[Change]:
        cursor = position if after_sequence is None else after_sequence
        while cursor < position:
            page = await self._read(cursor, position, match)
            for _row, change in page:
                yield change
            if len(page) < PAGE:
                break
            cursor = page[-1][1].sequence
        while True:
            item = await subscriber.queue.get()
            if isinstance(item, _Dropped):
                raise SubscriberDropped(item.reason)
            yield item

    async def _newest(self) -> int:
        async with self.sessions() as session:
            newest = await session.scalar(sa.select(sa.func.max(col(ChangeRow.sequence))))
        return int(newest or 0)

    async def _check_resumable(self, after_sequence: int, position: int) -> None:
        if after_sequence > position:
            raise _bad_sequence(
                f"afterSequence {after_sequence} is ahead of the feed, whose newest change is {position}."
            )
        if after_sequence == position:
            return
        async with self.sessions() as session:
            oldest = await session.scalar(sa.select(sa.func.min(col(ChangeRow.sequence))))
        if oldest is not None and after_sequence < oldest - 1:
            raise ChangesPruned(
                f"The changes after {after_sequence} are no longer kept (the feed keeps "
                f"{self.settings.change_feed_retention_hours:g} hours, from sequence {oldest}); "
                "reload what you show, then subscribe without afterSequence.",
                oldest_sequence=oldest,
            )

    async def _read(self, after: int, upto: int | None, match: ChangeMatch | None) -> list[tuple[ChangeRow, Change]]:
        query = (
            sa.select(ChangeRow, LifecycleRow, TransitionRow)
            .join(LifecycleRow, col(LifecycleRow.workflow_id) == col(ChangeRow.workflow_id))
            .outerjoin(
                TransitionRow,
                sa.and_(
                    col(TransitionRow.workflow_id) == col(ChangeRow.workflow_id),
                    col(TransitionRow.seq) == col(ChangeRow.transition_seq),
                ),
            )
            .where(col(ChangeRow.sequence) > after, *(match.conditions() if match else []))
            .order_by(col(ChangeRow.sequence))
            .limit(PAGE)
        )
        if upto is not None:
            query = query.where(col(ChangeRow.sequence) <= upto)
        async with self.sessions() as session:
            rows = (await session.execute(query)).all()
        return [
            (change, Change(sequence=int(change.sequence or 0), snapshot=snapshot_of(lifecycle), transition=transition))
            for change, lifecycle, transition in rows
        ]

    async def _read_forever(self) -> None:
        while True:
            await self._active.wait()
            try:
                await self._hand_out()
            except Exception:  # the reader outlives any failure: every subscriber depends on it
                logger.warning("reading the change feed failed; retrying", exc_info=True)
            if self.postgresql:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(NOTIFIED_FALLBACK_SECONDS):
                        await self._news.wait()
                self._news.clear()
            else:
                await asyncio.sleep(self.settings.change_feed_poll_seconds)

    async def _hand_out(self) -> None:
        async with self._lock:
            while self._subscribers:
                page = await self._read(self._position, None, None)
                for row, change in page:
                    for subscriber in list(self._subscribers):
                        subscriber.offer(row, change)
                        if subscriber.dropped and subscriber in self._subscribers:
                            API_METRICS.subscribers_dropped.inc()
                            self._subscribers.discard(subscriber)
                    self._position = change.sequence
                if len(page) < PAGE:
                    return

    async def _listen_forever(self) -> None:
        import psycopg

        conninfo = sa.make_url(self.settings.database_url).set(drivername="postgresql")
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    conninfo.render_as_string(hide_password=False), autocommit=True
                )
                async with connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    # Whatever was committed while no one listened.
                    self._news.set()
                    async for _ in connection.notifies():
                        self._news.set()
            except (psycopg.Error, OSError) as exc:
                logger.warning("listening for changes failed (%s); reconnecting", type(exc).__name__)
                await asyncio.sleep(1)

    async def _prune_forever(self) -> None:
        while True:
            try:
                await self.prune(datetime.now(UTC))
            except Exception:  # pruning is tried again later, whatever stopped it
                logger.warning("pruning the change feed failed", exc_info=True)
            await asyncio.sleep(PRUNE_EVERY_SECONDS)

    async def prune(self, now: datetime) -> int:
        """Delete the changes older than the retention period, but the newest; answers how many."""
        cutoff = now - timedelta(hours=self.settings.change_feed_retention_hours)
        table = _table()
        newest = sa.select(sa.func.max(table.c.sequence)).scalar_subquery()
        async with self.sessions() as session, session.begin():
            result: Any = await session.execute(sa.delete(table).where(table.c.at < cutoff, table.c.sequence < newest))
        return int(result.rowcount or 0)


def _bad_sequence(message: str) -> ValidationError:
    return ValidationError(message, fields=[{"field": "afterSequence", "message": message}])
