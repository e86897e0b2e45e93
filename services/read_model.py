"""Reading lifecycles back from the read model, and describing them without Temporal."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import SQLModel, col

from services.models import EffectDeliveryRow, EffectRow, LifecycleRow, TransitionRow
from services.pagination import Page, PageQuery, SortKey, read_page
from services.row_counts import count_of
from workflows.engine.errors import Rejection
from workflows.engine.instance import LifecycleInstance
from workflows.engine.types import AllowedTransition, LifecycleSnapshot, LifecycleState, workflow_id_for
from workflows.registry import SPECS

# Parts of a lifecycle a page reads as their stored JSON text: the policy and the deadlines,
# which its nodes seldom show, decoded when a field needs the snapshot (~4% of a small
# list's time on SQLite), and the data, which a node's own fields read through pydantic's
# JSON validation in one pass rather than decoded, then validated (docs/performance.md).
DEFERRED_PARTS = ("data", "policy", "deadlines")


def snapshot_of(row: LifecycleRow | sa.Row[Any]) -> LifecycleSnapshot:
    # The row's columns are the snapshot's fields, by name; a list page's row holds the
    # deferred parts as text (lifecycle_page_query).
    if isinstance(row, sa.Row) and isinstance(row.policy, str):
        values = dict(row._mapping)
        values.update((part, json.loads(values[part])) for part in DEFERRED_PARTS)
        return LifecycleSnapshot.model_validate(values)
    return LifecycleSnapshot.model_validate(row, from_attributes=True)


async def get_snapshot(session: AsyncSession, kind: str, entity_id: str) -> LifecycleSnapshot | None:
    row = await session.get(LifecycleRow, workflow_id_for(kind, entity_id))
    return snapshot_of(row) if row is not None else None


def describe(
    snapshot: LifecycleSnapshot, now: datetime, facts: Mapping[str, Any] | None = None
) -> list[AllowedTransition]:
    """What may happen to a lifecycle now, judged by its spec on the read model's copy."""
    if snapshot.terminal and not snapshot.deadlines:
        # Its workflow has completed (or is about to): nothing can reach it any more.
        return []
    # The snapshot has the state's fields by name; the workflow's own bookkeeping (history,
    # fired timers, applied keys) is not in the read model and takes its empty default.
    state = LifecycleState.model_validate(snapshot, from_attributes=True)
    return LifecycleInstance(SPECS[snapshot.kind], state).describe(now, facts)


def lifecycle_page_query(
    table: type[SQLModel], conditions: Sequence[sa.ColumnElement[bool]], sort: Any, descending: bool
) -> PageQuery:
    """The statements reading a kind's lifecycles a page at a time, filtered and sorted on its
    typed table.

    ``table`` is the kind's projection (``workflow_id`` key); ``sort`` one of its
    columns, with the workflow id as the tie-breaker. The rows are the lifecycles' rows
    as plain result rows (``snapshot_of`` reads them; their ``DEFERRED_PARTS`` as
    text), with their sort key
    (``page_key_of``): ORM objects of both tables were most of the ORM's work in a
    py-spy profile of a small list page.
    """
    key: Any = sa.inspect(table).local_table.c.workflow_id
    lifecycles: Any = sa.inspect(LifecycleRow).local_table
    columns = [sa.cast(c, sa.Text).label(c.name) if c.name in DEFERRED_PARTS else c for c in lifecycles.c]
    statement = (
        sa.select(*columns, sort.label("page_sort"), key.label("page_key"))
        .join_from(lifecycles, table, key == lifecycles.c.workflow_id)
        .where(*conditions)
    )
    return PageQuery.of(
        statement,
        [SortKey(sort, descending), SortKey(key, descending)],
        # Every typed row has its lifecycle row (one projection writes both), so the total
        # is counted on the typed table alone: on its indexes, without the join, which at
        # 100k rows made the count most of a page's cost (docs/performance.md). Unfiltered,
        # it is the table's size, which its triggers keep (counting 1M rows on PostgreSQL
        # reads them all).
        count=sa.select(sa.func.count()).select_from(table).where(*conditions)
        if conditions
        else count_of(key.table.name),
    )


