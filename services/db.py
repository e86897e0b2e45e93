"""Database engines, sessions and schema migrations for the read model.

SQLite (a file, zero setup) is the embedded default; PostgreSQL is chosen with a
``postgresql+psycopg://`` URL. The schema is owned by Alembic migrations in
``services/migrations``; ``python -m services.db upgrade`` applies them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from services.settings import get_settings

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
VERSIONS = MIGRATIONS / "versions"

Sessions = async_sessionmaker[AsyncSession]
T = TypeVar("T")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout makes the processes wait for each other's short write transactions
    # instead of failing. WAL lets the API read while the worker writes; the file keeps
    # it once set, so it is set only when missing: setting it, even to what it is, takes a
    # lock without waiting, and a connection opened while another wrote then failed with
    # "database is locked".
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode")
    if cursor.fetchone()[0].lower() != "wal":
        cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # An INSERT OR REPLACE then fires the delete triggers of the row it replaces, which
    # keep the list tables' row counts (services/row_counts.py).
    cursor.execute("PRAGMA recursive_triggers=ON")
    cursor.close()


# A pooled connection returned this recently is handed out again without a liveness check: it
# has just answered. One idle for longer is pinged first, so that a restarted database costs
# no caller an error. HikariCP's alive-bypass window, with its default; a ping on every
# checkout (pool_pre_ping) was a round trip, ~0.09 ms of every request (docs/performance.md).
ALIVE_BYPASS_SECONDS = 0.5


def _ping_idle_connections(engine: sa.Engine) -> None:
    def returned(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    def handed_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("returned_at", 0.0) < ALIVE_BYPASS_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                # The pool discards the connection and hands out a new one.
                raise sa.exc.DisconnectionError(str(error)) from error
            raise

    sa.event.listen(engine, "connect", returned)  # as good as just returned: it has just connected
    sa.event.listen(engine, "checkin", returned)
    sa.event.listen(engine, "checkout", handed_out)


# Connections an engine keeps open to PostgreSQL (and opens beyond that under a burst).
POSTGRES_POOL_SIZE = 10
POSTGRES_POOL_OVERFLOW = 10


def _options(url: str) -> dict[str, Any]:
    """How an engine of either kind connects: to SQLite waiting out a busy file, to PostgreSQL
    through a pool."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 10}}
    return {"pool_size": POSTGRES_POOL_SIZE, "max_overflow": POSTGRES_POOL_OVERFLOW}


def _set_up(engine: sa.Engine) -> None:
    """What every connection of an engine of either kind gets: SQLite's pragmas, PostgreSQL's
    liveness check."""
    if engine.dialect.name == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:
        _ping_idle_connections(engine)


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, **_options(url))
    _set_up(engine.sync_engine)
    return engine


def create_sync_engine(url: str) -> sa.Engine:
    """The same database through its synchronous driver, set up as ``create_engine`` sets up its
    own: for work that runs whole on a thread (the worker's projection, ``services.projection``)."""
    url = sync_url(url)
    engine = sa.create_engine(url, **_options(url))
    _set_up(engine)
    return engine


def session_factory(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, expire_on_commit=False)


def engine_of(sessions: Sessions) -> AsyncEngine:
    """The engine a session factory binds its sessions to."""
    engine: AsyncEngine = sessions.kw["bind"]
    return engine


class DriverThreads:
    """The database through its synchronous driver, on threads of its own: ``run`` hands a piece
    of work to one of them whole, with the caller's context (so its statements' trace spans
    stay under the caller's span).

    One hop between the event loop and a thread for the whole of it, where SQLAlchemy's
    aiosqlite adapter hops to its thread and back four times for every statement (cursor,
    execute, fetch, close): a SQLite list page 0.60 -> 0.26 ms, a projection batch 1.5 ->
    0.6 ms of CPU (docs/performance.md).
    """

    def __init__(self, database_url: str, threads: int, name: str) -> None:
        self.engine = create_sync_engine(database_url)
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)

    async def run(self, work: Callable[[], T]) -> T:
        in_context = partial(contextvars.copy_context().run, work)
        return await asyncio.get_running_loop().run_in_executor(self._executor, in_context)

    def close(self) -> None:
        """Finish the work under way, then close the connections."""
        self._executor.shutdown(wait=True)
        self.engine.dispose()


# Reads of a SQLite read model under way at once; more wait their turn. In WAL, readers wait
# neither for each other nor for the worker's writer, and sqlite3 lets go of the GIL while a
# statement runs.
SQLITE_READERS = 4


