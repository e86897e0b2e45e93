"""Delivering the outbox: each effect once per channel its type is routed to.

The delivery activity reads the effect from the outbox, hands it to each routed
channel (``services/channels.py``) not yet delivered, and records the outcome per
channel. Temporal retries a failed delivery with backoff; the rows show the attempts
and the last error meanwhile. A channel already marked delivered is not sent again,
so a retry after a crash between sending and recording is the only window for a
repeat, which receivers close with the effect id as idempotency key.

``lifecycle.start`` and ``lifecycle.fire`` effects are the service's own: one
lifecycle opening another, or firing a trigger on others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col

from services.channels import (
    Channel,
    EmailChannel,
    LogChannel,
    PermanentDeliveryError,
    SlackChannel,
    WebhookChannel,
)
from services.db import Sessions
from services.lifecycles import LifecycleGateway, Principal
from services.metrics import WORKER_METRICS
from services.models import EffectDeliveryRow, EffectRow, EffectStatus, LifecycleRow
from services.numbering import next_account_numbered_id
from services.projection import insert_for
from services.settings import INTERNAL_EFFECT_TYPES, Settings
from workflows.engine.errors import AlreadyExists, GuardFailed, InvalidTransition, NotFound, ValidationError
from workflows.engine.spec import Role
from workflows.engine.types import workflow_id_for

logger = logging.getLogger("lifecycles.effects")


class LifecycleStarter:
    """Delivers ``lifecycle.start`` effects: one lifecycle opening another.

    An effect without an ``entity_id`` opens a kind numbered per account
    (``Exposure.account_numbered``) under the next id of its ``account_id``; while the
    account has one open, that one stands and nothing more opens.
    """

    def __init__(self, gateway: LifecycleGateway, sessions: Sessions) -> None:
        self.gateway = gateway
        self.sessions = sessions

    async def send(self, effect: EffectRow) -> None:
        payload: dict[str, Any] = effect.payload
        try:
            entity_id = payload.get("entity_id")
            if entity_id is None:
                async with self.sessions() as session:
                    entity_id = await next_account_numbered_id(session, payload["kind"], payload["account_id"])
            await self.gateway.open(
                payload["kind"],
                entity_id,
                payload["data"],
                principal=Principal(actor=payload.get("actor") or "system", role=Role.OPERATOR),
                initial_state=payload.get("initial_state"),
                reason=payload.get("reason"),
            )
        except AlreadyExists as exists:
            # Opened by an earlier attempt of this same delivery (or, numbered per account, one is open).
            logger.info("effect %s: %s not opened: %s", effect.id, payload["kind"], exists)


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
                    system_key=f"{effect.id}->{workflow_id}",
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
    """Delivers an outbox effect to every channel its type is routed to, each at most once.

    Each (effect, channel) pair has a delivery row; a channel already delivered is not
    sent again when the activity is retried, so a failing endpoint delays only itself.
    The effect row sums it up: DELIVERED when every channel is, FAILED when one failed
    for good, and the attempts and last error meanwhile.
    """

    def __init__(
        self,
        sessions: Sessions,
        channels: dict[str, Channel],
        routes: Callable[[str], list[str]],
    ) -> None:
        self.sessions = sessions
        self.channels = channels
        self.routes = routes

    def channel_names(self, effect_type: str) -> list[str]:
        if effect_type in INTERNAL_EFFECT_TYPES:
            return [effect_type]
        return self.routes(effect_type)

    async def deliver(self, effect_id: str, attempt: int, on_channel: Callable[[str], None] | None = None) -> None:
        """Send to each routed channel not yet delivered; ``on_channel`` is told before each send."""
        async with self.sessions() as session:
            effect = await session.get(EffectRow, effect_id)
            if effect is None:
                raise PermanentDeliveryError(f"effect {effect_id} is not in the outbox")
            done = {
                row.channel
                for row in (
                    await session.execute(
                        sa.select(EffectDeliveryRow).where(col(EffectDeliveryRow.effect_id) == effect_id)
                    )
                ).scalars()
                if row.status == EffectStatus.DELIVERED
            }
        if effect.status == EffectStatus.DELIVERED:
            return
        failures: list[tuple[str, Exception]] = []
        pending = [name for name in self.channel_names(effect.type) if name not in done]
        # The last channel's outcome is written with the effect's, in one transaction: a
        # delivery commits once per channel, not once more for the summary. Every earlier
        # channel's is written as soon as it is known, so a retry resends none of them.
        last: dict[str, Any] | None = None
        for i, name in enumerate(pending):
            channel = self.channels.get(name)
            if on_channel is not None:
                on_channel(name)
            try:
                with WORKER_METRICS.delivering(name):
                    if channel is None:
                        raise PermanentDeliveryError(f"channel {name} is not configured")
                    await channel.send(effect)
            except Exception as exc:  # recorded per channel; the activity decides on retrying
                failures.append((name, exc))
                status = EffectStatus.FAILED if isinstance(exc, PermanentDeliveryError) else EffectStatus.PENDING
                row = _channel_row(effect_id, name, attempt, status, f"{type(exc).__name__}: {exc}")
            else:
                row = _channel_row(effect_id, name, attempt, EffectStatus.DELIVERED, None)
            if i == len(pending) - 1:
                last = row
            else:
                await self._record(effect_id, row)
        if not failures:
            await self._record(effect_id, last, (attempt, EffectStatus.DELIVERED, None))
            return
        error = "; ".join(f"{name}: {exc}" for name, exc in failures)
        if all(isinstance(exc, PermanentDeliveryError) for _, exc in failures):
            await self._record(effect_id, last, (attempt, EffectStatus.FAILED, error))
            raise PermanentDeliveryError(error)
        await self._record(effect_id, last, (attempt, EffectStatus.PENDING, error))
        raise RuntimeError(error)

    async def _record(
        self,
        effect_id: str,
        channel_row: dict[str, Any] | None,
        outcome: tuple[int, EffectStatus, str | None] | None = None,
    ) -> None:
        """Write one channel's row and, with ``outcome`` (attempt, status, error), the effect's, in one transaction."""
        async with self.sessions.begin() as session:
            if channel_row is not None:
                statement = insert_for(session, EffectDeliveryRow).values(**channel_row)
                await session.execute(
                    statement.on_conflict_do_update(
                        index_elements=["effect_id", "channel"],
                        set_={k: statement.excluded[k] for k in channel_row if k not in ("effect_id", "channel")},
                    )
                )
            if outcome is not None:
                attempt, status, error = outcome
                values: dict[str, Any] = {"status": status, "attempts": attempt, "last_error": error and error[:2000]}
                if status is EffectStatus.DELIVERED:
                    values["delivered_at"] = datetime.now(UTC)
                await session.execute(sa.update(EffectRow).where(col(EffectRow.id) == effect_id).values(**values))


def _channel_row(effect_id: str, channel: str, attempt: int, status: EffectStatus, error: str | None) -> dict[str, Any]:
    return {
        "effect_id": effect_id,
        "channel": channel,
        "status": status,
        "attempts": attempt,
        "last_error": error and error[:2000],
        "delivered_at": datetime.now(UTC) if status is EffectStatus.DELIVERED else None,
    }


def build_dispatcher(
    settings: Settings, sessions: Sessions, gateway: LifecycleGateway, http: httpx.AsyncClient
) -> EffectDispatcher:
    """Every channel the settings configure, plus the service's own lifecycle channels."""
    channels: dict[str, Channel] = {
        "log": LogChannel(settings.role_contacts),
        "lifecycle.start": LifecycleStarter(gateway, sessions),
        "lifecycle.fire": LifecycleFanOut(gateway, sessions),
    }
    if settings.smtp is not None:
        channels["email"] = EmailChannel(settings.smtp, settings.role_contacts)
    if settings.slack_webhooks:
        channels["slack"] = SlackChannel({k: v.get_secret_value() for k, v in settings.slack_webhooks.items()}, http)
    for name, endpoint in settings.webhook_endpoints.items():
        channels[f"webhook:{name}"] = WebhookChannel(name, endpoint, http)
    return EffectDispatcher(sessions, channels, settings.channels_for)
