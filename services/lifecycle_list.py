"""Lifecycles of any kind from the generic read-model table: the operator's list and watch.

The per-kind lists filter on their typed tables; this one needs only what every
lifecycle has (kind, state, owner, account, next deadline, last change), so it reads
``lifecycles`` alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.models import LifecycleRow
from services.pagination import Page, PageQuery, SortKey, read_page


class LifecycleOrder(enum.StrEnum):
    UPDATED_AT_DESC = "UPDATED_AT_DESC"
    UPDATED_AT_ASC = "UPDATED_AT_ASC"
    OPENED_AT_DESC = "OPENED_AT_DESC"


# Columns typed loosely, as in services/pagination.py: SQLModel's are not SQLAlchemy expressions to mypy.
ORDER_KEYS: dict[LifecycleOrder, tuple[Any, bool]] = {
    LifecycleOrder.UPDATED_AT_DESC: (col(LifecycleRow.updated_at), True),
    LifecycleOrder.UPDATED_AT_ASC: (col(LifecycleRow.updated_at), False),
    LifecycleOrder.OPENED_AT_DESC: (col(LifecycleRow.opened_at), True),
}


@dataclass
class LifecycleFilter:
    kinds: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    terminal: bool | None = None
    owner: str | None = None
    account_id: str | None = None
    due_before: datetime | None = None
    updated_after: datetime | None = None


def _conditions(f: LifecycleFilter) -> list[sa.ColumnElement[bool]]:
    conditions: list[sa.ColumnElement[bool]] = []
    if f.kinds:
        conditions.append(col(LifecycleRow.kind).in_(f.kinds))
    if f.states:
        conditions.append(col(LifecycleRow.state).in_(f.states))
    if f.terminal is not None:
        conditions.append(col(LifecycleRow.terminal) == f.terminal)
    if f.owner is not None:
        conditions.append(col(LifecycleRow.owner) == f.owner)
    if f.account_id is not None:
        conditions.append(col(LifecycleRow.account_id) == f.account_id)
    if f.due_before is not None:
        conditions.append(col(LifecycleRow.next_deadline) < f.due_before)
    if f.updated_after is not None:
        conditions.append(col(LifecycleRow.updated_at) > f.updated_after)
    return conditions


async def list_lifecycles(
    session: AsyncSession,
    f: LifecycleFilter,
    order: LifecycleOrder,
    *,
    first: int,
    after: str | None,
    max_page_size: int,
    counted: bool = True,
) -> Page[LifecycleRow]:
    column, descending = ORDER_KEYS[order]
    key = col(LifecycleRow.workflow_id)
    name = str(column.key)
    page = await session.run_sync(
        read_page,
        PageQuery.of(
            sa.select(LifecycleRow).where(*_conditions(f)), [SortKey(column, descending), SortKey(key, descending)]
        ),
        key_of=lambda row: (getattr(row[0], name), row[0].workflow_id),
        first=first,
        after=after,
        max_page_size=max_page_size,
        counted=counted,
    )
    page.items = [row[0] for row in page.items]
    return page


async def count_by_state(session: AsyncSession, f: LifecycleFilter) -> list[tuple[str, str, int]]:
    """(kind, state, how many) of the lifecycles matching the filter, in one grouped count."""
    kind, state = col(LifecycleRow.kind), col(LifecycleRow.state)
    rows = await session.execute(
        sa.select(kind, state, sa.func.count()).where(*_conditions(f)).group_by(kind, state).order_by(kind, state)
    )
    return [(str(k), str(s), int(n)) for k, s, n in rows.all()]
