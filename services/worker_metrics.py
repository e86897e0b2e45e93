"""The worker's metrics endpoint: ours, the outbox gauges and the Temporal SDK's, on one address.

The SDK exports its metrics (workflow task latency, schedule-to-start, sticky cache,
slots...) through the process's ``Runtime`` on a loopback port of its own; the worker's
endpoint (``LIFECYCLES_WORKER_METRICS_ADDRESS``) forwards them beside its own, so
Prometheus scrapes one target per worker.
"""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from functools import lru_cache
from threading import Thread
from wsgiref.simple_server import WSGIServer

import sqlalchemy as sa
from prometheus_client import start_http_server
from prometheus_client.registry import Collector
from sqlmodel import col
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from services.db import Sessions
from services.metrics import WORKER_METRICS, BacklogCollector, ForwardedCollector, OutboxState
from services.models import EffectRow, EffectStatus, LifecycleRow


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@lru_cache(maxsize=1)
def sdk_runtime() -> tuple[Runtime, str]:
    """This process's Temporal runtime exporting the SDK's metrics, and where it serves them.

    One per process: a runtime owns threads and a server, and clients sharing it share them.
    """
    address = f"127.0.0.1:{_free_loopback_port()}"
    config = PrometheusConfig(bind_address=address, counters_total_suffix=True, durations_as_seconds=True)
    return Runtime(telemetry=TelemetryConfig(metrics=config)), f"http://{address}/metrics"


async def read_outbox(sessions: Sessions, wanted: dict[str, int]) -> OutboxState:
    """Undelivered effects and the oldest one's age; the read model's seq of the lifecycles asked about."""
    async with sessions() as session:
        undelivered, oldest = (
            await session.execute(
                sa.select(sa.func.count(), sa.func.min(col(EffectRow.created_at))).where(
                    col(EffectRow.status) == EffectStatus.PENDING
                )
            )
        ).one()
        seqs: dict[str, int] = {}
        if wanted:
            rows = await session.execute(
                sa.select(col(LifecycleRow.workflow_id), col(LifecycleRow.seq)).where(
                    col(LifecycleRow.workflow_id).in_(list(wanted))
                )
            )
            seqs = {workflow_id: seq for workflow_id, seq in rows.all()}
    age = 0.0
    if oldest is not None:
        oldest_at = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)
        age = max((datetime.now(UTC) - oldest_at).total_seconds(), 0.0)
    return OutboxState(undelivered=int(undelivered), oldest_age_seconds=age, read_model_seqs=seqs)


class WorkerMetricsServer:
    """The endpoint, served from a thread; start and stop it from the worker's event loop."""

    def __init__(self, address: str, sessions: Sessions, sdk_metrics_url: str | None) -> None:
        self.address = address
        self.registry = WORKER_METRICS.registry
        self.collectors: list[Collector] = [
            BacklogCollector(
                WORKER_METRICS.backlog, lambda wanted: read_outbox(sessions, wanted), asyncio.get_running_loop()
            )
        ]
        if sdk_metrics_url is not None:
            self.collectors.append(ForwardedCollector(sdk_metrics_url))
        self._server: WSGIServer | None = None
        self._thread: Thread | None = None

    def start(self) -> int:
        """Serve; returns the bound port (``:0`` picks a free one)."""
        host, _, port = self.address.rpartition(":")
        self._server, self._thread = start_http_server(int(port), addr=host, registry=self.registry)
        for collector in self.collectors:
            self.registry.register(collector)
        return int(self._server.server_port)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None
            for collector in self.collectors:
                self.registry.unregister(collector)