class Reader:
    """Runs a read of the read model (a list's page) whole, where its driver costs it least.

    - SQLite: on one of the reader's threads, through the synchronous driver
      (``DriverThreads``). The driver starts no transaction for a read.
    - PostgreSQL: psycopg is asyncio's own, so the read runs on the event loop, on a pooled
      connection in autocommit: a single read needs no transaction, and psycopg's BEGIN and
      the pool's ROLLBACK were two round trips of its three (~0.09 ms a request).
    """

    def __init__(self, sessions: Sessions) -> None:
        engine = engine_of(sessions)
        self.threads: DriverThreads | None = None
        self._autocommit: AsyncEngine | None = None
        if engine.dialect.name == "sqlite":
            self.threads = DriverThreads(engine.url.render_as_string(hide_password=False), SQLITE_READERS, "read-model")
        else:
            self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def run(self, read: Callable[[sa.Connection], T]) -> T:
        if self.threads is not None:
            return await self.threads.run(partial(self._on_thread, self.threads.engine, read))
        assert self._autocommit is not None
        async with self._autocommit.connect() as connection:
            return await connection.run_sync(read)

    @staticmethod
    def _on_thread(engine: sa.Engine, read: Callable[[sa.Connection], T]) -> T:
        with engine.connect() as connection:
            return read(connection)

    def close(self) -> None:
        if self.threads is not None:
            self.threads.close()


def sync_url(url: str) -> str:
    """The same database through its sync driver (Alembic runs synchronously; psycopg is both)."""
    return url.replace("sqlite+aiosqlite", "sqlite")


# Alembic is imported where migrations run, not with this module: the API and the worker
# import it for their sessions, and alembic would add ~0.6 s to each one's start.
def alembic_config(url: str, more_versions: Sequence[Path] = ()) -> Config:
    """``more_versions``: directories of migrations beside the project's own (a
    lifecycle kept in another distribution, or one being tried out)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(map(str, (VERSIONS, *more_versions))))
    return config


def upgrade(url: str, revision: str = "head", more_versions: Sequence[Path] = ()) -> None:
    path = url.split("///", 1)[-1] if url.startswith("sqlite") else ""
    on_file = bool(path) and path != ":memory:"
    if on_file:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    from alembic import command

    command.upgrade(alembic_config(url, more_versions), revision)
    if on_file:
        # One connection as the services make them leaves the file in WAL, which it keeps:
        # the services' connections then need not take the lock that setting it takes.
        engine = create_sync_engine(url)
        with engine.connect():
            pass
        engine.dispose()


def generate_migration(message: str, into: Path = VERSIONS) -> Path | None:
    """Autogenerate the next migration from the models (a kind's derived table included)
    into ``into``; None when the models and the migrations already agree."""
    from alembic import command

    from services.row_count_ops import count_new_tables

    def unless_empty(context: Any, revision: Any, directives: list[Any]) -> None:
        if directives[0].upgrade_ops.is_empty():
            directives.clear()
        else:
            count_new_tables(directives[0].upgrade_ops, directives[0].downgrade_ops)

    more = [into] if into != VERSIONS else []
    numbers = [int(m[1]) for d in (VERSIONS, *more) for f in d.glob("*.py") if (m := re.match(r"(\d+)_", f.name))]
    with tempfile.TemporaryDirectory() as scratch:
        url = f"sqlite:///{scratch}/scratch.db"
        upgrade(url, more_versions=more)
        config = alembic_config(url, more)
        ruff = Path(sys.executable).parent / "ruff"
        if ruff.exists():  # formatted as the project's code is
            config.set_section_option("post_write_hooks", "hooks", "ruff")
            config.set_section_option("post_write_hooks", "ruff.type", "exec")
            config.set_section_option("post_write_hooks", "ruff.executable", str(ruff))
            config.set_section_option("post_write_hooks", "ruff.options", "format REVISION_SCRIPT_FILENAME")
        script: Any = command.revision(
            config,
            message=message,
            autogenerate=True,
            rev_id=f"{max(numbers, default=0) + 1:04d}",
            version_path=str(into),
            process_revision_directives=unless_empty,
        )
    made = [s for s in (script if isinstance(script, list) else [script]) if s is not None]
    return Path(made[0].path) if made else None


def recount_lists(url: str) -> dict[str, int]:
    """Count every list table's rows again into its counter (``services/row_counts.py``): the
    counts, by table."""
    from services.row_counts import counted_tables, recount

    engine = sa.create_engine(sync_url(url))
    try:
        with engine.begin() as connection:
            return recount(connection, counted_tables())
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Read-model schema migrations")
    parser.add_argument(
        "action",
        choices=["upgrade", "current", "recount"],
        help="recount: count the list tables' rows again (after editing them by hand)",
    )
    parser.add_argument("--url", default=None, help="database URL (default: LIFECYCLES_DATABASE_URL)")
    args = parser.parse_args()
    url = args.url or get_settings().database_url
    if args.action == "upgrade":
        upgrade(url)
    elif args.action == "recount":
        json.dump(recount_lists(url), sys.stdout)
        sys.stdout.write("\n")
    else:
        from alembic import command

        command.current(alembic_config(url), verbose=True)


if __name__ == "__main__":
    main()
