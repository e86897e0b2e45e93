"""A transition's answer leaves out the snapshot parts its caller will not read.

The request names them (``answer_omits``); the workflow honours only the parts it may
leave out (``OMITTABLE_PARTS``: the pinned policy, the deadlines), says which it left out,
and changes nothing else: the same commands, the same read model, a history that replays.
"""

from __future__ import annotations

import uuid

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from services.worker import workflow_runner
from tests.conftest import OPERATOR, Stack
from tests.workflows.helpers import lifecycle
from tests.workflows.test_opportunity_workflow import open_deal
from workflows.engine.spec import Role
from workflows.engine.types import TransitionRequest, workflow_id_for
from workflows.opportunity import OpportunityWorkflow
from workflows.registry import WORKFLOWS


async def test_the_answer_leaves_out_only_what_may_be_left_out(local_stack: Stack, entity_id: str):
    workflow_id = workflow_id_for("opportunity", entity_id)
    await open_deal(local_stack, entity_id)
    full = await local_stack.gateway.transition(
        "opportunity", entity_id, "update_fields", {"name": "Renamed"}, principal=OPERATOR
    )
    assert full.omitted == [] and full.snapshot.policy and full.snapshot.deadlines

    # Sent as any client of the workflow could: the data cannot be left out, nor an unknown part.
    handle = local_stack.client.get_workflow_handle(workflow_id)
    lean = await handle.execute_update(
        OpportunityWorkflow.transition,
        TransitionRequest(
            trigger="update_fields",
            params={"name": "Renamed again"},
            actor=OPERATOR.actor,
            role=Role.OPERATOR,
            idempotency_key="lean",
            answer_omits=["data", "deadlines", "everything", "policy"],
        ),
        id=str(uuid.uuid4()),
    )
    assert lean.omitted == ["policy", "deadlines"]
    assert lean.snapshot.policy == {} and lean.snapshot.deadlines == []
    assert lean.snapshot.data["name"] == "Renamed again" and lean.snapshot.seq == full.snapshot.seq + 1
    assert lean.snapshot.next_deadline == full.snapshot.next_deadline
    assert lean.projected
    # Answered once the read model has it.
    row = await lifecycle(local_stack.sessions, workflow_id)
    assert row is not None and row.seq == lean.snapshot.seq
    # Only the answer is lean: the workflow still holds the policy and the deadlines.
    current = await handle.query(OpportunityWorkflow.snapshot)
    assert current.policy == full.snapshot.policy and current.deadlines == full.snapshot.deadlines

    # The gateway sends only the parts that may be left out, and the history replays.
    through_gateway = await local_stack.gateway.transition(
        "opportunity",
        entity_id,
        "update_fields",
        {"name": "Renamed a third time"},
        principal=OPERATOR,
        answer_omits=["policy", "data"],
    )
    assert through_gateway.omitted == ["policy"] and through_gateway.snapshot.deadlines
    replayer = Replayer(
        workflows=list(WORKFLOWS.values()), workflow_runner=workflow_runner(), data_converter=pydantic_data_converter
    )
    replayed = await replayer.replay_workflow(await handle.fetch_history(), raise_on_replay_failure=True)
    assert replayed.replay_failure is None
