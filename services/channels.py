"""Where effects go: the service log, email over SMTP, Slack incoming webhooks, and signed
outbound webhooks for the systems that act on them (billing, identity, CRM).

A channel gets an outbox row and either delivers it, raises ``PermanentDeliveryError``
(retrying cannot help: a 4xx answer, no address to send to...), or raises anything else
to be retried by Temporal with backoff. Every request carries the effect id as its
idempotency key, so a receiver can drop the repeat a crash between sending and
recording may cause.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import smtplib
import time
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Protocol

import httpx

from services.models import EffectRow
from services.settings import SmtpSettings, WebhookEndpoint
from services.telemetry import email_span

logger = logging.getLogger("lifecycles.channels")

SIGNATURE_HEADER = "Lifecycles-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"


class PermanentDeliveryError(Exception):
    """The effect can never be delivered as it is (unknown type, bad recipient, a 4xx answer...)."""


class Channel(Protocol):
    async def send(self, effect: EffectRow) -> None: ...


def resolve(recipients: list[str], role_contacts: dict[str, str]) -> list[str]:
    """Recipients with ``role:<name>`` replaced by the configured contact, when there is one."""
    return [role_contacts.get(r[5:], r) if r.startswith("role:") else r for r in recipients]


def subject_and_body(effect: EffectRow) -> tuple[str, str]:
    payload = effect.payload
    subject = payload.get("subject") or f"{effect.type}: {effect.name}"
    body = payload.get("body") or json.dumps(payload, indent=2, sort_keys=True, default=str)
    return str(subject), str(body)


class LogChannel:
    """Writes each effect to the service log: the default channel, needing no setup."""

    def __init__(self, role_contacts: dict[str, str] | None = None) -> None:
        self.role_contacts = role_contacts or {}

    async def send(self, effect: EffectRow) -> None:
        subject, _ = subject_and_body(effect)
        logger.info(
            "effect %s %s/%s to %s: %s",
            effect.id,
            effect.type,
            effect.name,
            ", ".join(resolve(effect.recipients, self.role_contacts)) or "-",
            subject,
        )


class EmailChannel:
    """One message per effect to its email recipients (owners, roles with an email contact)."""

    def __init__(self, smtp: SmtpSettings, role_contacts: dict[str, str]) -> None:
        self.smtp = smtp
        self.role_contacts = role_contacts

    def addresses(self, effect: EffectRow) -> list[str]:
        resolved = resolve([r for r in effect.recipients if not r.startswith("channel:")], self.role_contacts)
        return list(dict.fromkeys(r for r in resolved if "@" in r and not r.startswith("role:")))

    async def send(self, effect: EffectRow) -> None:
        to = self.addresses(effect)
        if not to:
            return
        subject, body = subject_and_body(effect)
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        # The effect id in the Message-ID lets mail systems drop a duplicate send.
        message["Message-ID"] = make_msgid(
            idstring=hashlib.sha256(effect.id.encode()).hexdigest()[:24], domain="lifecycles"
        )
        message[IDEMPOTENCY_HEADER] = effect.id
        message.set_content(body)
        with email_span(len(to)):
            await asyncio.to_thread(self._send, message)

    def _send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_seconds) as client:
                if self.smtp.starttls:
                    client.starttls()
                if self.smtp.username and self.smtp.password:
                    client.login(self.smtp.username, self.smtp.password.get_secret_value())
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentDeliveryError(f"recipients refused: {sorted(exc.recipients)}") from exc


class SlackChannel:
    """Posts to the incoming webhook of each ``channel:<name>`` recipient."""

    def __init__(self, webhooks: dict[str, str], http: httpx.AsyncClient) -> None:
        self.webhooks = webhooks
        self.http = http

    async def send(self, effect: EffectRow) -> None:
        channels = [r[8:] for r in effect.recipients if r.startswith("channel:")]
        subject, body = subject_and_body(effect)
        people = [r for r in effect.recipients if not r.startswith("channel:")]
        text = f"*{subject}*\n{body}" + (f"\n_For: {', '.join(people)}_" if people else "")
        for name in channels:
            url = self.webhooks.get(name) or self.webhooks.get("default")
            if url is None:
                logger.info("effect %s: no Slack webhook for #%s", effect.id, name)
                continue
            response = await self.http.post(url, json={"text": text}, headers={IDEMPOTENCY_HEADER: effect.id})
            _raise_for(response, f"Slack #{name}")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Lifecycles-Signature`` header value: HMAC-SHA256 of ``<timestamp>.<body>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance_seconds: int = 300, now: float | None = None) -> bool:
    """For receivers: the signature matches and is recent (constant-time comparison)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


class WebhookChannel:
    """POSTs the effect as JSON to one endpoint, signed with that endpoint's secret."""

    def __init__(self, name: str, endpoint: WebhookEndpoint, http: httpx.AsyncClient) -> None:
        self.name = name
        self.endpoint = endpoint
        self.http = http

    async def send(self, effect: EffectRow) -> None:
        body = json.dumps(webhook_body(effect), separators=(",", ":"), sort_keys=True, default=str).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.endpoint.secret.get_secret_value(), int(time.time()), body),
            IDEMPOTENCY_HEADER: effect.id,
        }
        response = await self.http.post(
            str(self.endpoint.url), content=body, headers=headers, timeout=self.endpoint.timeout_seconds
        )
        _raise_for(response, f"webhook {self.name}")


def webhook_body(effect: EffectRow) -> dict[str, Any]:
    return {
        "id": effect.id,
        "type": effect.type,
        "name": effect.name,
        "created_at": effect.created_at.isoformat(),
        "lifecycle": {
            "kind": effect.kind,
            "id": effect.entity_id,
            "workflow_id": effect.workflow_id,
            "seq": effect.seq,
        },
        "recipients": effect.recipients,
        "payload": effect.payload,
    }


def _raise_for(response: httpx.Response, what: str) -> None:
    if response.is_success:
        return
    message = f"{what} answered {response.status_code}: {response.text[:200]}"
    # A client error will not go away by retrying, except a timeout or a rate limit.
    if 400 <= response.status_code < 500 and response.status_code not in (408, 409, 425, 429):
        raise PermanentDeliveryError(message)
    raise RuntimeError(message)
