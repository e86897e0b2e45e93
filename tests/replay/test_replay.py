"""Recorded histories must replay against today's workflow code.

A change to a workflow's logic that breaks one of these needs ``workflow.patched``
(see docs/adding-a-lifecycle.md), not a re-recording.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner

from services.worker import workflow_runner
from workflows.registry import WORKFLOWS

HISTORIES = sorted((Path(__file__).resolve().parent.parent / "histories").glob("*.json"))


def test_every_workflow_type_has_recorded_histories():
    missing = [kind for kind in WORKFLOWS if not any(path.name.startswith(f"{kind}-") for path in HISTORIES)]
    assert missing == [], f"record histories for {missing}: ./dev generate histories --only <kind>"


# The sandbox the tests run in, and the plain runner production workers use by default.
RUNNERS = {"sandboxed": workflow_runner, "unsandboxed": UnsandboxedWorkflowRunner}


@pytest.mark.parametrize("runner", RUNNERS.values(), ids=RUNNERS.keys())
@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: p.stem)
async def test_history_replays(path: Path, runner: type[WorkflowRunner]):
    workflow_id = "/".join(path.stem.split("--")[1:2])
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    replayer = Replayer(
        workflows=list(WORKFLOWS.values()),
        workflow_runner=runner(),
        data_converter=pydantic_data_converter,
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
