"""The Temporal worker: runs every lifecycle workflow and its activities.

``python -m services.worker`` connects with the settings from the environment and
polls the task queue until SIGINT or SIGTERM, then stops polling, gives running
activities ``LIFECYCLES_WORKER_SHUTDOWN_GRACE_SECONDS`` to finish, and exits.
Workers are stateless: run as many as the load needs.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta
from typing import Any

import httpx
import uvloop
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from services.activities import LifecycleActivities
from services.db import Sessions, create_engine, session_factory
from services.effects import build_dispatcher
from services.heap import freeze_startup_objects
from services.lifecycles import LifecycleGateway
from services.logs import configure_logging
from services.metrics import WORKER_METRICS
from services.projection import Projector
from services.settings import Settings, get_settings
from services.telemetry import instrument_engine, instrument_http, setup_tracing, stop_tracing, worker_interceptors
from services.temporal import connect
from services.worker_metrics import WorkerMetricsServer, sdk_runtime
from workflows.registry import WORKFLOWS

logger = logging.getLogger("lifecycles.worker")

# Deterministic code shared with the sandbox instead of re-imported for every workflow
# run: the specs and engine (``workflows``, kept free of I/O and clocks by
# ``tests/test_determinism.py``) and the libraries they build on. Importing them once
# also keeps one class per message type, which the pydantic converter relies on.
PASSTHROUGH_MODULES = ("workflows", "pydantic", "pydantic_core", "annotated_types", "transitions")


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH_MODULES)
    )


def configured_runner(settings: Settings) -> WorkflowRunner:
    """The sandbox when ``LIFECYCLES_WORKFLOW_SANDBOX`` asks for it, the plain runner otherwise."""
    return workflow_runner() if settings.workflow_sandbox else UnsandboxedWorkflowRunner()


class LifecycleWorker(Worker):
    """Temporal's worker, closing the projector's connections and threads once it has stopped."""

    def __init__(self, client: Client, *, projector: Projector, **options: Any) -> None:
        super().__init__(client, **options)
        self.projector = projector

    async def run(self) -> None:
        try:
            await super().run()
        finally:
            self.projector.close()


def build_worker(
    client: Client,
    settings: Settings,
    sessions: Sessions,
    *,
    task_queue: str | None = None,
    http: httpx.AsyncClient | None = None,
) -> LifecycleWorker:
    gateway = LifecycleGateway(client, settings, sessions, transitions=WORKER_METRICS.transitions)
    dispatcher = build_dispatcher(settings, sessions, gateway, http or httpx.AsyncClient(timeout=10))
    projector = Projector.beside(sessions)
    instrument_engine(projector.engine)
    activities = LifecycleActivities(projector, dispatcher)
    return LifecycleWorker(
        client,
        projector=projector,
        task_queue=task_queue or settings.task_queue,
        workflows=list(WORKFLOWS.values()),
        activities=[activities.project_lifecycle, activities.deliver_effect],
        workflow_runner=configured_runner(settings),
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_shutdown_grace_seconds),
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=settings.worker_sticky_timeout_seconds),
        interceptors=worker_interceptors(),
    )


async def connect_with_retry(settings: Settings, runtime: Runtime | None = None, attempts: int = 60) -> Client:
    for attempt in range(1, attempts + 1):
        try:
            return await connect(settings, runtime)
        except RuntimeError as exc:
            if attempt == attempts:
                raise
            logger.info("Temporal at %s not reachable yet (%s); retrying", settings.temporal_address, exc)
            await asyncio.sleep(1)
    raise AssertionError("unreachable")


async def run() -> None:
    settings = get_settings()
    setup_tracing("lifecycles-worker")
    runtime, sdk_metrics_url = sdk_runtime()
    client = await connect_with_retry(settings, runtime)
    engine = create_engine(settings.database_url)
    instrument_engine(engine)
    sessions = session_factory(engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    metrics = WorkerMetricsServer(settings.worker_metrics_address, sessions, sdk_metrics_url)
    try:
        port = metrics.start()
        logger.info("worker metrics on http://%s:%s/metrics", settings.worker_metrics_address.rpartition(":")[0], port)
    except OSError as exc:
        # The work matters more than its metrics: poll anyway, and say so loudly.
        logger.error("worker metrics cannot be served on %s: %s", settings.worker_metrics_address, exc)
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            instrument_http(http)
            worker = build_worker(client, settings, sessions, http=http)
            freeze_startup_objects()
            logger.info("worker polling %s on %s", settings.task_queue, settings.temporal_address)
            async with worker:
                await stop.wait()
                logger.info("worker stopping")
    finally:
        metrics.stop()
        await engine.dispose()
        stop_tracing()


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    # The state machine library narrates every callback at INFO; the engine logs what matters.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    # uvloop: the SDK's core and the SQLite driver hand results to the loop from their own
    # threads, which uvloop wakes for cheaply (~1-2 ms less CPU per transition, measured).
    uvloop.run(run())


if __name__ == "__main__":
    main()
