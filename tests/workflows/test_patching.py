"""Spec changes behind ``LifecycleSpec.patches`` keep old histories replaying."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from pydantic import BaseModel
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from services.activities import LifecycleActivities
from services.channels import LogChannel
from services.db import Sessions
from services.effects import EffectDispatcher
from services.projection import Projector
from services.worker import LifecycleWorker
from tests.workflows.helpers import effects
from workflows.engine.instance import ENGINE_PATCHES, LifecycleInstance
from workflows.engine.spec import LifecycleSpec, StateSpec, TransitionSpec, notify, owner
from workflows.engine.types import LifecycleInput, LifecycleSnapshot, TransitionRequest
from workflows.engine.workflow import (
    KEEP_ARMED_TIMER_PATCH,
    PATCH_BASELINE,
    PATCHES_IN_BASELINE,
    SCOPED_KEYS_PATCH,
    LifecycleWorkflow,
)
from workflows.registry import SPECS


class Door(BaseModel):
    owner: str


class NoPolicy(BaseModel):
    pass


def _announce(name: str):
    return notify(name, name, to=owner, subject=lambda ctx: name, body=lambda ctx: name)


V1 = LifecycleSpec(
    kind="door",
    title="Door",
    description="",
    states=(StateSpec("OPEN", "open"), StateSpec("CLOSED", "closed", terminal=True)),
    transitions=(TransitionSpec("close", ("OPEN",), "CLOSED", "Close.", effects=(_announce("closed"),)),),
    timers=(),
    data_model=Door,
    policy_model=NoPolicy,
    initial_state=lambda d: "OPEN",
    owner_of=lambda d: d.owner,
    account_of=lambda d: None,
    summary_of=lambda d: "door",
)
_SECOND = dataclasses.replace(_announce("closed_loudly"), when=lambda ctx: ctx.patched("close-announces-loudly"))
V2 = dataclasses.replace(
    V1,
    transitions=(TransitionSpec("close", ("OPEN",), "CLOSED", "Close.", effects=(_announce("closed"), _SECOND)),),
    patches=("close-announces-loudly",),
)
V2_UNGUARDED = dataclasses.replace(
    V1,
    transitions=(
        TransitionSpec(
            "close", ("OPEN",), "CLOSED", "Close.", effects=(_announce("closed"), _announce("closed_loudly"))
        ),
    ),
)


@workflow.defn(name="Door")
class DoorV1(LifecycleWorkflow):
    spec = V1

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleSnapshot:
        return await self.run_lifecycle(input)


@workflow.defn(name="Door")
class DoorV2(LifecycleWorkflow):
    spec = V2

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleSnapshot:
        return await self.run_lifecycle(input)


@workflow.defn(name="Door")
class DoorV2Unguarded(LifecycleWorkflow):
    spec = V2_UNGUARDED

    @workflow.run
    async def run(self, input: LifecycleInput) -> LifecycleSnapshot:
        return await self.run_lifecycle(input)


async def run_door(
    env: WorkflowEnvironment, sessions: Sessions, workflow_class: type[LifecycleWorkflow]
) -> WorkflowHistory:
    projector = Projector.beside(sessions)
    activities = LifecycleActivities(
        projector, EffectDispatcher(sessions, {"log": LogChannel()}, lambda effect_type: ["log"])
    )
    queue, door_id = f"doors-{uuid.uuid4()}", f"door/{uuid.uuid4().hex[:8]}"
    async with LifecycleWorker(
        env.client,
        projector=projector,
        task_queue=queue,
        workflows=[workflow_class],
        activities=[activities.project_lifecycle, activities.deliver_effect],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        handle = await env.client.start_workflow(
            workflow_class.run,
            LifecycleInput(kind="door", entity_id=door_id[5:], data={"owner": "ann"}),
            id=door_id,
            task_queue=queue,
        )
        await handle.execute_update(workflow_class.transition, TransitionRequest(trigger="close", actor="ann", role=2))
        await handle.result()
        return await handle.fetch_history()


async def replay(history: WorkflowHistory, workflow_class: type[LifecycleWorkflow]) -> None:
    replayer = Replayer(
        workflows=[workflow_class], workflow_runner=UnsandboxedWorkflowRunner(), data_converter=pydantic_data_converter
    )
    await replayer.replay_workflow(history)


async def test_a_patched_spec_change_replays_old_histories_and_applies_to_new_runs(
    time_skipping_env: WorkflowEnvironment, sessions: Sessions
):
    old = await run_door(time_skipping_env, sessions, DoorV1)
    await replay(old, DoorV2)
    with pytest.raises(Exception, match=r"[Nn]ondetermin"):
        await replay(old, DoorV2Unguarded)

    new = await run_door(time_skipping_env, sessions, DoorV2)
    await replay(new, DoorV2)
    names = [e.name for e in await effects(sessions, new.workflow_id)]
    assert names == ["closed", "closed_loudly"]
    assert [e.name for e in await effects(sessions, old.workflow_id)] == ["closed"]


def test_outside_a_workflow_every_patch_applies():
    from datetime import UTC, datetime

    instance = LifecycleInstance.open(V2, "d", {"owner": "ann"}, {}, datetime(2026, 1, 1, tzinfo=UTC), actor="ann")
    assert instance.context(datetime(2026, 1, 1, tzinfo=UTC)).patched("close-announces-loudly")


def _patch_markers(history: WorkflowHistory) -> list[bytes]:
    return [
        e.SerializeToString()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_patch"
    ]


async def test_a_new_run_records_one_marker_for_the_baseline_and_one_for_each_later_patch(
    time_skipping_env: WorkflowEnvironment, sessions: Sessions
):
    history = await run_door(time_skipping_env, sessions, DoorV2)
    markers = _patch_markers(history)
    # The baseline stands for the engine's patches; the door's own patch came after it.
    assert len(markers) == 2
    assert PATCH_BASELINE.encode() in markers[0]
    assert b"close-announces-loudly" in markers[1]
    assert not any(p.encode() in m for p in PATCHES_IN_BASELINE for m in markers)
    await replay(history, DoorV2)
    assert [e.name for e in await effects(sessions, history.workflow_id)] == ["closed", "closed_loudly"]


def test_the_baseline_stands_only_for_patches_the_engine_and_the_specs_declare():
    specs = {p for spec in SPECS.values() for p in spec.patches}
    assert {KEEP_ARMED_TIMER_PATCH, SCOPED_KEYS_PATCH, *ENGINE_PATCHES, *specs} >= PATCHES_IN_BASELINE
