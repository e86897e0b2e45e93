"""Inbound billing events in Stripe's format, signed with Stripe's scheme.

``POST /billing/stripe/events`` verifies the ``Stripe-Signature`` header (HMAC-SHA256
with the endpoint secret, within the tolerance window) with the ``stripe`` package;
an unsigned, forged or stale request gets 400 and changes nothing. Then:

- ``invoice.payment_failed`` opens the invoice's late payment (card invoices: day 0 is
  the failure), or records the failed attempt by the provider's attempt number;
- ``invoice.overdue`` opens the late payment of an invoice paid on terms;
- ``invoice.paid`` settles it; ``invoice.voided`` voids it;
- an event a kind numbered per account declares (``Exposure.billing_events``:
  ``customer.subscription.deleted`` churns the account's onboarding) fires its trigger on
  the account's open instance of that kind.

Each event id is processed once: the event id is the Temporal update id (and the
lifecycle's own memory of applied keys), and processed events are recorded in
``billing_events``. Events are also ordered per invoice by their ``created`` time: an
event older than one already processed for the same invoice (a late retry of a
``payment_failed`` after the ``paid``) is recorded as stale and ignored.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col

from services.db import Sessions
from services.lifecycles import LifecycleGateway, Principal, Unavailable
from services.models import utc_column
from services.numbering import account_instances
from services.projection import insert_for
from services.read_model import get_snapshot
from workflows.engine.errors import AlreadyExists, Rejection, ValidationError
from workflows.engine.exposure import BillingTrigger
from workflows.engine.spec import Role
from workflows.late_payment import KIND, LatePaymentData
from workflows.registry import SPECS

logger = logging.getLogger("lifecycles.billing")

STRIPE = Principal(actor="billing:stripe", role=Role.SYSTEM)


def account_triggers() -> dict[str, list[tuple[str, BillingTrigger]]]:
    """Event type -> (kind, what it fires), as kinds declare them (``Exposure.billing_events``)."""
    found: dict[str, list[tuple[str, BillingTrigger]]] = {}
    for kind, spec in SPECS.items():
        for event_type, declared in (spec.exposure.billing_events if spec.exposure is not None else {}).items():
            found.setdefault(event_type, []).append((kind, declared))
    return found


ACCOUNT_TRIGGERS = account_triggers()


class BillingEventRow(SQLModel, table=True):
    __tablename__ = "billing_events"
    __table_args__ = (sa.Index("ix_billing_events_invoice_created", "invoice_id", "created"),)

    event_id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=100)
    invoice_id: str | None = Field(default=None, max_length=255)
    created: datetime = utc_column()
    received_at: datetime = utc_column()
    outcome: str = Field(max_length=40)
    detail: str | None = Field(default=None, max_length=2000)


class InvalidEvent(Exception):
    """The request is not a well-signed, well-formed event: answered with 400."""


@dataclass(frozen=True)
class Outcome:
    outcome: str  # processed, duplicate, stale, ignored, refused
    detail: str | None = None


def verified_event(payload: bytes, signature: str | None, secret: str, tolerance: int) -> dict[str, Any]:
    # Imported on the first event rather than with the API: it adds ~0.4 s to every start.
    import stripe

    try:
        payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent("the body is not UTF-8") from None
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance)
    except stripe.SignatureVerificationError as exc:
        raise InvalidEvent(f"signature verification failed: {str(exc).split('.')[0]}") from None
    # Stripe's check refuses only signatures older than the tolerance; one dated in the
    # future is as suspect (a replay prepared in advance, or a skewed clock).
    if _signed_at(signature) > time.time() + tolerance:
        raise InvalidEvent("signature verification failed: the timestamp is in the future")
    try:
        event = json.loads(payload)
        if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
            raise ValueError("an event has an id and a type")
        int(event.get("created", 0))
    except (ValueError, TypeError) as exc:
        raise InvalidEvent(f"malformed event: {exc}") from None
    return event


def _signed_at(signature: str | None) -> int:
    """The ``t=`` timestamp of a header Stripe's library has just verified."""
    for item in (signature or "").split(","):
        key, _, value = item.partition("=")
        if key.strip() == "t":
            return int(value)
    raise InvalidEvent("signature verification failed: no timestamp")


