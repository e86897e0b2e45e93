"""End to end: the stack as ``./dev up`` runs it, driven over HTTP through crashes.

The launcher starts the Temporal dev server, the worker and the API as separate
processes. Mid-scenario the worker and then the Temporal server are killed with
SIGKILL (the launcher starts them again); the client retries an unanswered
mutation with the same idempotency key, as a real client should. Afterwards every
acknowledged mutation is in the history exactly once, the read model agrees with
the workflow, Ctrl-C stops everything, and a new start finds the deal where it was.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.launcher import LaunchedStack, launched_stack

pytestmark = pytest.mark.e2e


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LaunchedStack]:
    with launched_stack(tmp_path) as s:
        yield s


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


def record(stack: LaunchedStack, n: int) -> int:
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


def test_nothing_acknowledged_is_lost_or_applied_twice_across_crashes(stack: LaunchedStack):
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
    assert {h["actor"] for h in history} == {"operator@example.com"}
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

    # The processes serve their metrics (the worker's with the Temporal SDK's beside its own)
    # and write lines for people here.
    api_metrics = stack.http.get(f"{stack.url}/metrics").text
    recorded = 'lifecycles_transitions_total{kind="opportunity",outcome="applied",trigger="record_criterion"}'
    assert recorded in api_metrics
    worker_metrics = stack.http.get(f"http://127.0.0.1:{stack.worker_metrics_port}/metrics").text
    assert "lifecycles_projections_total" in worker_metrics
    assert "temporal_workflow_task_schedule_to_start_latency_bucket" in worker_metrics
    api_log = (stack.data_dir / "logs" / "api.log").read_text()
    assert " INFO lifecycles.api: API serving GraphQL" in api_log and not api_log.lstrip().startswith("{")

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
