"""Each list table's row count, kept by the database itself for a list's exact total.

An unfiltered list's ``totalCount`` is the number of rows of its kind's typed table.
PostgreSQL has no cheap exact ``count(*)`` (MVCC: a million rows is a parallel
sequential scan, ~50 ms), so triggers on each list table keep the count in
``row_counts`` as the rows come and go, on every write path (the projection, a
reconcile's repair, a bulk load, a cleared table), and the list sums it.

- PostgreSQL: statement-level triggers with transition tables, so a bulk
  ``INSERT ... SELECT`` or ``COPY`` of a million rows adds one counter update. A
  transaction adds to one of ``SLOTS`` rows per table, picked by its transaction id:
  transactions opening lifecycles at once have consecutive ids, so they do not queue on
  one row (its lock is held until they commit), and a transaction of many statements
  holds at most one counter row per table (a slot per statement could have two bulk
  writers each wait for a slot the other holds: a deadlock).
  ``TRUNCATE`` forgets the table's counters.
- SQLite: row-level triggers on one slot (there is one writer at a time).

An upsert that updates an existing row (``INSERT ... ON CONFLICT DO UPDATE``, the
projection's write) fires no insert trigger on SQLite and leaves the row out of the
transition table on PostgreSQL: the count moves only for rows really inserted or deleted.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from services.models import RowCount

# Counter rows per table on PostgreSQL: two transactions writing the same table wait for
# each other only when their ids are equal modulo SLOTS.
SLOTS = 16

COUNTS: Any = sa.inspect(RowCount).local_table


def counted_tables() -> list[str]:
    """The tables lists count: every kind's typed read-model table."""
    from services.derived import DERIVED

    return sorted(sa.inspect(derived.table).local_table.name for derived in DERIVED.values())


def count_of(table_name: str) -> sa.Select[Any]:
    """The table's row count as its triggers keep it."""
    total = sa.func.coalesce(sa.func.sum(COUNTS.c.row_count), 0)
    return sa.select(sa.cast(total, sa.BigInteger)).where(COUNTS.c.table_name == table_name)


def _postgresql_functions() -> list[str]:
    def add(sign: str, rows: str) -> str:
        return f"""
        BEGIN
            INSERT INTO row_counts (table_name, slot, row_count)
            SELECT TG_TABLE_NAME, mod(txid_current(), {SLOTS}), {sign}count(*) FROM {rows} HAVING count(*) > 0
            ON CONFLICT (table_name, slot) DO UPDATE SET row_count = row_counts.row_count + excluded.row_count;
            RETURN NULL;
        END"""

    return [
        f"CREATE OR REPLACE FUNCTION row_counts_add() RETURNS trigger LANGUAGE plpgsql AS $${add('', 'added')}$$",
        f"CREATE OR REPLACE FUNCTION row_counts_remove() RETURNS trigger LANGUAGE plpgsql AS $${add('-', 'removed')}$$",
        """CREATE OR REPLACE FUNCTION row_counts_forget() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM row_counts WHERE table_name = TG_TABLE_NAME;
            RETURN NULL;
        END$$""",
    ]


def create_functions(connection: sa.Connection) -> None:
    """The trigger functions every counted table shares (PostgreSQL; SQLite has none)."""
    if connection.dialect.name == "postgresql":
        for statement in _postgresql_functions():
            connection.exec_driver_sql(statement)


def drop_functions(connection: sa.Connection) -> None:
    if connection.dialect.name == "postgresql":
        for function in ("row_counts_add", "row_counts_remove", "row_counts_forget"):
            connection.exec_driver_sql(f"DROP FUNCTION {function}()")


def _triggers(table_name: str) -> dict[str, str]:
    """Trigger name -> the statement's event (SQLite names triggers per database, so they name their table)."""
    return {f"count_{table_name}_inserts": "INSERT", f"count_{table_name}_deletes": "DELETE"}


def create_counter(connection: sa.Connection, table_name: str) -> None:
    """The table's triggers, and its count as the table holds it now."""
    names = {event: name for name, event in _triggers(table_name).items()}
    if connection.dialect.name == "postgresql":
        create_functions(connection)
        for event, function, rows in (
            ("INSERT", "row_counts_add", "NEW TABLE AS added"),
            ("DELETE", "row_counts_remove", "OLD TABLE AS removed"),
        ):
            connection.exec_driver_sql(
                f"CREATE TRIGGER {names[event]} AFTER {event} ON {table_name} REFERENCING {rows}"
                f" FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )
        connection.exec_driver_sql(
            f"CREATE TRIGGER count_{table_name}_truncates AFTER TRUNCATE ON {table_name}"
            " FOR EACH STATEMENT EXECUTE FUNCTION row_counts_forget()"
        )
    else:
        for event, step in (("INSERT", "+ 1"), ("DELETE", "- 1")):
            connection.exec_driver_sql(
                f"CREATE TRIGGER {names[event]} AFTER {event} ON {table_name} BEGIN"
                f" INSERT INTO row_counts (table_name, slot, row_count) VALUES ('{table_name}', 0, 0 {step})"
                f" ON CONFLICT (table_name, slot) DO UPDATE SET row_count = row_count {step}; END"
            )
    recount(connection, [table_name])


def drop_counter(connection: sa.Connection, table_name: str) -> None:
    triggers = list(_triggers(table_name))
    if connection.dialect.name == "postgresql":
        triggers.append(f"count_{table_name}_truncates")
        for trigger in triggers:
            connection.exec_driver_sql(f"DROP TRIGGER {trigger} ON {table_name}")
    else:
        for trigger in triggers:
            connection.exec_driver_sql(f"DROP TRIGGER {trigger}")
    connection.execute(sa.delete(COUNTS).where(COUNTS.c.table_name == table_name))


def recount(connection: sa.Connection, table_names: list[str]) -> dict[str, int]:
    """Count the tables again from their rows (after they were edited with the triggers off, or
    by ``INSERT OR REPLACE`` outside the service on SQLite); the counts, by table.

    PostgreSQL: the table is locked against writes until the transaction ends, so no row
    is counted twice or missed. SQLite: the first statement writes, which takes the database's
    write lock before the table is read.
    """
    counts = {}
    for table_name in table_names:
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql(f"LOCK TABLE {table_name} IN SHARE MODE")
        connection.execute(sa.delete(COUNTS).where(COUNTS.c.table_name == table_name))
        rows = connection.execute(sa.select(sa.func.count()).select_from(sa.table(table_name))).scalar_one()
        connection.execute(sa.insert(COUNTS).values(table_name=table_name, slot=0, row_count=rows))
        counts[table_name] = int(rows)
    return counts
