"""End to end: the stack as ``./dev up`` runs it, driven over HTTP through crashes.

The launcher starts the Temporal dev server, the worker and the API as separate
processes. Mid-scenario the worker and then the Temporal server are killed with
SIGKILL (the launcher starts them again); the client retries an unanswered
mutation with the same idempotency key, as a real client should. Afterwards every
acknowledged mutation is in the history exactly once, the read model agrees with
the workflow, Ctrl-C stops everything, and a new start finds the deal where it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.postgres import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-operator-token-0123456789"
TOKENS = {TOKEN: {"actor": "e2e@example.com", "role": "operator"}}


class Stack:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.temporal_port, self.ui_port, self.api_port = free_port(), free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "LIFECYCLES_API_TOKENS": json.dumps(TOKENS)}
        for key in ("LIFECYCLES_DATABASE_URL", "LIFECYCLES_TEMPORAL_ADDRESS"):
            env.pop(key, None)
        with open(self.data_dir / "launcher.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "infra.dev",
                    "--data-dir",
                    str(self.data_dir),
                    "--temporal-port",
                    str(self.temporal_port),
                    "--ui-port",
                    str(self.ui_port),
                    "--api-port",
                    str(self.api_port),
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"the stack did not become ready:\n{self.log()}")

    def pid(self, name: str) -> int:
        return int((self.data_dir / "run" / f"{name}.pid").read_text())

    def kill(self, name: str) -> int:
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=90)

    def log(self) -> str:
        logs = [self.data_dir / "launcher.log", *sorted((self.data_dir / "logs").glob("*.log"))]
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())

    def gql(self, query: str, variables: dict[str, Any], *, within: float = 90) -> dict[str, Any]:
        """Send until answered: an unanswered request is retried as it is (same idempotency key)."""
        deadline = time.monotonic() + within
        last: object = None
        while time.monotonic() < deadline:
            try:
                response = httpx.post(
                    f"{self.url}/graphql",
                    json={"query": query, "variables": variables},
                    headers={"authorization": f"Bearer {TOKEN}"},
                    timeout=30,
                )
                body = response.json()
                if response.status_code == 200 and not body.get("errors"):
                    return body["data"]
                codes = {e.get("extensions", {}).get("code") for e in body.get("errors", [])}
                assert codes <= {"UNAVAILABLE"}, body
                last = body
            except (httpx.HTTPError, ValueError) as exc:
                last = exc
            time.sleep(0.5)
        raise AssertionError(f"no answer within {within}s: {last}\n{self.log()}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    s.start()
    yield s
    if s.process is not None and s.process.poll() is None:
        s.process.kill()
        s.process.wait()
    for name in ("api", "worker", "temporal"):
        pid_file = tmp_path / "run" / f"{name}.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


OPEN = """mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) {
  __typename ... on OpportunityChanged { opportunity { version } } } }"""
RECORD = """mutation($input: ExitCriterionInput!) { recordExitCriterion(input: $input) {
  __typename ... on OpportunityChanged { transition { seq } } } }"""
ADVANCE = """mutation($input: AdvanceOpportunityInput!) { advanceOpportunity(input: $input) {
  __typename ... on OpportunityChanged { transition { seq } opportunity { stage } } } }"""
STATE = """query($id: ID!) { opportunity(id: $id) { ... on Opportunity { stage version
  history(first: 100) { edges { node { seq trigger idempotencyKey actor } } } } } }"""

CRITERIA = [
    ("PROBLEM_AGREEMENT", "quantified_pain"),
    ("PROBLEM_AGREEMENT", "cost_of_inaction"),
    ("PROBLEM_AGREEMENT", "problem_acknowledged"),
    ("SOLUTION_AGREEMENT", "active_usage_or_trial"),
    ("SOLUTION_AGREEMENT", "documented_decision"),
    ("SOLUTION_AGREEMENT", "economic_buyer"),
]


def record(stack: Stack, n: int) -> int:
    stage, criterion = CRITERIA[n]
    data = stack.gql(
        RECORD,
        {
            "input": {
                "id": "acme-1",
                "stage": stage,
                "criterion": criterion,
                "evidence": f"evidence {n}",
                "idempotencyKey": f"criterion-{n}",
            }
        },
    )
    assert data["recordExitCriterion"]["__typename"] == "OpportunityChanged", data
    return int(data["recordExitCriterion"]["transition"]["seq"])


def test_nothing_acknowledged_is_lost_or_applied_twice_across_crashes(stack: Stack):
    opened = stack.gql(
        OPEN,
        {
            "input": {
                "id": "acme-1",
                "name": "ACME analytics",
                "account": {"id": "acme", "name": "ACME"},
                "closeDate": "2027-03-31",
                "amount": "60000",
            }
        },
    )
    assert opened["openOpportunity"]["__typename"] == "OpportunityChanged"
    acknowledged = [record(stack, 0), record(stack, 1)]

    old_worker = stack.kill("worker")
    acknowledged.append(record(stack, 2))  # waits for the launcher to start a new worker
    assert stack.pid("worker") != old_worker

    advanced = stack.gql(ADVANCE, {"input": {"id": "acme-1", "idempotencyKey": "advance-1"}})
    acknowledged.append(int(advanced["advanceOpportunity"]["transition"]["seq"]))

    old_temporal = stack.kill("temporal")
    acknowledged.append(record(stack, 3))  # retried until the dev server is back from its SQLite file
    assert stack.pid("temporal") != old_temporal
    acknowledged.append(record(stack, 4))
    # A retry of an acknowledged mutation, after both crashes, is answered without applying it again.
    assert record(stack, 2) == acknowledged[2]

    state = stack.gql(STATE, {"id": "acme-1"})["opportunity"]
    history = [e["node"] for e in state["history"]["edges"]]
    assert [h["seq"] for h in history] == list(range(1, len(acknowledged) + 2))
    assert sorted(acknowledged) == acknowledged == [h["seq"] for h in history[1:]]
    keys = [h["idempotencyKey"] for h in history[1:]]
    assert keys == ["criterion-0", "criterion-1", "criterion-2", "advance-1", "criterion-3", "criterion-4"]
    assert {h["actor"] for h in history} == {"e2e@example.com"}
    assert (state["stage"], state["version"]) == ("SOLUTION_AGREEMENT", len(acknowledged) + 1)

    # The workflow itself agrees with the read model.
    snapshot = subprocess.run(
        [
            str(Path(sys.executable).parent / "temporal"),
            "workflow",
            "query",
            "--address",
            f"127.0.0.1:{stack.temporal_port}",
            "--workflow-id",
            "opportunity/acme-1",
            "--type",
            "snapshot",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result = json.loads(snapshot.stdout)["queryResult"][0]
    assert (result["state"], result["seq"]) == (state["stage"], state["version"])

    # Ctrl-C stops all three; a new start finds the deal where it was.
    pids = [stack.pid(name) for name in ("api", "worker", "temporal")]
    assert stack.interrupt() == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    stack.start()
    again = stack.gql(STATE, {"id": "acme-1"})["opportunity"]
    assert (again["stage"], again["version"]) == (state["stage"], state["version"])
    assert record(stack, 5) == len(acknowledged) + 2
