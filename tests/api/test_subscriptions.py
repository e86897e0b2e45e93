"""Subscriptions at the protocol level: a real WebSocket client (graphql-transport-ws) against
uvicorn on a free port, a real worker and Temporal dev server, on SQLite and on PostgreSQL.

Every change reaches a matching subscriber once (a mutation, a timer firing, a billing
event); a reconnect with the last sequence seen misses nothing; a viewer subscribes, an
anonymous or unknown token is refused; a subscriber that stops reading is dropped with a
reason and resumes from the feed; bad arguments are refused with typed errors.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from services.api import create_app
from services.change_feed import ChangeFeed
from services.db import create_engine, session_factory, upgrade
from services.settings import Settings
from tests.api.test_billing_events import SECRET, event, stripe_signature
from tests.api.test_opportunity_api import OPEN, RECORD
from tests.conftest import TOKEN, Stack
from tests.postgres import PostgresServer, free_port

pytestmark = pytest.mark.timeout(180)

CHANGES = """subscription Changes($kind: String, $id: ID, $accountId: ID, $owner: String, $after: Int) {
  lifecycleChanged(kind: $kind, id: $id, accountId: $accountId, owner: $owner, afterSequence: $after) {
    sequence
    lifecycle { kind id stateName version accountId owner }
    transition { seq trigger actor toState }
  }
}"""
# The API under test reads the feed on SQLite this often (LIFECYCLES_CHANGE_FEED_POLL_SECONDS;
# once a second by default), so that a change reaches a subscriber in a tenth of a second.
POLL_SECONDS = 0.1
# Long enough for any change to reach a subscriber: fifteen polls on SQLite, where
# PostgreSQL's reader is notified at once.
QUIET_SECONDS = 1.5
EVENT_TIMEOUT = 30.0


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, migrated_template: Path, tmp_path: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "readmodel.db"
        path.write_bytes(migrated_template.read_bytes())
        return f"sqlite+aiosqlite:///{path}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.create_database(f"subs_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    return url


class Server:
    def __init__(self, http: httpx.AsyncClient, port: int, settings: Settings) -> None:
        self.http = http
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/graphql"
        self.settings = settings

    async def call(self, query: str, variables: dict[str, Any], role: str = "operator") -> dict[str, Any]:
        response = await self.http.post(
            "/graphql",
            json={"query": query, "variables": {"input": variables}},
            headers={"authorization": f"Bearer {TOKEN[role]}"},
        )
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        result: dict[str, Any] = next(iter(body["data"].values()))
        assert result["__typename"] == "OpportunityChanged", result
        return result

    async def billing_event(self, payload: bytes) -> None:
        response = await self.http.post(
            "/billing/stripe/events",
            content=payload,
            headers={"content-type": "application/json", "stripe-signature": stripe_signature(payload)},
        )
        assert response.json()["outcome"] == "processed", response.text


@asynccontextmanager
async def serving(stack: Stack, *, send_buffer: int | None = None, **settings: Any) -> AsyncIterator[Server]:
    """The API on uvicorn; ``send_buffer`` shrinks its sockets' send buffers (accepted sockets
    inherit the listening socket's), so that a client that stops reading is felt soon."""
    configured = stack.settings.model_copy(
        update={"stripe_webhook_secret": SecretStr(SECRET), "change_feed_poll_seconds": POLL_SECONDS, **settings}
    )
    listener = socket.socket()
    if send_buffer is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    listener.bind(("127.0.0.1", free_port()))
    port = listener.getsockname()[1]
    app = create_app(configured, client=stack.client)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws_ping_interval=None))
    running = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        assert not running.done(), "uvicorn did not start"
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            yield Server(http, port, configured)
    finally:
        server.should_exit = True
        await running
        listener.close()


@pytest.fixture
async def server(local_stack: Stack) -> AsyncIterator[Server]:
    async with serving(local_stack) as running:
        yield running