def _cents(value: Any) -> Decimal:
    return (Decimal(int(value)) / 100).quantize(Decimal("0.01"))


def _late_payment_data(invoice: dict[str, Any], created: datetime) -> dict[str, Any]:
    metadata = invoice.get("metadata") or {}
    card = invoice.get("collection_method") != "send_invoice"
    data: dict[str, Any] = {
        "invoice_id": invoice["id"],
        "account": {
            "id": metadata.get("account_id") or invoice.get("customer") or "unknown",
            "name": metadata.get("account_name")
            or invoice.get("customer_name")
            or invoice.get("customer")
            or "unknown",
        },
        "owner": metadata.get("owner") or None,
        "amount": str(_cents(invoice.get("amount_remaining", invoice.get("amount_due", 0)))),
        "currency": str(invoice.get("currency", "usd")).upper(),
        "collection_method": "CARD" if card else "INVOICE",
        "payment_link": invoice.get("hosted_invoice_url"),
        "contact_emails": [invoice["customer_email"]] if invoice.get("customer_email") else [],
    }
    if card:
        data["failed_attempts"] = int(invoice.get("attempt_count") or 1)
        data["day_zero"] = created.isoformat()
    elif invoice.get("due_date"):
        data["due_date"] = datetime.fromtimestamp(int(invoice["due_date"]), UTC).date().isoformat()
    return data


async def processed_before(sessions: Sessions, event_id: str) -> Outcome | None:
    """The answer to an event already processed (a provider's retry), or None for a new one."""
    async with sessions() as session:
        seen = await session.get(BillingEventRow, event_id)
    if seen is None:
        return None
    return Outcome("duplicate", f"first processed at {seen.received_at.isoformat()}: {seen.outcome}")


async def record_event(
    sessions: Sessions, event_id: str, event_type: str, invoice_id: str | None, created: datetime, outcome: Outcome
) -> None:
    """Remember an event as processed, with its outcome, so a retry of it changes nothing."""
    async with sessions.begin() as session:
        statement = insert_for(session, BillingEventRow).values(
            event_id=event_id,
            type=event_type[:100],
            invoice_id=invoice_id,
            created=created,
            received_at=datetime.now(UTC),
            outcome=outcome.outcome,
            detail=outcome.detail and outcome.detail[:2000],
        )
        await session.execute(statement.on_conflict_do_nothing(index_elements=["event_id"]))
    logger.info("inbound event %s (%s): %s %s", event_id, event_type, outcome.outcome, outcome.detail or "")


