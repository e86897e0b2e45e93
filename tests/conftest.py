"""Shared fixtures: Temporal test servers from the venv, a migrated database per test, workers."""

from __future__ import annotations

import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from services.db import Sessions, create_engine, session_factory, upgrade
from services.lifecycles import LifecycleGateway, Principal
from services.settings import Environment, Settings
from services.temporal import ensure_search_attributes
from services.worker import build_worker
from workflows.engine.spec import Role
from workflows.engine.visibility import ALL_KEYS

VENV_BIN = Path(sys.executable).parent
TEMPORAL_CLI = VENV_BIN / "temporal"
TEST_SERVER = VENV_BIN / "temporal-test-server"

TOKENS = {
    "viewer-token-0123456789": {"actor": "vera@example.com", "role": "viewer"},
    "operator-token-0123456789": {"actor": "otto@example.com", "role": "operator"},
    "admin-token-0123456789": {"actor": "ada@example.com", "role": "admin"},
}
OPERATOR = Principal(actor="otto@example.com", role=Role.OPERATOR)
ADMIN = Principal(actor="ada@example.com", role=Role.ADMIN)
VIEWER = Principal(actor="vera@example.com", role=Role.VIEWER)


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(TEST_SERVER),
        data_converter=pydantic_data_converter,
    )
    await ensure_search_attributes(env.client, "default")
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
async def local_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_CLI),
        data_converter=pydantic_data_converter,
        search_attributes=ALL_KEYS,
        ui=False,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "readmodel.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def database_url(migrated_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "readmodel.db"
    shutil.copy(migrated_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        task_queue=f"tq-{uuid.uuid4()}",
        api_tokens=TOKENS,
        temporal_rpc_timeout_seconds=30,
    )


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    yield session_factory(engine)
    await engine.dispose()


class Stack:
    """A client, a worker on its own task queue and the gateway the API would use."""

    def __init__(self, client: Client, settings: Settings, sessions: Sessions) -> None:
        self.client = client
        self.settings = settings
        self.sessions = sessions
        self.gateway = LifecycleGateway(client, settings)


async def _stack(client: Client, settings: Settings, sessions: Sessions) -> AsyncIterator[Stack]:
    async with build_worker(client, settings, sessions):
        yield Stack(client, settings, sessions)


@pytest.fixture
async def ts_stack(
    time_skipping_env: WorkflowEnvironment, settings: Settings, sessions: Sessions
) -> AsyncIterator[Stack]:
    async for stack in _stack(time_skipping_env.client, settings, sessions):
        yield stack


@pytest.fixture
async def local_stack(local_env: WorkflowEnvironment, settings: Settings, sessions: Sessions) -> AsyncIterator[Stack]:
    async for stack in _stack(local_env.client, settings, sessions):
        yield stack


@pytest.fixture
def entity_id() -> Iterator[str]:
    yield f"t-{uuid.uuid4().hex[:12]}"
