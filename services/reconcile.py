"""Compare the read model with the workflows themselves, and repair what lags.

``python -m services.reconcile [--kind K] [--repair]`` lists every lifecycle workflow
Temporal knows (by the ``LifecycleKind`` search attribute), asks each for its own
snapshot and history, and compares them with the read model: a missing row, a row
behind the workflow (lower sequence number), a row with a different state, or a row
whose workflow Temporal does not know. ``--repair`` writes what the workflows hold
through the same idempotent projection the workflows use; a lifecycle the database
refuses to hold is reported under ``unrepairable`` with the database's error, and the
repair goes on. The exit status is 1 when something differed (after repair, when it
could not be repaired).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlmodel import col
from temporalio.client import Client
from temporalio.service import RPCError

from services.db import Sessions, create_engine, session_factory
from services.models import LifecycleRow, TransitionRow
from services.projection import apply_projection
from services.settings import get_settings
from services.temporal import connect
from workflows.engine.types import ProjectionBatch
from workflows.registry import SPECS, WORKFLOWS

QUERY_TIMEOUT = timedelta(seconds=10)


@dataclass
class Difference:
    workflow_id: str
    problem: str
    workflow_seq: int | None = None
    read_model_seq: int | None = None


@dataclass
class Unrepairable:
    workflow_id: str
    error: str


@dataclass
class Report:
    checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    unrepairable: list[Unrepairable] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not [d for d in self.differences if d.workflow_id not in self.repaired]


async def reconcile(
    client: Client, sessions: Sessions, task_queue: str, kinds: list[str] | None = None, *, repair: bool = False
) -> Report:
    """Check every lifecycle workflow of the task queue against the read model."""
    report = Report()
    kinds = kinds or list(SPECS)
    query = f"TaskQueue = '{task_queue}' AND (" + " OR ".join(f"LifecycleKind = '{k}'" for k in kinds) + ")"
    seen: set[str] = set()
    async for execution in client.list_workflows(query):
        workflow_id = execution.id
        if workflow_id in seen:
            continue  # earlier runs of a workflow that continued as new
        seen.add(workflow_id)
        kind = workflow_id.split("/", 1)[0]
        handle = client.get_workflow_handle(workflow_id)
        workflow_class = WORKFLOWS[kind]
        try:
            snapshot = await handle.query(workflow_class.snapshot, rpc_timeout=QUERY_TIMEOUT)
            history = await handle.query(workflow_class.history, rpc_timeout=QUERY_TIMEOUT)
        except RPCError as exc:
            report.differences.append(Difference(workflow_id, f"workflow did not answer: {exc.message}"))
            continue
        report.checked += 1
        async with sessions() as session:
            row = await session.get(LifecycleRow, workflow_id)
            transitions = (
                await session.execute(
                    sa.select(sa.func.count())
                    .select_from(TransitionRow)
                    .where(col(TransitionRow.workflow_id) == workflow_id)
                )
            ).scalar_one()
        problem = None
        if row is None:
            problem = "missing from the read model"
        elif row.seq < snapshot.seq:
            problem = "read model behind the workflow"
        elif row.seq > snapshot.seq:
            problem = "read model ahead of the workflow"
        elif row.state != snapshot.state:
            problem = f"state differs: read model {row.state}, workflow {snapshot.state}"
        elif transitions < min(snapshot.seq, len(history)):
            problem = f"audit log has {transitions} of {snapshot.seq} transitions"
        if problem is None:
            continue
        report.differences.append(Difference(workflow_id, problem, snapshot.seq, row.seq if row else None))
        if repair and (row is None or row.seq <= snapshot.seq):
            try:
                async with sessions.begin() as session:
                    await apply_projection(
                        session=session, batch=ProjectionBatch(snapshot=snapshot, transitions=history)
                    )
            except sa.exc.DBAPIError as exc:
                # The database refuses what the workflow holds (a value longer than its
                # column, recorded before the API bounded it): say so and go on with the
                # others rather than stop the whole repair at the first such lifecycle.
                report.unrepairable.append(Unrepairable(workflow_id, f"{type(exc.orig).__name__}: {exc.orig}"[:500]))
                continue
            report.repaired.append(workflow_id)
    async with sessions() as session:
        rows = (
            (await session.execute(sa.select(col(LifecycleRow.workflow_id)).where(col(LifecycleRow.kind).in_(kinds))))
            .scalars()
            .all()
        )
    for workflow_id in rows:
        if workflow_id not in seen:
            report.differences.append(Difference(workflow_id, "in the read model, unknown to Temporal"))
    return report


async def run(kinds: list[str] | None, repair: bool) -> Report:
    settings = get_settings()
    client = await connect(settings)
    engine = create_engine(settings.database_url)
    try:
        return await reconcile(client, session_factory(engine), settings.task_queue, kinds, repair=repair)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description="Compare the read model with the workflows; repair what lags.")
    parser.add_argument("--kind", action="append", choices=sorted(SPECS), help="only these kinds (repeatable)")
    parser.add_argument("--repair", action="store_true", help="write what the workflows hold into the read model")
    args = parser.parse_args()
    report = asyncio.run(run(args.kind, args.repair))
    json.dump(
        {
            "checked": report.checked,
            "differences": [d.__dict__ for d in report.differences],
            "repaired": report.repaired,
            "unrepairable": [u.__dict__ for u in report.unrepairable],
            "clean": report.clean,
        },
        sys.stdout,
        indent=2,
    )
    sys.stdout.write("\n")
    sys.exit(0 if report.clean else 1)


if __name__ == "__main__":
    main()