async def connect(
    server: Server, *, payload: dict[str, Any] | None = None, headers: dict[str, str] | None = None, **options: Any
) -> ClientConnection:
    """A graphql-transport-ws connection initialised with ``payload`` (by default with the
    viewer's token); the server's answer to it is left to read."""
    ws = await websockets.connect(
        server.url, subprotocols=[Subprotocol("graphql-transport-ws")], additional_headers=headers, **options
    )
    init = {"Authorization": f"Bearer {TOKEN['viewer']}"} if payload is None else payload
    await ws.send(json.dumps({"type": "connection_init", "payload": init}))
    return ws


async def message(ws: ClientConnection, within: float = EVENT_TIMEOUT) -> dict[str, Any]:
    async with asyncio.timeout(within):
        received: dict[str, Any] = json.loads(await ws.recv())
    return received


async def subscribe(ws: ClientConnection, operation: str = "1", query: str = CHANGES, **variables: Any) -> None:
    await ws.send(
        json.dumps({"id": operation, "type": "subscribe", "payload": {"query": query, "variables": variables}})
    )


@asynccontextmanager
async def subscribed(server: Server, **variables: Any) -> AsyncIterator[ClientConnection]:
    ws = await connect(server)
    try:
        assert (await message(ws))["type"] == "connection_ack"
        await subscribe(ws, **variables)
        yield ws
    finally:
        await ws.close()


async def changes_until(
    ws: ClientConnection, done: Callable[[list[dict[str, Any]]], bool], *, then_quiet: bool = True
) -> list[dict[str, Any]]:
    """The events received until ``done`` holds of them; with ``then_quiet``, nothing more may
    arrive within QUIET_SECONDS (each change reaches the subscriber once)."""
    events: list[dict[str, Any]] = []
    while not done(events):
        received = await message(ws)
        assert received["type"] == "next" and "errors" not in received["payload"], received
        events.append(received["payload"]["data"]["lifecycleChanged"])
    if then_quiet:
        with pytest.raises(TimeoutError):
            extra = await message(ws, QUIET_SECONDS)
            events.append(extra)
    return events


def transitions(events: list[dict[str, Any]]) -> list[tuple[str, str, int, str]]:
    return [
        (e["lifecycle"]["kind"], e["lifecycle"]["id"], e["transition"]["seq"], e["transition"]["trigger"])
        for e in events
        if e["transition"] is not None
    ]


def deal(entity_id: str, account: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": entity_id,
        "name": "ACME analytics",
        "account": {"id": account, "name": "ACME"},
        "closeDate": "2027-03-31",
        "amount": "60000",
        **fields,
    }


def criterion(entity_id: str, key: str) -> dict[str, Any]:
    return {"id": entity_id, "stage": "PROBLEM_AGREEMENT", "criterion": key, "evidence": "discovery call notes"}


def late_payment(invoice_id: str, account: str) -> bytes:
    return event("invoice.payment_failed", invoice_id, metadata={"account_id": account, "owner": "csm@example.com"})


async def refusal(ws: ClientConnection, operation: str) -> list[dict[str, Any]]:
    """The errors an operation is refused with: an ``error`` message before it starts, or
    its only ``next`` (with errors and no data) followed by ``complete``."""
    answer = await message(ws)
    assert answer["id"] == operation, answer
    if answer["type"] == "error":
        errors: list[dict[str, Any]] = answer["payload"]
        return errors
    assert answer["type"] == "next" and answer["payload"]["data"] is None, answer
    assert await message(ws) == {"id": operation, "type": "complete"}
    errors = answer["payload"]["errors"]
    return errors


# ---- every change once ---------------------------------------------------------------------------


