"""A change that leaves the earliest deadline where it was keeps the armed timer.

Runs started since ``engine-keep-armed-timer`` cancel and start their durable timer
only when the earliest deadline moves (docs/performance.md: restarting it after every
transition cost a cancel and a start per update). Older runs keep the old commands and
replay unchanged (``tests/replay``); this checks the new path, and that its history
replays too.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from services.worker import workflow_runner
from tests.conftest import OPERATOR, Stack
from tests.workflows.test_opportunity_workflow import nudges, open_deal
from workflows.engine.types import workflow_id_for
from workflows.engine.workflow import KEEP_ARMED_TIMER_PATCH, PATCH_BASELINE, PATCHES_IN_BASELINE
from workflows.registry import WORKFLOWS


async def test_changes_that_keep_the_deadline_keep_the_timer_and_a_moved_deadline_rearms_it(
    ts_stack: Stack, time_skipping_env: WorkflowEnvironment, entity_id: str
):
    env, workflow_id = time_skipping_env, workflow_id_for("opportunity", entity_id)
    await open_deal(ts_stack, entity_id)
    for name in ("Renamed once", "Renamed twice", "Renamed thrice"):
        await ts_stack.gateway.transition("opportunity", entity_id, "update_fields", {"name": name}, principal=OPERATOR)
    handle = ts_stack.client.get_workflow_handle(workflow_id)
    events = [e.event_type for e in (await handle.fetch_history()).events]
    assert events.count(EventType.EVENT_TYPE_TIMER_STARTED) == 1
    assert events.count(EventType.EVENT_TYPE_TIMER_CANCELED) == 0

    await env.sleep(timedelta(days=1))
    # A reply moves the silence ladder: the timer follows it.
    await ts_stack.gateway.transition("opportunity", entity_id, "record_customer_reply", principal=OPERATOR)
    events = [e.event_type for e in (await handle.fetch_history()).events]
    assert events.count(EventType.EVENT_TYPE_TIMER_CANCELED) == 1
    await env.sleep(timedelta(days=13, hours=23))
    assert await nudges(ts_stack, workflow_id) == []
    await env.sleep(timedelta(hours=2))  # 14 days after the reply, not after the opening
    assert await nudges(ts_stack, workflow_id) == ["Still interested?"]

    history = await handle.fetch_history()
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    # The run took the patch through the baseline's one marker (tests/workflows/test_patching.py).
    assert KEEP_ARMED_TIMER_PATCH in PATCHES_IN_BASELINE
    assert any(PATCH_BASELINE.encode() in e.SerializeToString() for e in markers)
    replayer = Replayer(
        workflows=list(WORKFLOWS.values()), workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
