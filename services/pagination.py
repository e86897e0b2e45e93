"""Keyset pagination over read-model queries, with opaque cursors.

A cursor holds the sort key of the last row of a page (plus the row's primary key
as the tie-breaker), so the next page is an index range scan however deep it is,
and rows inserted meanwhile neither repeat nor vanish across pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import Session

from workflows.engine.errors import ValidationError

T = TypeVar("T")
AnySelect = sa.Select[*tuple[Any, ...]]


@dataclass(frozen=True)
class SortKey:
    # A column expression; typed loosely because SQLModel's column attributes are not
    # typed as SQLAlchemy expressions.
    column: Any
    descending: bool = False


@dataclass
class Page(Generic[T]):
    items: list[T]
    # Each item's sort key values; ``encode_cursor`` makes its cursor, when one is asked for.
    keys: list[Sequence[Any]]
    # None when the caller did not ask for it: counting every matching row is most of a
    # large list's cost (docs/performance.md), and a client paging without it pays nothing.
    total: int | None
    has_next: bool
    has_previous: bool


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"t"}:
        return datetime.fromisoformat(value["t"])
    if isinstance(value, dict) and set(value) == {"d"}:
        return date.fromisoformat(value["d"])
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    raw = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


# The largest integer every backend's BIGINT holds: a cursor value beyond it would reach
# the database as an out-of-range parameter.
_MAX_INT = 2**63 - 1


def _fits(value: Any, column: Any) -> bool:
    """Whether a decoded cursor value has the type of the column it is compared with."""
    if value is None:
        return bool(getattr(column, "nullable", False))
    column_type = getattr(column, "type", None)
    if isinstance(column_type, sa.types.TypeDecorator):
        column_type = column_type.impl_instance
    if isinstance(column_type, sa.Boolean):
        return isinstance(value, bool)
    if isinstance(column_type, sa.Integer):
        return isinstance(value, int) and not isinstance(value, bool) and -_MAX_INT <= value <= _MAX_INT
    if isinstance(column_type, sa.String):
        return isinstance(value, str) and (column_type.length is None or len(value) <= column_type.length)
    if isinstance(column_type, sa.DateTime):
        return isinstance(value, datetime) and value.tzinfo is not None
    if isinstance(column_type, sa.Date):
        return isinstance(value, date) and not isinstance(value, datetime)
    return False


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    """The sort key values a cursor holds, each of its column's type, or ValidationError.

    Cursors come back from clients, so one may be crafted: a value of the wrong type or
    out of range would otherwise reach the database as a parameter it refuses.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != len(keys):
            raise ValueError("wrong shape")
        decoded = [_decode_value(v) for v in values]
        if not all(_fits(value, key.column) for value, key in zip(decoded, keys, strict=True)):
            raise ValueError("wrong types")
        return decoded
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError(
            "The cursor is not one this API gave out.", fields=[{"field": "after", "message": "invalid cursor"}]
        ) from None


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """Rows strictly after ``values`` in the order ``keys``: a lexicographic comparison.

    When every key runs the same way it is one row-value comparison, which SQLite and
    PostgreSQL both read as a range of the list's index; spelled as an OR of ANDs, SQLite
    scanned two ranges and sorted their union (docs/performance.md). Mixed directions
    have no row-value form and keep the OR.
    """
    if len({key.descending for key in keys}) == 1:
        row, given = sa.tuple_(*(key.column for key in keys)), sa.tuple_(*values)
        return row < given if keys[0].descending else row > given
    clauses = []
    for i, key in enumerate(keys):
        equal_before = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(sa.and_(*equal_before, beyond))
    return sa.or_(*clauses)


# The parameters a page's statements bind besides their filter's.
_LIMIT = "page_limit"
_TOTAL = "page_total"
_AFTER = "page_after_{}"


@dataclass(frozen=True)
class PageQuery:
    """The statements that read a list a page at a time, each with bound parameters for the
    page size and the cursor: the first page and the pages after a cursor, each with or
    without the total beside every row, and the count alone (for a page with no rows).

    Built once per shape of a list (which filters, which order) and kept by the list that
    asks (``services.derived``): building SQLAlchemy statements anew was most of the
    Python work of a small page (py-spy, docs/performance.md). The total rides in the page's
    statement as a scalar subquery, which both databases evaluate once: one round trip, and
    on SQLite four thread hops of the driver, instead of two (docs/performance.md).
    """

    statement: AnySelect
    keys: tuple[SortKey, ...]
    count: AnySelect
    # (after a cursor, with the total) -> the page's statement, built when first asked for: a
    # list built for one request (not kept) builds only the one it reads.
    built: dict[tuple[bool, bool], AnySelect] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, statement: AnySelect, keys: Sequence[SortKey], count: AnySelect | None = None) -> PageQuery:
        """``statement``'s rows ordered by ``keys`` (the last key must be unique); ``count``, a
        cheaper statement counting the same rows (by default, a count of ``statement``'s)."""
        if count is None:
            count = sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
        return cls(statement=statement, keys=tuple(keys), count=count)

    def page(self, after_cursor: bool, with_total: bool) -> AnySelect:
        """The statement of a first page or of one after a cursor, with or without the total."""
        if (after_cursor, with_total) not in self.built:
            page = self.statement
            if after_cursor:
                cursor = [sa.bindparam(_AFTER.format(i), type_=key.column.type) for i, key in enumerate(self.keys)]
                page = page.where(_after(self.keys, cursor))
            if with_total:
                # Not correlated: the count reads its own tables, even those the page reads too.
                page = page.add_columns(self.count.correlate(None).scalar_subquery().label(_TOTAL))
            order = [k.column.desc() if k.descending else k.column.asc() for k in self.keys]
            self.built[after_cursor, with_total] = page.order_by(*order).limit(sa.bindparam(_LIMIT, type_=sa.Integer))
        return self.built[after_cursor, with_total]


def read_page(
    connection: sa.Connection | Session,
    query: PageQuery,
    key_of: Callable[[Any], Sequence[Any]],
    *,
    first: int,
    after: str | None,
    max_page_size: int,
    parameters: Mapping[str, Any] | None = None,
    counted: bool = True,
) -> Page[Any]:
    """One page of ``query``'s rows, with ``parameters`` bound to its filter's.

    ``key_of`` reads a result row's values of the query's keys, for its cursor;
    ``counted`` False leaves the total out. A counted page's rows end with the total.
    Synchronous, so that a read can run whole where its driver costs least
    (``services.db.Reader``); on an asyncio session, through ``run_sync``.
    """
    if first < 0 or first > max_page_size:
        raise ValidationError(
            f"first must be between 0 and {max_page_size}.",
            fields=[{"field": "first", "message": f"must be between 0 and {max_page_size}"}],
        )
    bound = dict(parameters or {})
    if after:
        bound.update((_AFTER.format(i), value) for i, value in enumerate(decode_cursor(after, query.keys)))
    bound[_LIMIT] = first + 1
    rows = list(connection.execute(query.page(bool(after), counted), bound).all())
    total_count = None
    if counted:
        # An empty page has no row to carry the total: it is counted by itself.
        total_count = int(rows[0][-1] if rows else connection.execute(query.count, bound).scalar_one())
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(
        items=rows,
        keys=[key_of(row) for row in rows],
        total=total_count,
        has_next=has_next,
        has_previous=after is not None,
    )