async def test_a_mutation_a_timer_and_a_billing_event_each_reach_a_subscriber_once(server: Server, entity_id: str):
    account = f"acct-{entity_id}"
    quick = f"{entity_id}-quick"
    async with subscribed(server, accountId=account) as ws:
        await server.call(OPEN, deal(entity_id, account))
        await server.call(RECORD, criterion(entity_id, "quantified_pain"))
        # A deal whose silence ladder runs in seconds: two nudges (effects, no transition),
        # then its timer closes it as lost.
        ladder = {
            "silence_first_nudge_after": "PT1S",
            "silence_second_nudge_after": "PT1S",
            "silence_close_after": "PT1S",
        }
        await server.call(OPEN, deal(quick, account, policy=ladder), role="admin")
        await server.billing_event(late_payment(f"in_{entity_id}", account))
        events = await changes_until(ws, lambda seen: ("opportunity", quick, 2, "close_lost") in transitions(seen))

    assert sorted(transitions(events)) == sorted(
        [
            ("opportunity", entity_id, 1, "open"),
            ("opportunity", entity_id, 2, "record_criterion"),
            ("opportunity", quick, 1, "open"),
            ("opportunity", quick, 2, "close_lost"),
            ("late-payment", f"in_{entity_id}", 1, "open"),
        ]
    )
    closed = next(e for e in events if e["transition"] and e["transition"]["trigger"] == "close_lost")
    assert closed["transition"]["actor"] == "timer"
    assert closed["lifecycle"]["stateName"] == "CLOSED_LOST"
    nudges = [e for e in events if e["transition"] is None]
    assert [e["lifecycle"]["id"] for e in nudges] == [quick, quick]
    sequences = [e["sequence"] for e in events]
    assert sequences == sorted(set(sequences))
    assert {e["lifecycle"]["accountId"] for e in events} == {account}


async def test_the_arguments_select_the_changes(server: Server, entity_id: str):
    account = f"acct-{entity_id}"
    async with (
        subscribed(server, kind="opportunity", id=entity_id) as by_id,
        subscribed(server, kind="late-payment", accountId=account) as by_kind,
        subscribed(server, owner="csm@example.com", accountId=account) as by_owner,
        subscribed(server, owner="nobody@example.com", accountId=account) as nobody,
    ):
        await server.call(OPEN, deal(entity_id, account))
        await server.call(OPEN, deal(f"{entity_id}-other", account))
        await server.billing_event(late_payment(f"in_{entity_id}", account))
        # The four subscribers are read side by side: their quiet windows overlap.
        received = await asyncio.gather(
            *(changes_until(ws, lambda seen: len(seen) == 1) for ws in (by_id, by_kind, by_owner)),
            changes_until(nobody, lambda seen: True),
        )
    assert [transitions(events) for events in received] == [
        [("opportunity", entity_id, 1, "open")],
        [("late-payment", f"in_{entity_id}", 1, "open")],
        [("late-payment", f"in_{entity_id}", 1, "open")],
        [],
    ]


# ---- resuming ------------------------------------------------------------------------------------


async def test_a_reconnect_with_the_last_sequence_misses_nothing(server: Server, entity_id: str):
    account = f"acct-{entity_id}"
    async with subscribed(server, accountId=account) as ws:
        await server.call(OPEN, deal(entity_id, account))
        first = await changes_until(ws, lambda seen: len(seen) == 1, then_quiet=False)
    last = first[-1]["sequence"]

    # Changes while nobody listens, to this account and to another one.
    for key in ("quantified_pain", "cost_of_inaction"):
        await server.call(RECORD, criterion(entity_id, key))
    await server.call(OPEN, deal(f"{entity_id}-elsewhere", f"{account}-2"))

    async with subscribed(server, accountId=account, after=last) as ws:
        missed = await changes_until(ws, lambda seen: len(seen) == 2, then_quiet=False)
        await server.call(RECORD, criterion(entity_id, "problem_acknowledged"))
        live = await changes_until(ws, lambda seen: len(seen) == 1)
    assert [t[2:] for t in transitions(missed)] == [(2, "record_criterion"), (3, "record_criterion")]
    assert [t[2:] for t in transitions(live)] == [(4, "record_criterion")]
    sequences = [e["sequence"] for e in missed + live]
    assert sequences == sorted(sequences) and sequences[0] > last

    # From the newest sequence: only what comes next, which is nothing.
    async with subscribed(server, accountId=account, after=sequences[-1]) as ws:
        with pytest.raises(TimeoutError):
            await message(ws, QUIET_SECONDS)


