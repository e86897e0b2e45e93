"""Facts about other lifecycles, read from the read model, for guards that span lifecycles.

A guard runs inside its own workflow and cannot query a database. When a rule
depends on other lifecycles ("no open late payment on the account"), the lifecycle's
service module declares ``FACTS``, a provider per trigger; the gateway runs it
before sending the update and puts the result in the request's ``facts``, where
the guard reads it (``ctx.facts``). The facts are recorded with the update in the
workflow's history, so replays see exactly what the decision saw.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.db import Sessions
from services.kinds import companions
from services.read_model import get_snapshot
from workflows.engine.types import LifecycleSnapshot

FactProvider = Callable[[AsyncSession, LifecycleSnapshot], Awaitable[dict[str, Any]]]


@cache
def _fact_providers() -> dict[tuple[str, str], FactProvider]:
    """(kind, trigger) -> its provider; fixed once the kinds are imported, as ``companions`` is."""
    return {
        (kind, trigger): provider
        for kind, module in companions("services").items()
        for trigger, provider in getattr(module, "FACTS", {}).items()
    }


async def gather(sessions: Sessions, kind: str, entity_id: str, triggers: list[str]) -> dict[str, Any]:
    """The facts the given triggers of a lifecycle need (empty when none registered)."""
    known = _fact_providers()
    providers = list(dict.fromkeys(known[(kind, t)] for t in triggers if (kind, t) in known))
    if not providers:
        return {}
    facts: dict[str, Any] = {}
    async with sessions() as session:
        snapshot = await get_snapshot(session, kind, entity_id)
        if snapshot is None:
            return {}
        for provider in providers:
            facts.update(await provider(session, snapshot))
    return facts


async def gather_many(sessions: Sessions, snapshots: list[LifecycleSnapshot]) -> list[dict[str, Any]]:
    """Every fact each lifecycle's triggers may need, for a list of lifecycles read in one
    session from the snapshots in hand (what ``availableTransitions`` shows per node)."""
    needed = [
        list(dict.fromkeys(p for (kind, _), p in _fact_providers().items() if kind == snapshot.kind))
        for snapshot in snapshots
    ]
    if not any(needed):
        return [{} for _ in snapshots]
    out: list[dict[str, Any]] = []
    async with sessions() as session:
        for snapshot, providers in zip(snapshots, needed, strict=True):
            facts: dict[str, Any] = {}
            for provider in providers:
                facts.update(await provider(session, snapshot))
            out.append(facts)
    return out