class BillingEvents:
    def __init__(self, gateway: LifecycleGateway, sessions: Sessions) -> None:
        self.gateway = gateway
        self.sessions = sessions

    async def handle(self, event: dict[str, Any]) -> Outcome:
        event_id, event_type = str(event["id"]), str(event["type"])
        created = datetime.fromtimestamp(int(event.get("created", 0)), UTC)
        invoice = (event.get("data") or {}).get("object") or {}
        invoice_id = invoice.get("id") if event_type.startswith("invoice.") else None
        seen = await processed_before(self.sessions, event_id)
        if seen is not None:
            return seen
        newer = None
        async with self.sessions() as session:
            if invoice_id:
                newer = (
                    await session.execute(
                        sa.select(sa.func.max(col(BillingEventRow.created))).where(
                            col(BillingEventRow.invoice_id) == invoice_id,
                            col(BillingEventRow.outcome) != "stale",
                        )
                    )
                ).scalar_one_or_none()
        if newer is not None and created < newer:
            outcome = Outcome("stale", f"older than an event already processed for invoice {invoice_id}")
        else:
            outcome = await self._apply(event_id, event_type, invoice, created)
        await record_event(self.sessions, event_id, event_type, invoice_id, created, outcome)
        return outcome

    async def _apply(self, event_id: str, event_type: str, invoice: dict[str, Any], created: datetime) -> Outcome:
        handlers = {
            "invoice.payment_failed": self._payment_failed,
            "invoice.overdue": self._overdue,
            "invoice.paid": self._paid,
            "invoice.voided": self._voided,
        }
        if event_type in ACCOUNT_TRIGGERS:
            return await self._fire_on_accounts(event_id, event_type, invoice)
        handler = handlers.get(event_type)
        if handler is None or not invoice.get("id"):
            return Outcome("ignored", f"{event_type} does not concern late payments")
        try:
            return await handler(event_id, invoice, created)
        except Unavailable:
            raise
        except Rejection as refused:
            # Retrying would not change the answer: record it and let the provider move on.
            return Outcome("refused", f"{refused.type}: {refused.message}")

    async def _fire_on_accounts(self, event_id: str, event_type: str, subject: dict[str, Any]) -> Outcome:
        """Fire each declaring kind's trigger on the account's open instance of it."""
        account_id = (subject.get("metadata") or {}).get("account_id") or subject.get("customer")
        if not account_id:
            return Outcome("refused", f"ValidationError: {event_type} names no account (metadata.account_id, customer)")
        fired: list[str] = []
        refused: list[str] = []
        for kind, declared in ACCOUNT_TRIGGERS[event_type]:
            async with self.sessions() as session:
                open_id = (await account_instances(session, kind, str(account_id))).open_id
            if open_id is None:
                continue
            try:
                await self.gateway.transition(
                    kind,
                    open_id,
                    declared.trigger,
                    dict(declared.params),
                    principal=STRIPE,
                    reason=f"{declared.reason} (billing event {event_id})",
                    system_key=f"stripe:{event_id}:{kind}",
                )
            except Rejection as refusal:
                refused.append(f"{kind} {open_id} {refusal.type}: {refusal.message}")
                continue
            fired.append(f"{kind} {open_id}: {declared.trigger}")
        if fired:
            return Outcome("processed", "; ".join(fired + refused))
        if refused:
            return Outcome("refused", "; ".join(refused))
        return Outcome("ignored", f"account {account_id} has nothing open that {event_type} concerns")

    async def _open(self, event_id: str, invoice: dict[str, Any], created: datetime) -> Outcome:
        await self.gateway.open(
            KIND,
            invoice["id"],
            _late_payment_data(invoice, created),
            principal=STRIPE,
            reason=f"billing event {event_id}",
        )
        return Outcome("processed", "late payment opened")

    async def _payment_failed(self, event_id: str, invoice: dict[str, Any], created: datetime) -> Outcome:
        try:
            return await self._open(event_id, invoice, created)
        except AlreadyExists:
            pass
        try:
            await self.gateway.transition(
                KIND,
                invoice["id"],
                "record_failed_attempt",
                {
                    "attempt": int(invoice.get("attempt_count") or 1),
                    "failure_message": (invoice.get("last_finalization_error") or {}).get("message"),
                },
                principal=STRIPE,
                system_key=f"stripe:{event_id}",
            )
        except ValidationError as already:
            return Outcome("duplicate", already.message)
        return Outcome("processed", "failed attempt recorded")

    async def _overdue(self, event_id: str, invoice: dict[str, Any], created: datetime) -> Outcome:
        try:
            return await self._open(event_id, invoice, created)
        except AlreadyExists:
            return Outcome("duplicate", "the late payment is open already")

    async def _paid(self, event_id: str, invoice: dict[str, Any], created: datetime) -> Outcome:
        async with self.sessions() as session:
            snapshot = await get_snapshot(session, KIND, invoice["id"])
        if snapshot is None:
            return Outcome("ignored", "no late payment for this invoice")
        owed = LatePaymentData.model_validate(snapshot.data).owed
        if owed <= 0:
            return Outcome("ignored", "nothing is owed")
        await self.gateway.transition(
            KIND,
            invoice["id"],
            "record_payment",
            {"amount": str(owed), "reference": invoice.get("charge") or event_id},
            principal=STRIPE,
            system_key=f"stripe:{event_id}",
        )
        return Outcome("processed", "paid")

    async def _voided(self, event_id: str, invoice: dict[str, Any], created: datetime) -> Outcome:
        async with self.sessions() as session:
            if await get_snapshot(session, KIND, invoice["id"]) is None:
                return Outcome("ignored", "no late payment for this invoice")
        await self.gateway.transition(
            KIND,
            invoice["id"],
            "void",
            principal=STRIPE,
            reason="Voided in the billing provider",
            system_key=f"stripe:{event_id}",
        )
        return Outcome("processed", "voided")