class StalledClient:
    """A graphql-transport-ws client on a plain socket with a small receive buffer, which
    reads only when asked (websockets' sans-I/O protocol): the asyncio clients read ahead
    into memory, so they never stop the server from sending."""

    def __init__(self, server: Server) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", server.port))
        self.sock.setblocking(False)
        self.protocol = ClientProtocol(
            parse_uri(server.url), subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None
        )
        self.protocol.send_request(self.protocol.connect())
        self.received: list[dict[str, Any]] = []

    async def _flush(self) -> None:
        for data in self.protocol.data_to_send():
            if data:
                await asyncio.get_running_loop().sock_sendall(self.sock, data)

    async def send(self, message: dict[str, Any]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        await self._flush()

    async def read(self) -> None:
        """Read one chunk, keeping the text messages it completes."""
        async with asyncio.timeout(EVENT_TIMEOUT):
            data = await asyncio.get_running_loop().sock_recv(self.sock, 65536)
        if data:
            self.protocol.receive_data(data)
        else:
            self.protocol.receive_eof()
        for frame in self.protocol.events_received():
            if isinstance(frame, Frame) and frame.opcode is Opcode.TEXT:
                self.received.append(json.loads(frame.data))
        await self._flush()

    async def open(self) -> None:
        """The handshake, then connection_init with the viewer's token, until acknowledged."""
        await self._flush()
        while self.protocol.state is State.CONNECTING:
            await self.read()
        await self.send({"type": "connection_init", "payload": {"Authorization": f"Bearer {TOKEN['viewer']}"}})
        while not self.received:
            await self.read()
        assert self.received == [{"type": "connection_ack"}]

    def close(self) -> None:
        self.sock.close()


ROUNDS = 25


async def dropped_count(server: Server) -> float:
    """The API's count of dropped subscribers, from its Prometheus metrics."""
    metrics = (await server.http.get("/metrics")).text
    families = {f.name: f for f in text_string_to_metric_families(metrics)}
    return sum(
        sample.value for sample in families["lifecycles_subscribers_dropped"].samples if sample.name.endswith("_total")
    )


async def test_a_subscriber_that_stops_reading_is_dropped_then_resumes(local_stack: Stack, entity_id: str):
    account = f"acct-{entity_id}"
    # The queue holds more than a poll round brings (SQLite hands out the changes since the
    # last poll at once), so only a blocked socket fills it; the server's socket buffer is small too.
    async with serving(local_stack, send_buffer=4096, subscription_queue_size=30) as server:
        dropped_before = await dropped_count(server)
        client = StalledClient(server)
        try:
            await client.open()
            # Events that grow: each carries the history, with every criterion's evidence.
            growing = CHANGES.replace("accountId owner", "accountId owner history(first: 50) { nodes { params } }")
            await client.send(
                {"id": "1", "type": "subscribe", "payload": {"query": growing, "variables": {"accountId": account}}}
            )
            await server.call(OPEN, deal(entity_id, account))
            keys = ("quantified_pain", "cost_of_inaction", "problem_acknowledged")
            for round_ in range(ROUNDS):
                for key in keys:
                    evidence = f"notes, round {round_} " + "x" * 480
                    await server.call(RECORD, {**criterion(entity_id, key), "evidence": evidence})
            # Now the client reads what was sent before it was dropped, then the close.
            while client.protocol.close_rcvd is None:
                await client.read()
        finally:
            client.close()
        close = client.protocol.close_rcvd
        assert close.code == 1013, close
        assert close.reason.startswith("Too slow: more than 30 changes unread.")
        assert "afterSequence" in close.reason
        received = [
            m["payload"]["data"]["lifecycleChanged"]
            for m in client.received
            if m["type"] == "next" and m["payload"].get("data")
        ]
        total = 1 + len(keys) * ROUNDS
        assert 0 < len(received) < total
        assert await dropped_count(server) == dropped_before + 1

        # Resuming from the last sequence received gives the rest, in order.
        async with subscribed(server, accountId=account, after=received[-1]["sequence"]) as again:
            rest = await changes_until(again, lambda seen: len(received) + len(seen) == total)
        versions = [e["transition"]["seq"] for e in received + rest]
        assert versions == list(range(1, total + 1))


# ---- who may subscribe, and with what ------------------------------------------------------------


async def test_a_viewer_subscribes_and_anonymous_or_unknown_tokens_are_refused(server: Server):
    # The token in connection_init (as every other test sends it), or in the upgrade's header.
    ws = await connect(server, payload={}, headers={"Authorization": f"Bearer {TOKEN['viewer']}"})
    assert (await message(ws))["type"] == "connection_ack"
    await ws.close()

    for payload, headers in (
        ({}, None),
        ({"Authorization": "Bearer not-a-token"}, None),
        ({"Authorization": TOKEN["viewer"]}, None),  # without the Bearer scheme
        ({"Authorization": "Bearer not-a-token"}, {"Authorization": f"Bearer {TOKEN['viewer']}"}),
        ({}, {"Authorization": "Bearer not-a-token"}),
    ):
        ws = await connect(server, payload=payload, headers=headers)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await message(ws)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4403, "Forbidden"), (payload, headers)

    # Subscribing before connection_init is refused by the protocol itself.
    ws = await websockets.connect(server.url, subprotocols=[Subprotocol("graphql-transport-ws")])
    await subscribe(ws)
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await message(ws)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    # Over HTTP, a subscription is not served.
    response = await server.http.post(
        "/graphql", json={"query": CHANGES}, headers={"authorization": f"Bearer {TOKEN['viewer']}"}
    )
    assert response.status_code == 400 or response.json().get("errors"), response.text


