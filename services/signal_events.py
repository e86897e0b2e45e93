"""Inbound signal events about accounts (usage, health...), signed like billing events.

``POST /signals/events`` takes an event ``{"id", "type", "created", "data": {"account":
{"id", "name"}, "owner"?, ...the trigger's parameters}}`` signed with Stripe's scheme
(the ``Stripe-Signature`` header, HMAC-SHA256 with ``signal_webhook_secret``, within the
tolerance window), verified by the billing webhook's ``verified_event``. An unsigned,
forged or stale request gets 400 and changes nothing.

The event's type names a trigger of a kind kept one open per account
(``PerAccount.events`` in its exposure: ``usage.reading`` fires churn risk's
``record_usage``); it is fired on the account's open instance, or on the next one, opened
for it (``services/per_account.py``). Each event id is processed once, as billing events
are: recorded with its outcome in ``billing_events`` (under ``signal:<id>``), and the
transition's idempotency key is made of it. A refused event (a negative reading) is
recorded as refused and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.billing_events import Outcome, processed_before, record_event
from services.db import Sessions
from services.lifecycles import LifecycleGateway, Principal, Unavailable
from services.per_account import fire_for_account
from workflows.engine.errors import Rejection
from workflows.engine.spec import Role
from workflows.registry import SPECS

SIGNALS = Principal(actor="signals:webhook", role=Role.SYSTEM)


def event_triggers() -> dict[str, tuple[str, str]]:
    """Event type -> (kind, trigger), as the per-account kinds declare them."""
    found: dict[str, tuple[str, str]] = {}
    for kind, spec in SPECS.items():
        per_account = spec.exposure.per_account if spec.exposure is not None else None
        for event_type, trigger in (per_account.events if per_account is not None else {}).items():
            if event_type in found:
                raise ValueError(f"signal event {event_type!r} is declared by {found[event_type][0]} and {kind}")
            found[event_type] = (kind, trigger)
    return found


EVENT_TRIGGERS = event_triggers()


class SignalEvents:
    def __init__(self, gateway: LifecycleGateway, sessions: Sessions) -> None:
        self.gateway = gateway
        self.sessions = sessions

    async def handle(self, event: dict[str, Any]) -> Outcome:
        event_id, event_type = f"signal:{event['id']}", str(event["type"])
        created = datetime.fromtimestamp(int(event.get("created", 0)), UTC)
        seen = await processed_before(self.sessions, event_id)
        if seen is not None:
            return seen
        outcome = await self._apply(event_id, event_type, event.get("data"))
        await record_event(self.sessions, event_id, event_type, None, created, outcome)
        return outcome

    async def _apply(self, event_id: str, event_type: str, data: Any) -> Outcome:
        if event_type not in EVENT_TRIGGERS:
            return Outcome("ignored", f"{event_type} is not a signal any lifecycle takes")
        kind, trigger = EVENT_TRIGGERS[event_type]
        if not isinstance(data, dict) or not isinstance(data.get("account"), dict):
            return Outcome("refused", "ValidationError: data.account is required")
        params = {k: v for k, v in data.items() if k not in ("account", "owner")}
        owner = data.get("owner") if isinstance(data.get("owner"), str) else None
        try:
            result = await fire_for_account(
                self.gateway,
                kind,
                data["account"],
                owner,
                trigger,
                params,
                principal=SIGNALS,
                reason=f"signal event {event_id}",
                system_key=event_id,
            )
        except Unavailable:
            raise
        except Rejection as refused:
            # Retrying would not change the answer: record it and let the sender move on.
            fields = "; ".join(f"{f['field']}: {f['message']}" for f in refused.details.get("fields", []))
            return Outcome("refused", f"{refused.type}: {refused.message}" + (f" ({fields})" if fields else ""))
        return Outcome("processed", f"{trigger} on {kind}/{result.snapshot.entity_id} ({result.snapshot.state})")
