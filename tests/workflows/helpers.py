"""Reading what a workflow did, through the read model it writes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlmodel import col

from services.db import Sessions
from services.models import EffectDeliveryRow, EffectRow, LifecycleRow, TransitionRow

T = TypeVar("T")


async def transitions(sessions: Sessions, workflow_id: str) -> list[TransitionRow]:
    async with sessions() as session:
        result = await session.execute(
            sa.select(TransitionRow)
            .where(col(TransitionRow.workflow_id) == workflow_id)
            .order_by(col(TransitionRow.seq))
        )
        return list(result.scalars())


async def triggers(sessions: Sessions, workflow_id: str) -> list[tuple[str, str]]:
    """(trigger, actor) of every transition after the opening."""
    return [(t.trigger, t.actor) for t in await transitions(sessions, workflow_id) if t.seq > 1]


async def effects(sessions: Sessions, workflow_id: str) -> list[EffectRow]:
    async with sessions() as session:
        result = await session.execute(
            sa.select(EffectRow)
            .where(col(EffectRow.workflow_id) == workflow_id)
            # A timer's effects carry the seq of the transition before them: their moment orders them.
            .order_by(col(EffectRow.seq), col(EffectRow.created_at))
        )
        return list(result.scalars())


async def deliveries(sessions: Sessions, effect_id: str) -> list[EffectDeliveryRow]:
    async with sessions() as session:
        result = await session.execute(
            sa.select(EffectDeliveryRow).where(col(EffectDeliveryRow.effect_id) == effect_id)
        )
        return list(result.scalars())


async def lifecycle(sessions: Sessions, workflow_id: str) -> LifecycleRow | None:
    async with sessions() as session:
        return await session.get(LifecycleRow, workflow_id)


async def eventually(check: Callable[[], Awaitable[T]], *, within: float = 20.0) -> T:
    """Poll ``check`` until it returns something truthy (background deliveries, projections)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s (last value {value!r})")
        await asyncio.sleep(0.1)


def only(values: list[Any]) -> Any:
    assert len(values) == 1, values
    return values[0]
