"""Recording workflow histories into ``tests/histories/`` for the replay tests.

Each lifecycle keeps its scenarios in ``tests/replay/<kind>_scenarios.py`` (a
``SCENARIOS`` dict of name -> coroutine returning the workflow ids to record).
``./dev generate histories`` runs them all on the time-skipping server with a real
worker and writes one JSON file per workflow run; ``--only <prefix>`` limits it.
Record again only on purpose: the point of the committed files is that today's
code must still replay yesterday's histories (or use ``workflow.patched`` where it
cannot).
"""

from __future__ import annotations

import importlib
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from services.db import create_engine, session_factory, upgrade
from services.lifecycles import LifecycleGateway, Principal
from services.settings import Environment, Settings
from services.temporal import ensure_search_attributes
from services.worker import build_worker
from workflows.engine.spec import Role

HISTORIES = Path(__file__).resolve().parent.parent / "histories"
TEST_SERVER = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "temporal-test-server"
OPERATOR = Principal(actor="otto@example.com", role=Role.OPERATOR)
ADMIN = Principal(actor="ada@example.com", role=Role.ADMIN)

Scenario = Callable[[LifecycleGateway, WorkflowEnvironment], Awaitable[list[str]]]


async def _runs(client: Client, workflow_id: str) -> list[str]:
    """The history JSON of every run of a workflow, oldest first."""
    runs: list[str] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        runs.insert(0, history.to_json())
        previous = history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id
        if not previous:
            return runs
        run_id = previous


def all_scenarios() -> dict[str, Scenario]:
    scenarios: dict[str, Scenario] = {}
    for path in sorted(Path(__file__).parent.glob("*_scenarios.py")):
        module = importlib.import_module(f"tests.replay.{path.stem}")
        scenarios.update(module.SCENARIOS)
    return scenarios


async def record_all(only: str = "") -> None:
    HISTORIES.mkdir(parents=True, exist_ok=True)
    for name, scenario in all_scenarios().items():
        if not name.startswith(only):
            continue
        env = await WorkflowEnvironment.start_time_skipping(
            test_server_existing_path=str(TEST_SERVER), data_converter=pydantic_data_converter
        )
        try:
            await ensure_search_attributes(env.client, "default")
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{tmp}/readmodel.db"
                upgrade(url)
                settings = Settings(environment=Environment.TEST, database_url=url, task_queue=f"record-{uuid.uuid4()}")
                engine = create_engine(url)
                sessions = session_factory(engine)
                async with build_worker(env.client, settings, sessions):
                    # With the read model, so guards that read facts see what the API's would.
                    workflow_ids = await scenario(LifecycleGateway(env.client, settings, sessions), env)
                    for workflow_id in workflow_ids:
                        for n, history_json in enumerate(await _runs(env.client, workflow_id), start=1):
                            # Entity ids may hold a slash (``handover/<account>/<n>``); a file name may not.
                            suffix = workflow_id.split("/", 1)[1].replace("/", "~")
                            path = HISTORIES / f"{name}--{suffix}--run{n}.json"
                            path.write_text(history_json)
                            print(f"wrote {path.relative_to(HISTORIES.parent.parent)}")
                await engine.dispose()
        finally:
            await env.shutdown()
