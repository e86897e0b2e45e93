"""A traced stack: a Temporal client and worker with tracing on, the API over ASGI, a webhook receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime
from temporalio.testing import WorkflowEnvironment

from services.api import create_app
from services.db import create_engine, session_factory
from services.settings import Settings
from services.telemetry import instrument_engine, instrument_http, temporal_plugins
from services.worker import build_worker
from tests.conftest import Api, Stack, serve


async def client_for(env: WorkflowEnvironment, runtime: Runtime | None = None) -> Client:
    """A client of the shared dev server set up as the processes set theirs up (plugins, runtime)."""
    return await Client.connect(
        env.client.service_client.config.target_host,
        namespace=env.client.namespace,
        data_converter=pydantic_data_converter,
        plugins=temporal_plugins(),
        runtime=runtime,
    )


@asynccontextmanager
async def running_stack(client: Client, settings: Settings) -> AsyncIterator[Api]:
    """The worker and the API as ``services.worker.run`` and ``create_app`` build them."""
    engine = create_engine(settings.database_url)
    instrument_engine(engine)
    sessions = session_factory(engine)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            instrument_http(http)
            async with build_worker(client, settings, sessions, http=http):
                stack = Stack(client, settings, sessions)
                async with serve(create_app(settings, client=client)) as api_http:
                    yield Api(api_http, stack)
    finally:
        await engine.dispose()