async def test_bad_arguments_are_refused_with_typed_errors(server: Server, entity_id: str):
    account = f"acct-{entity_id}"
    await server.call(OPEN, deal(entity_id, account))
    await server.call(RECORD, criterion(entity_id, "quantified_pain"))
    ws = await connect(server)
    assert (await message(ws))["type"] == "connection_ack"
    for index, (variables, code) in enumerate(
        [
            ({"kind": "spaceship"}, "NotFound"),
            ({"after": -1}, "ValidationError"),
            ({"after": 2**31 - 1}, "ValidationError"),
            ({"id": "nul\x00id"}, "ValidationError"),
            ({"after": "seven"}, "BAD_USER_INPUT"),
        ]
    ):
        await subscribe(ws, str(index), **variables)
        errors = await refusal(ws, str(index))
        assert errors[0]["extensions"]["code"] == code, (variables, errors)
    # Queries and mutations are served over HTTP only.
    await subscribe(ws, "query", query="{ lifecycleMachines { kind } }")
    errors = await refusal(ws, "query")
    assert errors[0]["extensions"]["code"] == "BAD_REQUEST", errors
    assert errors[0]["message"].startswith("queries are not allowed: WebSocket serves subscriptions"), errors
    await ws.close()

    # A resume from changes the feed no longer keeps (pruned after its retention period).
    engine = create_engine(server.settings.database_url)
    try:
        pruned = await ChangeFeed(session_factory(engine), server.settings).prune(datetime.now(UTC) + timedelta(days=2))
    finally:
        await engine.dispose()
    assert pruned >= 1
    ws = await connect(server)
    assert (await message(ws))["type"] == "connection_ack"
    await subscribe(ws, after=0)
    error = (await refusal(ws, "1"))[0]
    assert error["extensions"]["code"] == "ChangesPruned" and error["extensions"]["oldest_sequence"] > 1
    assert "no longer kept" in error["message"]
    await ws.close()
