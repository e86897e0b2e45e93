"""Live updates: the time from a transition's answer to the subscriber's event for it.

One subscriber (graphql-transport-ws, as a browser would connect) follows every
opportunity; transitions are sent one after another (updateOpportunity over HTTP, each
answered before the next), and each event is matched to its transition by lifecycle and
sequence number. The stack's read model is SQLite, where the API polls the change feed
once a second: the floor is that poll, half a second at the median for changes arriving
at random moments (the ``poll_model`` figures); on PostgreSQL the API is notified at
commit instead.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import websockets
from websockets.typing import Subprotocol

from benchmarks.harness import UPDATE_OPPORTUNITY, Bench, GraphQLFailure
from benchmarks.stats import summary_ms
from services.settings import Settings

CHANGES = """subscription { lifecycleChanged(kind: "opportunity") {
  sequence lifecycle { id version } transition { seq } } }"""
# How long the last events may take to arrive once every transition was answered.
DRAIN_SECONDS = 30.0
# The bench's stack polls at the default interval (LIFECYCLES_CHANGE_FEED_POLL_SECONDS unset).
POLL_SECONDS: float = Settings.model_fields["change_feed_poll_seconds"].default


async def subscription_latency(b: Bench) -> dict[str, Any]:
    cfg = b.config
    ids = b.ids("sub", cfg.latency_lifecycles)
    for i, entity_id in enumerate(ids):
        await b.open_opportunity(entity_id, i)
    answered: dict[tuple[str, int], float] = {}
    arrived: dict[tuple[str, int], float] = {}
    # Measured transitions whose event has not arrived yet; set once all have.
    pending: set[tuple[str, int]] = set()
    all_arrived = asyncio.Event()
    url = b.stack.api_url.replace("http://", "ws://", 1) + "/graphql"
    async with websockets.connect(url, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        token = b.stack.graphql_headers()["authorization"]
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": token}}))
        ack = json.loads(await ws.recv())
        if ack["type"] != "connection_ack":
            raise GraphQLFailure(f"the subscription connection was refused: {ack}")
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": CHANGES}}))

        async def read() -> None:
            async for raw in ws:
                received = time.perf_counter()
                message = json.loads(raw)
                if message["type"] != "next" or message["payload"].get("errors"):
                    raise GraphQLFailure(f"the subscription failed: {message}")
                change = message["payload"]["data"]["lifecycleChanged"]
                if change["transition"] is not None:
                    key = (change["lifecycle"]["id"], change["transition"]["seq"])
                    arrived[key] = received
                    pending.discard(key)
                    if not pending:
                        all_arrived.set()

        reader = asyncio.create_task(read())
        try:
            measured: list[tuple[str, int]] = []
            for k in range(cfg.latency_warmup + cfg.latency_samples):
                entity_id = ids[k % len(ids)]
                data = await b.gql(UPDATE_OPPORTUNITY, {"input": {"id": entity_id, "name": f"live {k}"}})
                key = (entity_id, data["updateOpportunity"]["transition"]["seq"])
                answered[key] = time.perf_counter()
                if k >= cfg.latency_warmup:
                    measured.append(key)
                    if key not in arrived:
                        pending.add(key)
            if pending:
                all_arrived.clear()
                waiting = asyncio.create_task(all_arrived.wait())
                try:
                    async with asyncio.timeout(DRAIN_SECONDS):
                        await asyncio.wait([reader, waiting], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    waiting.cancel()
        finally:
            reader.cancel()
        if pending:
            raise GraphQLFailure(f"{len(pending)} transitions reached no subscriber")
    # An event can arrive before its answer has been read (a notification racing the HTTP
    # response): counted as no wait.
    latencies = [max(0.0, arrived[key] - answered[key]) for key in measured]
    return {
        "subscriber": summary_ms(latencies),
        "poll_model": {
            "interval_s": POLL_SECONDS,
            "p50_ms": round(POLL_SECONDS * 500, 1),
            "p99_ms": round(POLL_SECONDS * 990, 1),
        },
        "database": "sqlite",
        "what": (
            "from updateOpportunity's HTTP answer to the lifecycleChanged event of that transition, one "
            "subscriber over graphql-transport-ws following every opportunity, transitions one after another; "
            f"the read model is SQLite, polled once every {POLL_SECONDS:g} s (the model: a change arriving at a "
            "random moment waits half the interval at the median)"
        ),
    }
