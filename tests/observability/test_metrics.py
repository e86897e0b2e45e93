"""Both metrics endpoints scraped after real transitions, read with prometheus_client's parser.

The counters move by exactly what was done; the timer lateness histogram counts every
timer that fired; the worker's endpoint also carries the Temporal SDK's metrics and the
outbox gauges. No label carries an id or a person.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlmodel import col
from temporalio.testing import WorkflowEnvironment

from services.models import EffectDeliveryRow, EffectRow, EffectStatus, TransitionRow
from services.settings import Environment, Settings
from services.worker_metrics import WorkerMetricsServer, sdk_runtime
from tests.api.test_opportunity_api import LOST, call, open_deal
from tests.channels.test_delivery import FAST_LADDER, invoice
from tests.conftest import ADMIN, TOKENS, Api
from tests.observability.stack import client_for, running_stack
from tests.test_compose import referenced_metrics
from tests.workflows.helpers import eventually
from workflows.engine.types import workflow_id_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def scrape(http: httpx.AsyncClient, url: str = "/metrics") -> tuple[Samples, str]:
    response = await http.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text), response.text


async def test_the_api_counts_transitions_refusals_and_latency(api: Api, entity_id: str):
    before, _ = await scrape(api.http)
    await open_deal(api, entity_id)
    assert (await call(api, LOST, {"id": entity_id, "lossReason": "PRICING"}))["__typename"] == "OpportunityChanged"
    refused = await call(api, LOST, {"id": entity_id, "lossReason": "PRICING"})
    assert refused["__typename"] == "InvalidTransition"
    forbidden = await call(api, LOST, {"id": entity_id, "lossReason": "PRICING"}, role="viewer")
    assert forbidden["__typename"] == "Forbidden"
    bad_cursor = await api.post('{ opportunities(first: 5, after: "not-a-cursor") { totalCount } }', role="viewer")
    assert bad_cursor.json()["errors"][0]["extensions"]["code"] == "ValidationError"
    after, text = await scrape(api.http)

    transitions = "lifecycles_transitions_total"
    assert moved(before, after, transitions, kind="opportunity", trigger="open", outcome="applied") == 1
    assert moved(before, after, transitions, kind="opportunity", trigger="close_lost", outcome="applied") == 1
    assert moved(before, after, transitions, kind="opportunity", trigger="close_lost", outcome="InvalidTransition") == 1
    # The viewer was refused before anything reached Temporal.
    assert (
        sum(v for (n, _), v in after.items() if n == transitions)
        - sum(v for (n, _), v in before.items() if n == transitions)
        == 3
    )
    assert moved(before, after, "lifecycles_refusals_total", code="InvalidTransition") == 1
    assert moved(before, after, "lifecycles_refusals_total", code="Forbidden") == 1
    assert moved(before, after, "lifecycles_refusals_total", code="ValidationError") == 1
    operation = "lifecycles_graphql_operation_duration_seconds_count"
    assert moved(before, after, operation, operation="mutation", field="closeOpportunityLost") == 3
    assert moved(before, after, operation, operation="mutation", field="openOpportunity") == 1
    assert moved(before, after, operation, operation="query", field="opportunities") == 1
    requests = "lifecycles_http_request_duration_seconds_count"
    # 5 GraphQL requests, and the first scrape.
    assert moved(before, after, requests, route="/graphql", method="POST", status="200") == 5
    assert moved(before, after, requests, route="/metrics", method="GET", status="200") == 1
    assert entity_id not in text and "otto@example.com" not in text


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        environment=Environment.TEST,
        database_url=database_url,
        task_queue=f"tq-{uuid.uuid4()}",
        api_tokens=TOKENS,
        effect_routes={"*": ["log"]},
    )


@pytest.fixture
async def worker_endpoint(local_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[tuple[Api, str]]:
    runtime, sdk_url = sdk_runtime()
    client = await client_for(local_env, runtime)
    async with running_stack(client, settings) as api:
        server = WorkerMetricsServer("127.0.0.1:0", api.stack.sessions, sdk_url)
        port = server.start()
        try:
            yield api, f"http://127.0.0.1:{port}/metrics"
        finally:
            server.stop()


async def test_the_worker_counts_timer_lateness_deliveries_and_the_sdk(
    worker_endpoint: tuple[Api, str], entity_id: str
):
    api, url = worker_endpoint
    workflow_id = workflow_id_for("late-payment", entity_id)
    async with httpx.AsyncClient() as http:
        before, _ = await scrape(http, url)
        await api.stack.gateway.open("late-payment", entity_id, invoice(entity_id), principal=ADMIN, policy=FAST_LADDER)

        async def settled() -> tuple[list[Any], list[Any]] | None:
            async with api.stack.sessions() as session:
                timers = (
                    await session.execute(
                        sa.select(TransitionRow).where(
                            col(TransitionRow.workflow_id) == workflow_id, col(TransitionRow.actor) == "timer"
                        )
                    )
                ).scalars()
                effects = (
                    await session.execute(sa.select(EffectRow).where(col(EffectRow.workflow_id) == workflow_id))
                ).scalars()
                timer_rows, effect_rows = list(timers), list(effects)
            done = effect_rows and all(e.status == EffectStatus.DELIVERED for e in effect_rows)
            return (timer_rows, effect_rows) if len(timer_rows) >= 4 and done else None

        timers, effects = await eventually(settled, within=60)
        after, text = await scrape(http, url)

    lateness = "lifecycles_timer_lateness_seconds_count"
    fired: dict[str, int] = {}
    for row in timers:
        name = row.idempotency_key.removeprefix("timer:").partition("@")[0]
        fired[name] = fired.get(name, 0) + 1
    for name, count in fired.items():
        assert moved(before, after, lateness, kind="late-payment", timer=name) == count, name
    assert sum(v for (n, _), v in after.items() if n == lateness) - sum(
        v for (n, _), v in before.items() if n == lateness
    ) == len(timers)

    async with api.stack.sessions() as session:
        channels = (
            await session.execute(
                sa.select(col(EffectDeliveryRow.channel), sa.func.count())
                .where(col(EffectDeliveryRow.effect_id).in_([e.id for e in effects]))
                .group_by(col(EffectDeliveryRow.channel))
            )
        ).all()
    assert channels
    for channel, count in channels:
        assert moved(before, after, "lifecycles_effect_deliveries_total", channel=channel, outcome="delivered") == count
    assert value(after, "lifecycles_undelivered_effects") == 0
    assert value(after, "lifecycles_oldest_undelivered_effect_age_seconds") == 0
    assert value(after, "lifecycles_projection_backlog") == 0
    assert moved(before, after, "lifecycles_projections_total", mode="inline", outcome="ok") >= len(timers) + 1
    # The Temporal SDK's own metrics, forwarded on the same endpoint.
    sdk = {name for name, _ in after if name.startswith("temporal_")}
    assert {"temporal_workflow_task_schedule_to_start_latency_count", "temporal_sticky_cache_size"} <= sdk, sorted(sdk)
    # Every SDK metric the dashboard and the alert rules use is one the worker really exports.
    assert referenced_metrics("temporal_") <= sdk, referenced_metrics("temporal_") - sdk
    assert entity_id not in text and "csm@example.com" not in text