def page_key_of(row: Any) -> tuple[Any, Any]:
    """A row of ``lifecycle_page_query``'s sort key."""
    return row.page_sort, row.page_key


async def deliveries_of(session: AsyncSession, effect_ids: list[str]) -> dict[str, list[EffectDeliveryRow]]:
    """Each effect's per-channel deliveries."""
    result = await session.execute(
        sa.select(EffectDeliveryRow)
        .where(col(EffectDeliveryRow.effect_id).in_(effect_ids))
        .order_by(col(EffectDeliveryRow.channel))
    )
    out: dict[str, list[EffectDeliveryRow]] = {}
    for row in result.scalars():
        out.setdefault(row.effect_id, []).append(row)
    return out


# A page of one lifecycle's audit log or outbox, as a GraphQL list node asks for it.
PageKey = tuple[str, int, str | None]  # workflow id, first, after


async def pages_per_lifecycle(
    session: AsyncSession,
    table: type[TransitionRow] | type[EffectRow],
    keys: Sequence[PageKey],
    *,
    max_page_size: int,
) -> list[Page[Any] | Exception]:
    """Pages of many lifecycles' transitions (by seq) or effects (by seq, id) at once.

    A list of lifecycles asking each for its history or effects would otherwise cost a
    count and a page query per node. First pages (no cursor), by far the usual case,
    come from one windowed query and one grouped count for all of them; later pages
    are read one by one as ``read_page`` reads a list.
    """
    workflow_id = col(table.workflow_id)
    order = [col(table.seq)] if table is TransitionRow else [col(EffectRow.seq), col(EffectRow.id)]

    def key_of(row: Any) -> tuple[Any, ...]:
        return (row.seq,) if table is TransitionRow else (row.seq, row.id)

    sort_keys = [SortKey(column) for column in order]
    results: dict[PageKey, Page[Any] | Exception] = {}
    first_pages = [k for k in keys if k[2] is None and 0 <= k[1] <= max_page_size]
    for key in keys:
        if key in first_pages:
            continue
        try:
            page = await session.run_sync(
                read_page,
                PageQuery.of(sa.select(table).where(workflow_id == key[0]), sort_keys),
                key_of=lambda row: key_of(row[0]),
                first=key[1],
                after=key[2],
                max_page_size=max_page_size,
            )
            page.items = [row[0] for row in page.items]
            results[key] = page
        except Rejection as exc:  # a refusal (bad cursor, page too large) for this node only
            results[key] = exc
    if first_pages:
        ids = sorted({k[0] for k in first_pages})
        limit = max(k[1] for k in first_pages) + 1
        position = sa.func.row_number().over(partition_by=workflow_id, order_by=order).label("position")
        ranked = sa.select(table, position).where(workflow_id.in_(ids)).subquery()
        row_of = aliased(table, ranked)
        rows = await session.execute(
            sa.select(row_of).where(ranked.c.position <= limit).order_by(ranked.c.workflow_id, ranked.c.position)
        )
        by_lifecycle: dict[str, list[Any]] = {}
        row: Any
        for row in rows.scalars():
            by_lifecycle.setdefault(row.workflow_id, []).append(row)
        totals = dict(
            (
                await session.execute(
                    sa.select(workflow_id, sa.func.count()).where(workflow_id.in_(ids)).group_by(workflow_id)
                )
            ).all()
        )
        for key in first_pages:
            items = by_lifecycle.get(key[0], [])
            page_items = items[: key[1]]
            results[key] = Page(
                items=page_items,
                keys=[key_of(item) for item in page_items],
                total=int(totals.get(key[0], 0)),
                has_next=len(items) > key[1],
                has_previous=False,
            )
    return [results[key] for key in keys]
