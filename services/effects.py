"""Delivering the outbox: each effect once, through the channel its type is routed to.

The delivery activity reads the effect from the outbox, hands it to its channel and
marks it delivered. Temporal retries a failed delivery with backoff; the row shows
the attempts and the last error meanwhile. An effect already marked delivered is
not sent again, so a retry after a crash between sending and marking is the only
window for a repeat, which channels close with the effect id as idempotency key.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import col

from services.db import Sessions
from services.lifecycles import LifecycleGateway, Principal
from services.models import EffectRow, EffectStatus, LifecycleRow
from workflows.engine.errors import AlreadyExists, GuardFailed, InvalidTransition, NotFound, ValidationError
from workflows.engine.spec import Role
from workflows.engine.types import workflow_id_for

logger = logging.getLogger("lifecycles.effects")


class PermanentDeliveryError(Exception):
    """The effect can never be delivered as it is (unknown type, bad recipient...)."""


class Channel(Protocol):
    async def send(self, effect: EffectRow) -> None: ...


class LogChannel:
    """Writes each effect to the service log: the default channel, needing no setup."""

    def __init__(self, role_contacts: dict[str, str] | None = None) -> None:
        self.role_contacts = role_contacts or {}

    def resolve(self, recipients: list[str]) -> list[str]:
        out = []
        for r in recipients:
            if r.startswith("role:"):
                out.append(self.role_contacts.get(r[5:], r))
            else:
                out.append(r)
        return out

    async def send(self, effect: EffectRow) -> None:
        logger.info(
            "effect %s %s/%s to %s: %s",
            effect.id,
            effect.type,
            effect.name,
            ", ".join(self.resolve(effect.recipients)) or "-",
            effect.payload.get("subject") or effect.payload,
        )


class LifecycleStarter:
    """Delivers ``lifecycle.start`` effects: one lifecycle opening another."""

    def __init__(self, gateway: LifecycleGateway) -> None:
        self.gateway = gateway

    async def send(self, effect: EffectRow) -> None:
        payload: dict[str, Any] = effect.payload
        try:
            await self.gateway.open(
                payload["kind"],
                payload["entity_id"],
                payload["data"],
                principal=Principal(actor=payload.get("actor") or "system", role=Role.OPERATOR),
                initial_state=payload.get("initial_state"),
                reason=payload.get("reason"),
            )
        except AlreadyExists:
            # Opened by an earlier attempt of this same delivery.
            logger.info("effect %s: %s/%s exists already", effect.id, payload["kind"], payload["entity_id"])


class LifecycleFanOut:
    """Delivers ``lifecycle.fire`` effects: a trigger on named lifecycles, or on every open
    lifecycle of an account."""

    def __init__(self, gateway: LifecycleGateway, sessions: Sessions) -> None:
        self.gateway = gateway
        self.sessions = sessions

    async def send(self, effect: EffectRow) -> None:
        payload: dict[str, Any] = effect.payload
        principal = Principal(actor=payload.get("actor") or "system", role=Role.SYSTEM)
        for kind, entity_id in await self._targets(payload):
            workflow_id = workflow_id_for(kind, entity_id)
            try:
                await self.gateway.transition(
                    kind,
                    entity_id,
                    payload["trigger"],
                    payload.get("params") or {},
                    principal=principal,
                    reason=payload.get("reason"),
                    idempotency_key=f"{effect.id}->{workflow_id}",
                )
            except (InvalidTransition, GuardFailed, ValidationError, NotFound) as refused:
                # Ended meanwhile, or already as asked: nothing for this one to do.
                logger.info("effect %s: %s refused %s: %s", effect.id, workflow_id, payload["trigger"], refused)

    async def _targets(self, payload: dict[str, Any]) -> list[tuple[str, str]]:
        if payload.get("targets") is not None:
            return [(t["kind"], t["entity_id"]) for t in payload["targets"]]
        if not payload.get("account_id"):
            return []
        targets = sa.select(col(LifecycleRow.kind), col(LifecycleRow.entity_id), col(LifecycleRow.workflow_id)).where(
            col(LifecycleRow.account_id) == payload["account_id"],
            col(LifecycleRow.terminal).is_(False),
            col(LifecycleRow.workflow_id).not_in(payload.get("exclude") or []),
        )
        if payload.get("kinds") is not None:
            targets = targets.where(col(LifecycleRow.kind).in_(payload["kinds"]))
        async with self.sessions() as session:
            rows = (await session.execute(targets.order_by(col(LifecycleRow.workflow_id)))).all()
        return [(kind, entity_id) for kind, entity_id, _ in rows]


class EffectDispatcher:
    """Routes each effect type to its channel; types without a route go to ``default``."""

    def __init__(self, sessions: Sessions, routes: dict[str, Channel], default: Channel | None = None) -> None:
        self.sessions = sessions
        self.routes = routes
        self.default = default

    async def deliver(self, effect_id: str, attempt: int) -> None:
        async with self.sessions() as session:
            effect = await session.get(EffectRow, effect_id)
        if effect is None:
            raise PermanentDeliveryError(f"effect {effect_id} is not in the outbox")
        if effect.status == EffectStatus.DELIVERED:
            return
        channel = self.routes.get(effect.type, self.default)
        if channel is None:
            await self._record(effect_id, attempt, EffectStatus.FAILED, f"no channel for effect type {effect.type}")
            raise PermanentDeliveryError(f"no channel for effect type {effect.type}")
        try:
            await channel.send(effect)
        except PermanentDeliveryError as exc:
            await self._record(effect_id, attempt, EffectStatus.FAILED, str(exc))
            raise
        except Exception as exc:
            await self._record(effect_id, attempt, EffectStatus.PENDING, f"{type(exc).__name__}: {exc}")
            raise
        await self._record(effect_id, attempt, EffectStatus.DELIVERED, None)

    async def _record(self, effect_id: str, attempt: int, status: EffectStatus, error: str | None) -> None:
        values: dict[str, Any] = {"status": status, "attempts": attempt, "last_error": error and error[:2000]}
        if status is EffectStatus.DELIVERED:
            values["delivered_at"] = datetime.now(UTC)
        async with self.sessions.begin() as session:
            await session.execute(sa.update(EffectRow).where(col(EffectRow.id) == effect_id).values(**values))
