"""Effect delivery through real channels: a local SMTP server, Slack and webhook receivers over HTTP.

A late payment with a compressed ladder (seconds instead of days, an admin's policy
override) produces every kind of effect: messages to people, Slack posts, and the
actions other systems perform (suspend access, cancel the subscription).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from services.channels import IDEMPOTENCY_HEADER, SIGNATURE_HEADER, sign, verify
from services.db import Sessions
from services.lifecycles import LifecycleGateway
from services.settings import Environment, Settings
from tests.channels.receivers import Receiver, smtp_server, webhook_receiver
from tests.conftest import ADMIN, TOKENS, Api, Stack
from tests.workflows.helpers import effects, eventually
from workflows.engine.types import workflow_id_for

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"/identity": "identity-secret-0123456789", "/billing": "billing-secret-0123456789"}
# What the whole ladder decides: 3 at day 0, 1 + 3 + 1 + 2 on the way to cancellation.
EFFECTS = 10
# Two seconds a step: a worker on time sends every notice (one catching up skips a notice
# whose own step is due too, which the crash test below expects).
FAST_LADDER = {
    "suspension_warning_after": "PT2S",
    "suspend_after": "PT4S",
    "cancellation_warning_after": "PT6S",
    "cancel_after": "PT8S",
}


@pytest.fixture
def smtp() -> Iterator[tuple[int, list[Any]]]:
    with smtp_server() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver(SECRETS) as r:
        yield r


@pytest.fixture
def settings(database_url: str, smtp: tuple[int, list[Any]], receiver: Receiver) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        task_queue=f"tq-{uuid.uuid4()}",
        api_tokens=TOKENS,
        role_contacts={"revenue_lead": "simon@example.com"},
        smtp={"host": "127.0.0.1", "port": smtp[0], "sender": "lifecycles@example.com"},
        slack_webhooks={"sales-alerts": f"{receiver.url}/slack/sales-alerts"},
        webhook_endpoints={
            "identity": {"url": f"{receiver.url}/identity", "secret": SECRETS["/identity"]},
            "billing": {"url": f"{receiver.url}/billing", "secret": SECRETS["/billing"]},
        },
        effect_routes={
            "notify": ["email", "slack"],
            "access.*": ["webhook:identity"],
            "subscription.*": ["webhook:billing"],
            "*": ["log"],
        },
    )


def invoice(entity_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "invoice_id": entity_id,
        "account": {"id": "acme", "name": "ACME"},
        "owner": "csm@example.com",
        "amount": "4200.00",
        "collection_method": "CARD",
        "failed_attempts": 1,
        "contact_emails": ["ap@acme.test"],
        "active_user_emails": ["dev@acme.test"],
        **fields,
    }


async def all_settled(sessions: Sessions, workflow_id: str, count: int) -> list[Any] | None:
    rows = await effects(sessions, workflow_id)
    # SKIPPED: a notice superseded by its own next step, when a worker caught up on the ladder late.
    done = len(rows) == count and all(r.status in ("DELIVERED", "FAILED", "SKIPPED") for r in rows)
    return rows if done else None


def by_subject(messages: list[Any]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for m in messages:
        out.setdefault(m["Subject"], []).append(m)
    return out


async def test_every_effect_reaches_its_channels_once(
    local_stack: Stack, api: Api, smtp: tuple[int, list[Any]], receiver: Receiver, entity_id: str
):
    workflow_id = workflow_id_for("late-payment", entity_id)
    await local_stack.gateway.open("late-payment", entity_id, invoice(entity_id), principal=ADMIN, policy=FAST_LADDER)
    rows = await eventually(lambda: all_settled(local_stack.sessions, workflow_id, EFFECTS), within=60)
    assert [r.name for r in rows] == [
        "owner_alerted",
        "risk_flag_on",
        "payment_requested",
        "suspension_tomorrow",
        "access_suspended",
        "access_suspended_notice",
        "renewals_at_risk",
        "cancellation_tomorrow",
        "subscription_cancelled",
        "cancelled_owner_notice",
    ]
    assert {r.status for r in rows} == {"DELIVERED"}

    mail = by_subject(smtp[1])
    alert = mail["Late payment: ACME owes 4,200.00 USD"]
    assert len(alert) == 1 and alert[0]["X-Envelope-To"] == "csm@example.com"
    assert mail["Payment overdue: invoice " + entity_id][0]["X-Envelope-To"] == "ap@acme.test"
    assert mail["Access to ACME has been suspended"][0]["X-Envelope-To"] == "dev@acme.test"
    assert all(len(messages) == 1 for messages in mail.values()), {k: len(v) for k, v in mail.items()}
    assert {m[IDEMPOTENCY_HEADER] for m in smtp[1]} == {r.id for r in rows if r.type == "notify"}

    slack = receiver.on("/slack/sales-alerts")
    assert len(slack) == 1 and slack[0].json["text"].startswith("*Late payment: ACME owes 4,200.00 USD*")

    suspend = receiver.accepted("/identity")
    assert len(receiver.on("/identity")) == len(suspend) == 1
    (request,) = suspend.values()
    assert request.json["type"] == "access.suspend"
    assert request.json["payload"]["reason"] == "Access revoked due to an unpaid balance."
    assert request.json["lifecycle"] == {"kind": "late-payment", "id": entity_id, "workflow_id": workflow_id, "seq": 3}
    cancel = receiver.accepted("/billing")
    assert [r.json["type"] for r in cancel.values()] == ["subscription.cancel"]

    data = await api.gql(
        """query($id: ID!) { latePayment(invoiceId: $id) { ... on LatePayment { state
        effects { name status deliveries { channel status attempts lastError } } } } }""",
        {"id": entity_id},
    )
    shown = {e["name"]: e for e in data["latePayment"]["effects"]}
    assert data["latePayment"]["state"] == "CANCELLED"
    assert [(d["channel"], d["status"]) for d in shown["owner_alerted"]["deliveries"]] == [
        ("email", "DELIVERED"),
        ("slack", "DELIVERED"),
    ]
    assert shown["access_suspended"]["deliveries"] == [
        {"channel": "webhook:identity", "status": "DELIVERED", "attempts": 1, "lastError": None}
    ]
    assert shown["risk_flag_on"]["deliveries"][0]["channel"] == "log"


async def test_a_failing_endpoint_is_retried_and_a_refusing_one_is_failed(
    local_stack: Stack, api: Api, receiver: Receiver, entity_id: str
):
    receiver.fail["/identity"] = [503]
    receiver.fail["/billing"] = [400]
    workflow_id = workflow_id_for("late-payment", entity_id)
    await local_stack.gateway.open("late-payment", entity_id, invoice(entity_id), principal=ADMIN, policy=FAST_LADDER)
    rows = await eventually(lambda: all_settled(local_stack.sessions, workflow_id, EFFECTS), within=90)
    status = {r.name: (r.status, r.attempts) for r in rows}
    assert status["access_suspended"] == ("DELIVERED", 2)
    assert status["subscription_cancelled"][0] == "FAILED"
    failed = next(r for r in rows if r.name == "subscription_cancelled")
    assert "webhook billing answered 400" in (failed.last_error or "")
    assert len(receiver.on("/identity")) == 2 and len(receiver.accepted("/identity")) == 1
    assert len(receiver.on("/billing")) == 1
    # The refusal of one endpoint did not hold back anything else.
    assert status["cancelled_owner_notice"] == ("DELIVERED", 1)

    # The error quotes the receiver's answer: operators see it, viewers do not.
    query = """query($id: ID!) { latePayment(invoiceId: $id) { ... on LatePayment {
        effects { name lastError deliveries { channel lastError } } } } }"""

    async def cancellation_errors(role: str) -> tuple[str | None, list[str | None]]:
        found = (await api.gql(query, {"id": entity_id}, role=role))["latePayment"]["effects"]
        effect = next(e for e in found if e["name"] == "subscription_cancelled")
        return effect["lastError"], [d["lastError"] for d in effect["deliveries"]]

    error, per_channel = await cancellation_errors("operator")
    assert "webhook billing answered 400" in (error or "") and "webhook billing answered 400" in (per_channel[0] or "")
    assert await cancellation_errors("admin") == (error, per_channel)
    assert await cancellation_errors("viewer") == (None, [None])


@pytest.fixture
def worker_env(local_env: WorkflowEnvironment, settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "LIFECYCLES_ENVIRONMENT": "test",
        "LIFECYCLES_TEMPORAL_ADDRESS": local_env.client.service_client.config.target_host,
        "LIFECYCLES_DATABASE_URL": settings.database_url,
        "LIFECYCLES_TASK_QUEUE": settings.task_queue,
        "LIFECYCLES_SMTP": settings.smtp.model_dump_json() if settings.smtp else "",
        "LIFECYCLES_SLACK_WEBHOOKS": json.dumps({k: v.get_secret_value() for k, v in settings.slack_webhooks.items()}),
        "LIFECYCLES_WEBHOOK_ENDPOINTS": json.dumps(
            {
                k: {"url": str(v.url), "secret": v.secret.get_secret_value()}
                for k, v in settings.webhook_endpoints.items()
            }
        ),
        "LIFECYCLES_EFFECT_ROUTES": json.dumps(settings.effect_routes),
        "LIFECYCLES_ROLE_CONTACTS": json.dumps(settings.role_contacts),
        "LIFECYCLES_WORKER_METRICS_ADDRESS": "127.0.0.1:0",
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.worker"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


async def polling(log: Path) -> bool:
    """The worker process has started polling (importing and connecting can take a while on a busy machine)."""
    return log.exists() and "worker polling" in log.read_text()


async def test_an_effect_is_delivered_once_per_endpoint_when_the_worker_dies_mid_delivery(
    local_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
    receiver: Receiver,
    smtp: tuple[int, list[Any]],
    worker_env: dict[str, str],
    entity_id: str,
    tmp_path: Path,
):
    receiver.hang_once["/identity"] = 30  # the suspension webhook hangs: the worker dies meanwhile
    # What this test proves is exactly-once delivery across the death, not how soon the dead
    # worker's queued tasks move on: that is its sticky timeout, whose default's price is
    # documented (docs/operations.md); Temporal's own 10 s keeps this test short.
    worker_env = {**worker_env, "LIFECYCLES_WORKER_STICKY_TIMEOUT_SECONDS": "10"}
    gateway = LifecycleGateway(local_env.client, settings, sessions)
    workflow_id = workflow_id_for("late-payment", entity_id)
    first = start_worker(worker_env, tmp_path / "worker-1.log")
    second = None
    try:
        await eventually(lambda: polling(tmp_path / "worker-1.log"), within=120)
        await gateway.open("late-payment", entity_id, invoice(entity_id), principal=ADMIN, policy=FAST_LADDER)
        await eventually(lambda: _event_set(receiver), within=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = start_worker(worker_env, tmp_path / "worker-2.log")
        rows = await eventually(lambda: all_settled(sessions, workflow_id, EFFECTS), within=120)
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=10)
    # While no worker ran, the ladder's next steps came due together: the second worker sent
    # the steps and skipped the notices they superseded.
    superseded = {"suspension_tomorrow", "cancellation_tomorrow"}
    assert all(r.status == "DELIVERED" or (r.status == "SKIPPED" and r.name in superseded) for r in rows)
    identity = receiver.on("/identity")
    assert len(identity) == 2, "the hung delivery is sent again by the new worker"
    assert identity[0].headers[IDEMPOTENCY_HEADER] == identity[1].headers[IDEMPOTENCY_HEADER]
    assert len(receiver.accepted("/identity")) == 1
    # Channels delivered before the crash were not sent again.
    assert len(receiver.on("/slack/sales-alerts")) == 1
    assert len(receiver.on("/billing")) == 1
    assert len({m[IDEMPOTENCY_HEADER] for m in smtp[1]}) == len(smtp[1])


async def test_sigterm_lets_a_hung_delivery_finish_within_the_grace_period(
    local_env: WorkflowEnvironment,
    settings: Settings,
    sessions: Sessions,
    receiver: Receiver,
    worker_env: dict[str, str],
    entity_id: str,
    tmp_path: Path,
):
    receiver.hang_once["/identity"] = 3  # the suspension webhook answers slowly; SIGTERM comes meanwhile
    gateway = LifecycleGateway(local_env.client, settings, sessions)
    workflow_id = workflow_id_for("late-payment", entity_id)
    grace = 60
    worker = start_worker({**worker_env, "LIFECYCLES_WORKER_SHUTDOWN_GRACE_SECONDS": str(grace)}, tmp_path / "w.log")
    try:
        await eventually(lambda: polling(tmp_path / "w.log"), within=120)
        await gateway.open("late-payment", entity_id, invoice(entity_id), principal=ADMIN, policy=FAST_LADDER)
        await eventually(lambda: _event_set(receiver), within=60)
        worker.send_signal(signal.SIGTERM)
        # A hang detector, not a timing goal: the worker exits once the delivery is done.
        assert worker.wait(timeout=grace) == 0, (tmp_path / "w.log").read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    suspension = [r for r in await effects(sessions, workflow_id) if r.type == "access.suspend"]
    assert [r.status for r in suspension] == ["DELIVERED"], (tmp_path / "w.log").read_text()
    assert len(receiver.on("/identity")) == 1


async def _event_set(receiver: Receiver) -> bool:
    return receiver.hanging.is_set()


def test_signatures_are_checked_with_time_and_body():
    body = b'{"id":"x"}'
    now = datetime.now(UTC)
    header = sign("s" * 20, int(now.timestamp()), body)
    assert verify("s" * 20, header, body)
    assert not verify("t" * 20, header, body)
    assert not verify("s" * 20, header, body + b" ")
    stale = sign("s" * 20, int((now - timedelta(minutes=10)).timestamp()), body)
    assert not verify("s" * 20, stale, body)
    assert not verify("s" * 20, "garbage", body)
    assert SIGNATURE_HEADER == "Lifecycles-Signature"
