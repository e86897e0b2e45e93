"""Keyset pagination over read-model queries, with opaque cursors.

A cursor holds the sort key of the last row of a page (plus the row's primary key
as the tie-breaker), so the next page is an index range scan however deep it is,
and rows inserted meanwhile neither repeat nor vanish across pages.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

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
        row = sa.tuple_(*(key.column for key in keys))
        return row < tuple(values) if keys[0].descending else row > tuple(values)
    clauses = []
    for i, key in enumerate(keys):
        equal_before = [keys[j].column == values[j] for j in range(i)]
        beyond = key.column < values[i] if key.descending else key.column > values[i]
        clauses.append(sa.and_(*equal_before, beyond))
    return sa.or_(*clauses)


async def paginate(
    session: AsyncSession,
    statement: AnySelect,
    keys: Sequence[SortKey],
    key_of: Callable[[Any], Sequence[Any]],
    *,
    first: int,
    after: str | None,
    max_page_size: int,
    count: AnySelect | None = None,
    counted: bool = True,
) -> Page[Any]:
    """One page of ``statement``'s rows ordered by ``keys`` (the last key must be unique).

    ``key_of`` reads a result row's values of ``keys``, for its cursor. ``count``, when
    given, is a cheaper statement counting the same rows (the total without a join);
    ``counted`` False leaves the total out.
    """
    if first < 0 or first > max_page_size:
        raise ValidationError(
            f"first must be between 0 and {max_page_size}.",
            fields=[{"field": "first", "message": f"must be between 0 and {max_page_size}"}],
        )
    total_count = None
    if counted:
        if count is None:
            count = sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
        total_count = int((await session.execute(count)).scalar_one())
    page_statement = statement
    if after:
        page_statement = page_statement.where(_after(keys, decode_cursor(after, keys)))
    order = [k.column.desc() if k.descending else k.column.asc() for k in keys]
    result = await session.execute(page_statement.order_by(*order).limit(first + 1))
    rows = list(result.all())
    has_next = len(rows) > first
    rows = rows[:first]
    return Page(
        items=rows,
        keys=[key_of(row) for row in rows],
        total=total_count,
        has_next=has_next,
        has_previous=after is not None,
    )
