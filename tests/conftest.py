"""Shared fixtures: Temporal test servers from the venv, a migrated database per test, workers."""

from __future__ import annotations

import io
import logging
import os
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from services.api import create_app
from services.db import Sessions, create_engine, session_factory, upgrade
from services.lifecycles import LifecycleGateway, Principal
from services.logs import LogFormat, log_handler
from services.settings import Environment, Settings
from services.temporal import ensure_search_attributes
from services.worker import build_worker
from tests.launcher import LaunchedStack, launched_stack
from tests.postgres import PostgresServer
from workflows.engine.spec import Role
from workflows.engine.visibility import ALL_KEYS

# Production workers run workflows unsandboxed (services/settings.py); every worker the
# tests start, here or in a subprocess, runs them in the sandbox, whose runtime checks
# (restricted imports and calls, module state) are part of how determinism is guarded.
os.environ["LIFECYCLES_WORKFLOW_SANDBOX"] = "true"

VENV_BIN = Path(sys.executable).parent
TEMPORAL_CLI = VENV_BIN / "temporal"
TEST_SERVER = VENV_BIN / "temporal-test-server"

TOKENS = {
    "viewer-token-0123456789": {"actor": "vera@example.com", "role": "viewer"},
    "operator-token-0123456789": {"actor": "otto@example.com", "role": "operator"},
    "admin-token-0123456789": {"actor": "ada@example.com", "role": "admin"},
}
TOKEN = {grant["role"]: token for token, grant in TOKENS.items()}
OPERATOR = Principal(actor="otto@example.com", role=Role.OPERATOR)
ADMIN = Principal(actor="ada@example.com", role=Role.ADMIN)
VIEWER = Principal(actor="vera@example.com", role=Role.VIEWER)


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    # One server per test: a workflow left behind by an earlier test, with timers
    # but no worker any more, would stall time skipping for everyone after it.
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


@pytest.fixture(scope="session")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaunchedStack]:
    """The stack as ``./dev up`` runs it, launched once for every test that only drives it over
    HTTP, each with lifecycles and accounts of its own. A test that kills, restarts or
    configures the processes launches its own."""
    with launched_stack(tmp_path_factory.mktemp("dev-stack")) as stack:
        yield stack


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        task_queue=f"tq-{uuid.uuid4()}",
        api_tokens=TOKENS,
        temporal_rpc_timeout_seconds=30,
        # A test ends while its lifecycles may still deliver effects to each other; an update
        # sent to a worker that is stopping waits for the RPC timeout, so stop without waiting.
        worker_shutdown_grace_seconds=1,
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
        self.gateway = LifecycleGateway(client, settings, sessions)


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


class Api:
    """GraphQL over ASGI, as a given role."""

    def __init__(self, http: httpx.AsyncClient, stack: Stack) -> None:
        self.http = http
        self.stack = stack

    async def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        role: str | None = "operator",
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        all_headers = dict(headers or {})
        if role is not None:
            all_headers["authorization"] = f"Bearer {TOKEN[role]}"
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=all_headers
        )

    async def gql(self, query: str, variables: dict[str, Any] | None = None, *, role: str = "operator") -> Any:
        """The operation's data; fails the test on any GraphQL error."""
        response = await self.post(query, variables, role=role)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]


@asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for ``app`` with its lifespan running, as uvicorn would run it."""
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Any, receive: Any, send: Any) -> None:
            scope["state"] = dict(state or {})
            await app(scope, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://lifecycles.test") as http:
            yield http


@pytest.fixture
async def api(local_stack: Stack) -> AsyncIterator[Api]:
    async with serve(create_app(local_stack.settings, client=local_stack.client)) as http:
        yield Api(http, local_stack)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """What the processes would write to stderr (one JSON object per line) during the test."""
    stream = io.StringIO()
    handler = log_handler(LogFormat.JSON, stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level, logging.INFO))
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)
