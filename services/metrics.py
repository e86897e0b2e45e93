"""Prometheus metrics of the API and the worker (docs/operations.md lists them).

Each process role has its own registry: the API serves ``API_METRICS`` at ``/metrics``;
the worker serves ``WORKER_METRICS``, the Temporal SDK's own metrics and the outbox
gauges on ``LIFECYCLES_WORKER_METRICS_ADDRESS``. Labels are bounded: kinds and
triggers come from the specs (anything else is ``other``), channels from the
settings, codes from the fixed set of refusals; never an id, an actor or an address.

Workflow code never records metrics (it is replayed); what happens inside a workflow
is counted by the activities that see its results (the projection sees every applied
transition, timer firings included).
"""

from __future__ import annotations

import asyncio
import logging
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from temporalio.service import RPCError

from workflows.engine.errors import Rejection
from workflows.engine.types import ProjectionBatch
from workflows.registry import SPECS

logger = logging.getLogger("lifecycles.metrics")

OTHER = "other"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LATENESS_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 21600.0)
# The gauges read at scrape time (BacklogCollector).
UNDELIVERED_EFFECTS = "lifecycles_undelivered_effects"
OLDEST_UNDELIVERED = "lifecycles_oldest_undelivered_effect_age_seconds"
PROJECTION_BACKLOG = "lifecycles_projection_backlog"
PROJECTION_BACKLOG_AGE = "lifecycles_projection_backlog_oldest_age_seconds"
WORKER_GAUGES = (UNDELIVERED_EFFECTS, OLDEST_UNDELIVERED, PROJECTION_BACKLOG, PROJECTION_BACKLOG_AGE)


def kind_label(kind: str) -> str:
    return kind if kind in SPECS else OTHER


def trigger_label(kind: str, trigger: str) -> str:
    spec = SPECS.get(kind)
    if spec is None:
        return OTHER
    if trigger == "open" or any(t.trigger == trigger for t in spec.transitions):
        return trigger
    return OTHER


def timer_label(kind: str, timer: str) -> str:
    spec = SPECS.get(kind)
    return timer if spec is not None and any(t.name == timer for t in spec.timers) else OTHER


class ApiMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "lifecycles_http_request_duration_seconds",
            "HTTP requests by route, method and status.",
            ["route", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.operations = Histogram(
            "lifecycles_graphql_operation_duration_seconds",
            "GraphQL operations by type and root field.",
            ["operation", "field"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refusals = Counter(
            "lifecycles_refusals_total",
            "Requests refused with a typed error (nothing changed), by error code.",
            ["code"],
            registry=self.registry,
        )
        self.transitions = TransitionMetrics(self.registry)
        self.subscribers = Gauge(
            "lifecycles_subscribers",
            "lifecycleChanged subscriptions open in this API process.",
            registry=self.registry,
        )
        self.subscribers_dropped = Counter(
            "lifecycles_subscribers_dropped_total",
            "Subscribers dropped for leaving more changes unread than their queue holds.",
            registry=self.registry,
        )


class TransitionMetrics:
    """Transitions asked of the gateway, by kind, trigger and outcome (``applied`` or the refusal)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.counter = Counter(
            "lifecycles_transitions_total",
            "Transitions asked for, by kind, trigger and outcome (applied, or the refusal's code).",
            ["kind", "trigger", "outcome"],
            registry=registry,
        )

    @contextmanager
    def observe(self, kind: str, trigger: str) -> Iterator[None]:
        outcome = "applied"
        try:
            yield
        except Rejection as rejection:
            outcome = rejection.type
            raise
        except (RPCError, TimeoutError):
            outcome = "UNAVAILABLE"
            raise
        except Exception as exc:
            # services.lifecycles.Unavailable (imported there from here, not the other way).
            outcome = "UNAVAILABLE" if type(exc).__name__ == "Unavailable" else "ERROR"
            raise
        finally:
            self.counter.labels(kind_label(kind), trigger_label(kind, trigger), outcome).inc()


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.timer_lateness = Histogram(
            "lifecycles_timer_lateness_seconds",
            "From a timer's due moment to its firing being applied (its transition, or the effects it sends), "
            "by kind and timer.",
            ["kind", "timer"],
            buckets=LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.deliveries = Counter(
            "lifecycles_effect_deliveries_total",
            "Effect deliveries per channel and outcome (delivered, retrying, failed).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.delivery_seconds = Histogram(
            "lifecycles_effect_delivery_duration_seconds",
            "Time to send one effect on one channel.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.projections = Counter(
            "lifecycles_projections_total",
            "Read-model projections, inline (inside the update) or retried later, by outcome.",
            ["mode", "outcome"],
            registry=self.registry,
        )
        self.transitions = TransitionMetrics(self.registry)
        self.backlog = ProjectionBacklog()

    def projected(self, batch: ProjectionBatch, fresh: bool, *, inline: bool) -> None:
        """A projection written: count it, and the lateness of the timers it applied, when the write
        was ``fresh`` (a retried write adds nothing again, so each firing is counted once)."""
        self.projections.labels("inline" if inline else "retry", "ok").inc()
        self.backlog.caught_up(batch.snapshot.workflow_id)
        if not fresh:
            return
        kind = batch.snapshot.kind
        for firing in batch.timers:
            if not firing.refused:
                self.timer_lateness.labels(kind_label(kind), timer_label(kind, firing.timer)).observe(
                    max((firing.fired_at - firing.due_at).total_seconds(), 0.0)
                )

    def projection_failed(self, batch: ProjectionBatch, *, inline: bool) -> None:
        self.projections.labels("inline" if inline else "retry", "failed").inc()
        self.backlog.behind(batch.snapshot.workflow_id, batch.snapshot.seq)

    @contextmanager
    def delivering(self, channel: str) -> Iterator[None]:
        """Time one channel's send and count its outcome (a PermanentDeliveryError is ``failed``)."""
        started = time.perf_counter()
        try:
            yield
        except Exception as exc:
            permanent = type(exc).__name__ == "PermanentDeliveryError"
            self.deliveries.labels(channel, "failed" if permanent else "retrying").inc()
            raise
        else:
            self.deliveries.labels(channel, "delivered").inc()
        finally:
            self.delivery_seconds.labels(channel).observe(time.perf_counter() - started)


@dataclass
class _Behind:
    since: float
    seq: int


class ProjectionBacklog:
    """Lifecycles whose last projection failed here and has not been written since.

    The workflow keeps retrying with backoff; an entry leaves when a projection of that
    lifecycle succeeds on this worker, or when the read model is seen to have caught up
    (a retry may land on another worker).
    """

    def __init__(self) -> None:
        self._behind: dict[str, _Behind] = {}

    def behind(self, workflow_id: str, seq: int) -> None:
        entry = self._behind.get(workflow_id)
        self._behind[workflow_id] = _Behind(entry.since if entry else time.time(), max(seq, entry.seq if entry else 0))

    def caught_up(self, workflow_id: str) -> None:
        self._behind.pop(workflow_id, None)

    def wanted(self) -> dict[str, int]:
        return {workflow_id: entry.seq for workflow_id, entry in self._behind.items()}

    def settle(self, read_model_seqs: dict[str, int]) -> None:
        for workflow_id, seq in read_model_seqs.items():
            entry = self._behind.get(workflow_id)
            if entry is not None and seq >= entry.seq:
                del self._behind[workflow_id]

    def size_and_age(self, now: float | None = None) -> tuple[int, float]:
        if not self._behind:
            return 0, 0.0
        oldest = min(entry.since for entry in self._behind.values())
        return len(self._behind), max((now or time.time()) - oldest, 0.0)


@dataclass(frozen=True)
class OutboxState:
    undelivered: int
    oldest_age_seconds: float
    read_model_seqs: dict[str, int]


class BacklogCollector(Collector):
    """The backlog gauges, read at scrape time.

    The outbox (undelivered effects and the age of the oldest) is read from the read
    model on the worker's event loop; the scrape runs in the metrics server's thread and
    waits for it a few seconds at most (when the loop or database does not answer, the
    gauges are left out of that scrape rather than holding it).
    """

    def __init__(
        self,
        backlog: ProjectionBacklog,
        read: Callable[[dict[str, int]], Coroutine[Any, Any, OutboxState]],
        loop: asyncio.AbstractEventLoop,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.backlog = backlog
        self.read = read
        self.loop = loop
        self.timeout_seconds = timeout_seconds

    def describe(self) -> Iterable[Metric]:
        return []  # read at scrape time only, not when registered

    def collect(self) -> Iterable[Metric]:
        try:
            future = asyncio.run_coroutine_threadsafe(self.read(self.backlog.wanted()), self.loop)
            state = future.result(timeout=self.timeout_seconds)
        except Exception as exc:  # a scrape must not fail because the database does
            logger.warning("outbox gauges unavailable: %s", type(exc).__name__)
            state = None
        if state is not None:
            self.backlog.settle(state.read_model_seqs)
            yield GaugeMetricFamily(
                UNDELIVERED_EFFECTS, "Effects in the outbox not yet delivered.", value=state.undelivered
            )
            yield GaugeMetricFamily(
                OLDEST_UNDELIVERED,
                "Age of the oldest effect not yet delivered (0 when none).",
                value=state.oldest_age_seconds,
            )
        size, age = self.backlog.size_and_age()
        yield GaugeMetricFamily(
            PROJECTION_BACKLOG,
            "Lifecycles whose read-model projection failed and is being retried.",
            value=size,
        )
        yield GaugeMetricFamily(
            PROJECTION_BACKLOG_AGE,
            "How long the oldest of them has waited (0 when none).",
            value=age,
        )


class ForwardedCollector(Collector):
    """The Temporal SDK's metrics, read from its own exporter on a loopback port at scrape time,
    so the worker has one metrics endpoint."""

    def __init__(self, url: str, timeout_seconds: float = 5.0) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds

    def describe(self) -> Iterable[Metric]:
        return []  # read at scrape time only, not when registered

    def collect(self) -> Iterable[Metric]:
        try:
            with urllib.request.urlopen(self.url, timeout=self.timeout_seconds) as response:
                text = response.read().decode()
        except OSError as exc:
            logger.warning("Temporal SDK metrics unavailable: %s", exc)
            return
        yield from text_string_to_metric_families(text)


API_METRICS = ApiMetrics()
WORKER_METRICS = WorkerMetrics()
