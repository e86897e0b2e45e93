"""Fault injection: a steady load of transitions while the worker, the API and the Temporal
dev server are killed with SIGKILL in turn (the launcher starts each again).

Every request carries its own idempotency key; a client that gets no definitive answer
(connection refused, UNAVAILABLE) sends the same request again, as a real client should.
Afterwards: every mutation answered with success is in the history exactly once, at
the sequence number its answer gave; none answered with a refusal is; and the
reconciliation command finds the read model equal to the workflows' own state.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.launcher import ROOT, TOKEN, LaunchedStack, launched_stack

pytestmark = pytest.mark.e2e

LOAD_SECONDS = 48
CLIENTS = 4
DEALS_PER_CLIENT = 2
KILL_EVERY_SECONDS = 8

OPEN = """mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) { __typename } }"""
RESULT = "__typename ... on OpportunityChanged { transition { seq } }"
OPERATIONS = [
    # (mutation, input builder, answered with success?)
    ("recordCustomerReply", "CustomerReplyInput", lambda n: {"note": f"reply {n}"}, True),
    ("updateOpportunity", "UpdateOpportunityInput", lambda n: {"amount": str(1000 + n)}, True),
    ("advanceOpportunity", "AdvanceOpportunityInput", lambda n: {}, False),  # exit criteria unmet
    (
        "moveOpportunityBack",
        "MoveOpportunityBackInput",
        lambda n: {"toStage": "VENDOR_APPROVAL", "reason": "x"},
        False,
    ),  # not an earlier stage
    ("updateOpportunity", "UpdateOpportunityInput", lambda n: {"amount": "-1"}, False),  # invalid amount
]
HISTORY = """query($id: ID!, $after: String) { opportunity(id: $id) { ... on Opportunity { version stage
  history(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { seq idempotencyKey } } }
} } }"""


@dataclass
class Tally:
    succeeded: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (deal, seq)
    refused: dict[str, str] = field(default_factory=dict)  # key -> deal
    retries: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def send_until_answered(http: httpx.Client, url: str, body: dict[str, Any], tally: Tally) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        try:
            response = http.post(url, json=body, headers={"authorization": f"Bearer {TOKEN['operator']}"})
            data = response.json()
            codes = {e.get("extensions", {}).get("code") for e in data.get("errors") or []}
            if response.status_code == 200 and "UNAVAILABLE" not in codes:
                assert not data.get("errors"), data
                return data["data"]
        except (httpx.HTTPError, ValueError):
            pass
        with tally.lock:
            tally.retries += 1
        assert time.monotonic() < deadline, f"no definitive answer for {body}"
        time.sleep(0.3)


def client_loop(stack: LaunchedStack, deals: list[str], stop: threading.Event, tally: Tally, seed: int) -> None:
    rng = random.Random(seed)
    url = f"{stack.url}/graphql"
    with httpx.Client(timeout=30) as http:
        n = 0
        while not stop.is_set():
            n += 1
            deal = rng.choice(deals)
            name, input_type, build, succeeds = rng.choice(OPERATIONS)
            key = f"{deal}:{n}:{uuid.uuid4().hex[:6]}"
            query = f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {RESULT} }} }}"
            variables = {"input": {"id": deal, "idempotencyKey": key, **build(n)}}
            data = send_until_answered(http, url, {"query": query, "variables": variables}, tally)
            answer = data[name]
            with tally.lock:
                if answer["__typename"] == "OpportunityChanged":
                    assert succeeds, (name, variables, answer)
                    tally.succeeded[key] = (deal, answer["transition"]["seq"])
                else:
                    assert not succeeds, (name, variables, answer)
                    tally.refused[key] = deal


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LaunchedStack]:
    with launched_stack(tmp_path) as s:
        yield s


def history(stack: LaunchedStack, deal: str) -> tuple[int, list[tuple[int, str | None]]]:
    rows, after, version = [], None, 0
    while True:
        found = stack.gql(HISTORY, {"id": deal, "after": after}, role="viewer")["opportunity"]
        version = found["version"]
        rows += [(e["node"]["seq"], e["node"]["idempotencyKey"]) for e in found["history"]["edges"]]
        if not found["history"]["pageInfo"]["hasNextPage"]:
            return version, rows
        after = found["history"]["pageInfo"]["endCursor"]


def test_nothing_acknowledged_is_lost_or_doubled_and_nothing_refused_is_applied(stack: LaunchedStack):
    deals = [f"fault-{c}-{d}" for c in range(CLIENTS) for d in range(DEALS_PER_CLIENT)]
    for deal in deals:
        stack.gql(
            OPEN,
            {
                "input": {
                    "id": deal,
                    "name": deal,
                    "account": {"id": "acme", "name": "ACME"},
                    "closeDate": "2027-03-31",
                    "amount": "1000",
                }
            },
        )
    tally, stop = Tally(), threading.Event()
    clients = [
        threading.Thread(target=client_loop, args=(stack, deals[c::CLIENTS], stop, tally, c), daemon=True)
        for c in range(CLIENTS)
    ]
    for thread in clients:
        thread.start()
    crashes: list[str] = []
    victims = ["worker", "api", "temporal"]
    started = time.monotonic()
    while time.monotonic() - started < LOAD_SECONDS:
        time.sleep(KILL_EVERY_SECONDS)
        victim = victims[len(crashes) % len(victims)]
        stack.kill(victim)
        crashes.append(victim)
    stop.set()
    for thread in clients:
        thread.join(timeout=180)
        assert not thread.is_alive()
    stack.wait_ready()

    for deal in deals:
        version, rows = history(stack, deal)
        assert [seq for seq, _ in rows] == list(range(1, version + 1)), f"{deal}: gaps or repeats"
        keys = [key for _, key in rows if key]
        assert len(keys) == len(set(keys)), f"{deal}: a key applied twice"
        succeeded = {k: seq for k, (d, seq) in tally.succeeded.items() if d == deal}
        assert {k: seq for seq, k in rows if k} == succeeded, f"{deal}: history and answers differ"
        assert not {k for k, d in tally.refused.items() if d == deal} & set(keys), f"{deal}: a refusal was applied"

    reconcile = subprocess.run(
        [sys.executable, "-m", "services.reconcile"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "LIFECYCLES_TEMPORAL_ADDRESS": f"127.0.0.1:{stack.temporal_port}",
            "LIFECYCLES_DATABASE_URL": f"sqlite+aiosqlite:///{stack.data_dir / 'readmodel.db'}",
        },
    )
    report = json.loads(reconcile.stdout)
    assert reconcile.returncode == 0 and report["clean"], report
    assert report["checked"] == len(deals)
    print(
        f"\nfault injection: {len(tally.succeeded)} transitions acknowledged, {len(tally.refused)} refused, "
        f"{tally.retries} unanswered attempts retried, {len(crashes)} crashes ({', '.join(crashes)}), "
        f"0 lost, 0 applied twice"
    )
    assert len(crashes) >= 6 and len(tally.succeeded) > 20 and len(tally.refused) > 5
