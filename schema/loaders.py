"""Per-request batching of what each node of a list loads (strawberry DataLoaders).

A page of a hundred lifecycles asking each for its available transitions, history and
effects would cost several queries per node; each loader gathers the requests of one
execution step and answers them together (``services/read_model.py``,
``services/facts.py``). A loader lives for one request, so nothing is cached across
requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strawberry.dataloader import DataLoader

from services.db import Sessions
from services.facts import gather_many
from services.models import EffectDeliveryRow, EffectRow, TransitionRow
from services.pagination import Page
from services.read_model import PageKey, deliveries_of, pages_per_lifecycle
from workflows.engine.types import LifecycleSnapshot


class Loaders:
    def __init__(self, sessions: Sessions, max_page_size: int) -> None:
        self.sessions = sessions
        self.max_page_size = max_page_size
        self.facts = DataLoader(self._facts, cache_key_fn=lambda snapshot: (snapshot.workflow_id, snapshot.seq))
        self.history = DataLoader(self._history)
        self.effects = DataLoader(self._effects)

    async def _facts(self, snapshots: list[LifecycleSnapshot]) -> Sequence[dict[str, Any]]:
        return await gather_many(self.sessions, snapshots)

    async def _history(self, keys: list[PageKey]) -> Sequence[Page[TransitionRow] | BaseException]:
        async with self.sessions() as session:
            return await pages_per_lifecycle(session, TransitionRow, keys, max_page_size=self.max_page_size)

    async def _effects(
        self, keys: list[PageKey]
    ) -> Sequence[tuple[Page[EffectRow], dict[str, list[EffectDeliveryRow]]] | BaseException]:
        async with self.sessions() as session:
            pages = await pages_per_lifecycle(session, EffectRow, keys, max_page_size=self.max_page_size)
            effect_ids = [e.id for page in pages if isinstance(page, Page) for e in page.items]
            deliveries = await deliveries_of(session, effect_ids) if effect_ids else {}
        return [(page, deliveries) if isinstance(page, Page) else page for page in pages]
