"""The five benchmarks of issue 8, each measured side by side with its bare limit.

Every function takes the running ``Bench`` and returns a JSON-able dict; none asserts
on a timing. Goals are judged in ``benchmarks/report.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import pickle
import re
import shutil
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import col
from temporalio.api.enums.v1 import EventType

from benchmarks.bare import TASK_QUEUE as BARE_QUEUE
from benchmarks.bare import FiringFloorWorkflow, SleeperWorkflow
from benchmarks.graphql_floor import MUTATION as GRAPHQL_FLOOR_MUTATION
from benchmarks.harness import Bench, run_concurrently
from benchmarks.stack import free_port
from benchmarks.stats import percentiles_ms, ratio, summary_ms
from infra import postgres
from services.db import Sessions, create_engine, engine_of, session_factory, sync_url, upgrade
from services.derived import DERIVED
from services.models import EffectRow, LifecycleRow
from services.pagination import encode_cursor
from services.projection import lifecycle_values, table_of
from services.row_counts import COUNTS
from workflows.engine.instance import LifecycleInstance
from workflows.engine.types import LifecycleSnapshot
from workflows.opportunity import NEW_BUSINESS_STAGES, OPPORTUNITY, OpportunityStage

# ---- 1. transition latency -------------------------------------------------------------


@contextlib.asynccontextmanager
async def _floor_app(b: Bench, name: str, app: str, env: dict[str, str] | None = None) -> AsyncIterator[Any]:
    """A floor's minimal strawberry-on-starlette app under uvicorn (as the API is launched) and
    a client of it; stopped afterwards."""
    port = free_port()
    process = b.stack.spawn_api(name, port, app, env)
    try:
        await b.stack.wait_ready(process, f"http://127.0.0.1:{port}/graphql", name)
        async with b.http_client(f"http://127.0.0.1:{port}") as http:
            yield http
    finally:
        b.stack.stop_processes([name])


async def transition_latency(b: Bench) -> dict[str, Any]:
    """Sequential round trips, interleaved so the sides share the same noise."""
    cfg = b.config
    n = cfg.latency_lifecycles
    ids = b.ids("lat", n)
    for i, entity_id in enumerate(ids):
        await b.open_opportunity(entity_id, i)
    bares = [await b.start_bare(f"bare-lat-{b.run_id}-{i}") for i in range(n)]
    async with _floor_app(b, "graphql_floor", "benchmarks.graphql_floor:create_app") as floor_http:
        ops = {
            "bare_update": lambda k: b.bare_update(bares[k % n]),
            "bare_update_local_activity": lambda k: b.bare_update_local_activity(bares[(k + 2) % n]),
            "graphql_floor": lambda k: b.gql(
                GRAPHQL_FLOOR_MUTATION, {"workflowId": bares[(k + 3) % n].id}, http=floor_http
            ),
            "engine_update": lambda k: b.engine_update(ids[k % n], f"engine {k}"),
            "graphql_transition": lambda k: b.update_opportunity(ids[(k + 1) % n], f"graphql {k}"),
        }
        samples: dict[str, list[float]] = {name: [] for name in ops}
        names = list(ops)
        floor_cpu_before = b.stack.cpu("graphql_floor")
        for k in range(cfg.latency_warmup + cfg.latency_samples):
            # Rotate the order within each round: no side always goes first.
            for name in names[k % len(names) :] + names[: k % len(names)]:
                t0 = time.perf_counter()
                await ops[name](k)
                elapsed = time.perf_counter() - t0
                if k >= cfg.latency_warmup:
                    samples[name].append(elapsed)
        # The floor process serves only its own side: its CPU over the loop is per floor transition.
        floor_cpu = (b.stack.cpu("graphql_floor") - floor_cpu_before) / (cfg.latency_warmup + cfg.latency_samples)
    result: dict[str, Any] = {name: summary_ms(values) for name, values in samples.items()}

    def ratios(base: str, sides: tuple[str, ...]) -> dict[str, dict[str, float]]:
        return {
            side: {q: ratio(result[side][f"{q}_ms"], result[base][f"{q}_ms"]) for q in ("p50", "p95", "p99")}
            for side in sides
        }

    result["ratios"] = ratios(
        "bare_update", ("bare_update_local_activity", "graphql_floor", "engine_update", "graphql_transition")
    )
    result["ratios_vs_local_activity_floor"] = ratios(
        "bare_update_local_activity", ("graphql_floor", "engine_update", "graphql_transition")
    )
    result["ratios_vs_graphql_floor"] = ratios("graphql_floor", ("graphql_transition",))
    result["cost"] = {
        **await transition_cost(b, ids),
        "graphql_floor_cpu_ms_per_transition": round(floor_cpu * 1000, 2),
    }
    result["what"] = (
        "bare_update: a Temporal update that only returns, on a minimal workflow; "
        "bare_update_local_activity: the same with one local activity that does nothing (the floor of "
        "writing inside the update through a local activity); graphql_floor: that update sent by a minimal "
        "strawberry-on-starlette app under uvicorn (benchmarks/graphql_floor.py, the API's server options), "
        "whose one mutation answers a small object; engine_update: the lifecycle workflow's "
        "transition update (validator, apply, local-activity projection) sent with the Temporal client; "
        "graphql_transition: updateOpportunity over HTTP through the API"
    )
    return result


async def transition_cost(b: Bench, ids: list[str]) -> dict[str, Any]:
    """What one transition costs each process in CPU, and what it puts in Temporal's history.

    CPU is read from /proc before and after a run of sequential transitions (so noise from
    other processes does not count, unlike wall time); payload bytes are the update's input,
    its result and the projection's marker, as recorded in the workflow's history.
    """
    n = b.config.latency_samples
    engine_before = b.stack.cpu("worker")
    for k in range(n):
        await b.engine_update(ids[k % len(ids)], f"cost engine {k}")
    worker_engine = (b.stack.cpu("worker") - engine_before) / n
    before = {name: b.stack.cpu(name) for name in ("worker", "api", "temporal")}
    history_before = await _history_size(b, f"opportunity/{ids[0]}")
    for k in range(n):
        await b.update_opportunity(ids[k % len(ids)], f"cost graphql {k}")
    per_graphql = {name: (b.stack.cpu(name) - before[name]) / n for name in before}
    history_after = await _history_size(b, f"opportunity/{ids[0]}")
    on_first = len(range(0, n, len(ids)))  # the transitions that went to ids[0]
    return {
        "transitions": n,
        "temporal_cpu_ms_per_graphql_transition": round(per_graphql["temporal"] * 1000, 2),
        # What one transition adds to the lifecycle's history: events, and their bytes.
        "history_events_per_transition": round((history_after[0] - history_before[0]) / on_first, 2),
        "history_bytes_per_transition": round((history_after[1] - history_before[1]) / on_first),
        "worker_cpu_ms_per_engine_update": round(worker_engine * 1000, 2),
        "worker_cpu_ms_per_graphql_transition": round(per_graphql["worker"] * 1000, 2),
        "api_cpu_ms_per_graphql_transition": round(per_graphql["api"] * 1000, 2),
        "payload_bytes_per_transition": await _update_payload_bytes(b, ids[0]),
    }


async def _history_size(b: Bench, workflow_id: str) -> tuple[int, int]:
    """A workflow's history: how many events, how many bytes."""
    history = await b.client.get_workflow_handle(workflow_id).fetch_history()
    return len(history.events), sum(e.ByteSize() for e in history.events)


async def _update_payload_bytes(b: Bench, entity_id: str) -> dict[str, int]:
    """The payload bytes of the last update in the lifecycle's history, by what carries them."""
    history = await b.client.get_workflow_handle(f"opportunity/{entity_id}").fetch_history()
    last: dict[str, int] = {}
    for recorded in history.events:
        if recorded.HasField("workflow_execution_update_accepted_event_attributes"):
            payloads = recorded.workflow_execution_update_accepted_event_attributes.accepted_request.input.args.payloads
            last = {"update_input": sum(p.ByteSize() for p in payloads)}
        elif recorded.HasField("marker_recorded_event_attributes") and last:
            details = recorded.marker_recorded_event_attributes.details
            last["projection_marker"] = sum(p.ByteSize() for v in details.values() for p in v.payloads)
        elif recorded.HasField("workflow_execution_update_completed_event_attributes") and last:
            outcome = recorded.workflow_execution_update_completed_event_attributes.outcome
            last["update_result"] = sum(p.ByteSize() for p in outcome.success.payloads)
    last["total"] = sum(last.values())
    return last


# ---- 2. throughput ---------------------------------------------------------------------


async def _sustained(op: Any, clients: int, warmup: float, seconds: float) -> dict[str, Any]:
    """``clients`` loops calling ``op(client, k)``; completions per second in the window after warm-up
    (and the latency of those completions)."""
    start = time.perf_counter()
    window_start, window_end = start + warmup, start + warmup + seconds
    done: list[float] = []
    completed = 0

    async def loop(c: int) -> None:
        nonlocal completed
        k = 0
        while time.perf_counter() < window_end:
            t0 = time.perf_counter()
            await op(c, k)
            t1 = time.perf_counter()
            k += 1
            completed += 1
            # Completions inside the window: on a slow machine an operation can outlast it.
            if window_start <= t1 <= window_end:
                done.append(t1 - t0)

    await asyncio.gather(*(loop(c) for c in range(clients)))
    return {"per_second": round(len(done) / seconds, 1), "latency": summary_ms(done), "completed": completed}


async def _with_cpu(b: Bench, roles: tuple[str, ...], run: Any) -> tuple[dict[str, Any], dict[str, float]]:
    """``run()``'s result and the CPU milliseconds each role's processes (all of them, summed)
    spent per operation it completed, read from /proc before and after."""
    names = {role: b.stack.processes_named(role) for role in roles}
    before = {name: b.stack.cpu(name) for group in names.values() for name in group}
    result = await run()
    spent = {role: sum(b.stack.cpu(name) - before[name] for name in group) for role, group in names.items()}
    per_op = {role: round(seconds * 1000 / max(1, result["completed"]), 2) for role, seconds in spent.items()}
    return result, per_op


async def _level(
    b: Bench, clients: int, bares: list[Any], ids: list[str], apis: list[Any], floor_http: Any = None
) -> dict[str, Any]:
    """Bare updates, then the GraphQL floor's (when ``floor_http`` is its client), then GraphQL
    transitions, from ``clients`` loops; client c sends through ``apis[c % len]``."""
    cfg = b.config

    async def side(roles: tuple[str, ...], op: Any) -> tuple[dict[str, Any], dict[str, float]]:
        return await _with_cpu(
            b, roles, lambda: _sustained(op, clients, cfg.throughput_warmup_seconds, cfg.throughput_seconds)
        )

    # One lifecycle (one bare workflow) per client: updates to one workflow are serial by design.
    bare, bare_cpu = await side(("bare", "temporal"), lambda c, k: b.bare_update(bares[c]))
    floor: dict[str, Any] = {}
    if floor_http is not None:
        floor_run, floor_cpu = await side(
            ("graphql_floor", "bare", "temporal"),
            lambda c, k: b.gql(GRAPHQL_FLOOR_MUTATION, {"workflowId": bares[c].id}, http=floor_http),
        )
        floor = {
            "graphql_floor_per_s": floor_run["per_second"],
            "graphql_floor_ratio": ratio(floor_run["per_second"], bare["per_second"]),
            "graphql_floor_latency": floor_run["latency"],
            "cpu_ms_per_graphql_floor_transition": floor_cpu,
        }
    graphql, graphql_cpu = await side(
        ("api", "worker", "temporal"),
        lambda c, k: b.update_opportunity(ids[c], f"tput {c}.{k}", http=apis[c % len(apis)]),
    )
    return {
        "clients": clients,
        "processes": len(apis),
        "bare_updates_per_s": bare["per_second"],
        "graphql_transitions_per_s": graphql["per_second"],
        "ratio": ratio(graphql["per_second"], bare["per_second"]),
        "bare_latency": bare["latency"],
        "graphql_latency": graphql["latency"],
        # CPU ms per operation of each kind of process, summed over its processes.
        "cpu_ms_per_bare_update": bare_cpu,
        "cpu_ms_per_graphql_transition": graphql_cpu,
        **floor,
        **({"ratio_vs_graphql_floor": ratio(graphql["per_second"], floor["graphql_floor_per_s"])} if floor else {}),
    }


async def throughput(b: Bench) -> dict[str, Any]:
    cfg = b.config
    most = max(cfg.throughput_clients)
    ids = b.ids("tput", most)
    with b.phase("lifecycles and bare workflows started"):
        await run_concurrently(most, 8, lambda i: b.open_opportunity(ids[i], i))
        bares = [await b.start_bare(f"bare-tput-{b.run_id}-{i}") for i in range(most)]
    # The GraphQL floor of the latency benchmark, at every level of one process of each: the least
    # a Python GraphQL answer over an update that writes through a local activity costs.
    with b.phase("levels measured"):
        async with _floor_app(b, "graphql_floor", "benchmarks.graphql_floor:create_app") as floor_http:
            levels = [await _level(b, clients, bares, ids, [b.http], floor_http) for clients in cfg.throughput_clients]
    # Horizontal scaling: the most clients again with two workers and two APIs (two bare workers on
    # the bare side), the clients spread over both APIs.
    with b.phase("second worker, bare worker and API up"):
        second_api = await b.stack.scale_out()
    try:
        with b.phase("levels measured"):
            async with b.http_client(second_api) as http:
                scaled = await _level(b, most, bares, ids, [b.http, http])
    finally:
        with b.phase("second worker, bare worker and API stopped"):
            b.stack.scale_in()
    one = next(level for level in levels if level["clients"] == most)
    scaled["graphql_speedup_vs_one_process"] = ratio(
        scaled["graphql_transitions_per_s"], one["graphql_transitions_per_s"]
    )
    scaled["bare_speedup_vs_one_process"] = ratio(scaled["bare_updates_per_s"], one["bare_updates_per_s"])
    return {"levels": levels, "scaled": scaled, "seconds_per_level": cfg.throughput_seconds}


# ---- 3. lists at scale -------------------------------------------------------------------

LIST_QUERY = """
query Pipeline($filter: OpportunityFilter, $orderBy: OpportunityOrder, $after: String) {
  opportunities(filter: $filter, orderBy: $orderBy, first: 20, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name stage owner closeDate summary forecastCategory } }
  }
}"""

OPPORTUNITIES = DERIVED["opportunity"]
COLUMNS = {column.name: column for column in OPPORTUNITIES.exposure.columns}
# What the service's list query filters on: (a declared column or "state"/"owner", the value).
Filter = list[tuple[Any, Any]]

# name -> (GraphQL filter, order, the service's filter)
LIST_SHAPES: dict[str, tuple[dict[str, Any], str, Filter]] = {
    "two stages from a close date, by close date": (
        {"stage": ["SOLUTION_AGREEMENT", "PRIORITY_AGREEMENT"], "closeDateFrom": "2026-07-01"},
        "CLOSE_DATE_ASC",
        [
            ("state", ["SOLUTION_AGREEMENT", "PRIORITY_AGREEMENT"]),
            (COLUMNS["close_date"], (date(2026, 7, 1), None)),
        ],
    ),
    "one owner, by close date": (
        {"owner": "owner-7@bench.example"},
        "CLOSE_DATE_ASC",
        [("owner", "owner-7@bench.example")],
    ),
    "one account, latest close first": (
        {"accountId": "fill-acct-42"},
        "CLOSE_DATE_DESC",
        [(COLUMNS["account_id"], "fill-acct-42")],
    ),
    "commit forecast, by close date": (
        {"forecastCategory": ["COMMIT"]},
        "CLOSE_DATE_ASC",
        [(COLUMNS["forecast_category"], ["COMMIT"])],
    ),
    "everything, recently updated first": ({}, "UPDATED_AT_DESC", []),
}

FILL_STAGES = [*NEW_BUSINESS_STAGES, OpportunityStage.CLOSED_WON, OpportunityStage.CLOSED_LOST]
FORECASTS = ["PIPELINE", "BEST_CASE", "COMMIT", "OMITTED"]


def _template(now: datetime) -> LifecycleSnapshot:
    instance = LifecycleInstance.open(
        OPPORTUNITY,
        "fill-template",
        {
            "name": "Template",
            "account": {"id": "fill-acct-0", "name": "Account 0"},
            "owner": "owner-0@bench.example",
            "close_date": "2027-01-01",
            "amount": "10000",
        },
        {},
        now,
        actor="fill@bench.example",
    )
    return instance.snapshot(now)


def _prototypes(now: datetime) -> dict[OpportunityStage, tuple[dict[str, Any], dict[str, Any]]]:
    """Per stage, the lifecycle row and the opportunity row the projection writes for the template."""
    template = _template(now)
    out = {}
    for stage in FILL_STAGES:
        snapshot = template.model_copy(
            update={
                "state": stage,
                "terminal": stage in (OpportunityStage.CLOSED_WON, OpportunityStage.CLOSED_LOST),
                "deadlines": [],
                "next_deadline": None,
            }
        )
        out[stage] = (lifecycle_values(snapshot), OPPORTUNITIES.project(snapshot))
    return out


def fill_rows(start: int, stop: int, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for lifecycles start..stop-1: the projection's rows of the template at the row's stage,
    with the fields that vary by row set as the projection sets them (tests/test_benchmarks.py
    checks them against the projection itself). Built a million times, so no model per row."""
    prototypes = _prototypes(now)
    lifecycles, opportunities = [], []
    for i in range(start, stop):
        account = f"fill-acct-{(i * 7) % 5000}"
        owner = f"owner-{i % 50}@bench.example"
        close_date = date(2026, 1, 1) + timedelta(days=(i * 7919) % 730)
        amount = 1000 + (i * 104729) % 200_000
        forecast = FORECASTS[(i // 3) % 4]
        updated_at = now - timedelta(seconds=(i * 7877) % 1_000_000)
        stage = FILL_STAGES[(i * 31) % len(FILL_STAGES)]
        lifecycle, opportunity = prototypes[stage]
        workflow_id = f"opportunity/fill-{i}"
        data = {
            **lifecycle["data"],
            "name": f"Fill deal {i}",
            "account": {"id": account, "name": f"Account {account}"},
            "owner": owner,
            "close_date": close_date.isoformat(),
            "amount": str(amount),
            "forecast_category": forecast,
        }
        lifecycles.append(
            {
                **lifecycle,
                "workflow_id": workflow_id,
                "entity_id": f"fill-{i}",
                "owner": owner,
                "account_id": account,
                "account_name": f"Account {account}",
                "summary": f"{data['name']} · Account {account}",
                "updated_at": updated_at,
                "data": data,
            }
        )
        opportunities.append(
            {
                **opportunity,
                "workflow_id": workflow_id,
                "owner": owner,
                "name": data["name"],
                "forecast_category": forecast,
                "account_id": account,
                "amount_cents": amount * 100,
                "arr_cents": amount * 100,
                "close_date": close_date,
                "updated_at": updated_at,
            }
        )
    return lifecycles, opportunities


async def fill_in_thread(database_url: str, start: int, stop: int) -> dict[str, float]:
    """``fill`` in a thread of its own. Cancelled (Ctrl-C, SIGTERM), it does not run on behind the
    run's unwinding: SQLite aborts the statement under way, and a PostgreSQL fill ends with its
    server, which the unwinding stops."""
    abandoned = threading.Event()
    try:
        return await asyncio.to_thread(fill, database_url, start, stop, abandoned)
    finally:
        abandoned.set()  # once the fill is done, nothing is left to abort


def fill(database_url: str, start: int, stop: int, abandoned: threading.Event | None = None) -> dict[str, float]:
    """Bulk-insert lifecycles start..stop-1 into the read model; the seconds of each step and in all.

    The first ``FILL_BLOCK`` are built in Python (``fill_rows``) and inserted through the
    driver (PostgreSQL: ``COPY``); the rest are copies of them under new ids, made by the
    database itself (``INSERT ... SELECT``, doubling), so a million rows hold the base block's
    mix of stages, owners, accounts, dates and forecasts. The secondary indexes are dropped
    for the fill and built again after it: one sort each instead of random B-tree inserts.
    """
    steps: dict[str, float] = {}
    clock = _Steps(steps)
    engine = sa.create_engine(sync_url(database_url))
    if abandoned is not None and engine.dialect.name == "sqlite":
        # Checked every 100,000 virtual-machine steps: a true answer aborts the statement.
        sa.event.listen(
            engine, "connect", lambda connection, _: connection.set_progress_handler(abandoned.is_set, 100_000)
        )
    now = datetime.now(UTC)
    tables = (LifecycleRow.__table__, table_of(OPPORTUNITIES.table))
    with engine.begin() as conn:
        indexes = [index for table in tables for index in table.indexes]
        for index in indexes:
            index.drop(conn)
        built = min(stop, FILL_BLOCK)
        with clock("base rows"):
            if start < built:
                for table, rows in zip(tables, fill_rows(start, built, now), strict=True):
                    _insert(conn, table, rows)
        filled = max(start, built)
        with clock("copies"):
            while filled < stop:
                copied = min(filled, stop - filled)
                for table in tables:
                    _copy_rows(conn, table, copied, filled)
                filled += copied
        with clock("indexes"):
            for index in indexes:
                index.create(conn)
        with clock("analyze"):
            conn.exec_driver_sql("ANALYZE")
    if engine.dialect.name == "postgresql":
        # What autovacuum does to a table in steady state: the visibility map that lets a count
        # read an index alone (a freshly copied table has none). VACUUM runs outside a transaction.
        with clock("vacuum"), engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.exec_driver_sql(f"VACUUM ANALYZE {table.name}")
    engine.dispose()
    steps["total"] = round(time.perf_counter() - clock.started, 1)
    return steps


class _Steps:
    """Times named steps into ``steps`` (seconds, one decimal)."""

    def __init__(self, steps: dict[str, float]) -> None:
        self.steps = steps
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.steps[name] = round(self.steps.get(name, 0.0) + time.perf_counter() - t0, 1)


FILL_BLOCK = 10_000


def _copy_rows(conn: sa.Connection, table: Any, count: int, offset: int) -> None:
    """Copy fill rows 0..count-1 as rows offset..offset+count-1 (only their ids change)."""
    number = sa.cast(sa.func.substr(table.c.workflow_id, len("opportunity/fill-") + 1), sa.Integer)
    renamed = {
        "workflow_id": sa.literal("opportunity/fill-") + sa.cast(number + offset, sa.String),
        "entity_id": sa.literal("fill-") + sa.cast(number + offset, sa.String),
    }
    columns = [c for c in table.columns if not (c.primary_key and c.autoincrement is True and c.name == "id")]
    selected = sa.select(*(renamed.get(c.name, c) for c in columns)).where(
        table.c.workflow_id.like("opportunity/fill-%"), number < count
    )
    conn.execute(sa.insert(table).from_select([c.name for c in columns], selected))


def _insert(conn: sa.Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` through the driver itself (PostgreSQL: ``COPY``), each value converted
    as SQLAlchemy binds it. The rows of a chunk share most values (their prototype's policy,
    deadlines, timestamps): each object is converted once (by identity: ``rows`` keeps every
    one of them alive, so no id is reused during the call)."""
    columns = list(table.columns)
    convert = [c.type.bind_processor(conn.dialect) for c in columns]
    converted: dict[int, Any] = {}

    def value(row: dict[str, Any], column: Any, process: Any) -> Any:
        raw = row.get(column.name)
        if raw is None:
            return None
        key = id(raw)
        if key not in converted:
            plain = raw.value if isinstance(raw, Enum) else raw  # a stage: the string the ORM stores
            if process is not None:
                converted[key] = process(plain)
            else:
                # psycopg's dialect leaves JSON to the driver, which COPY does not reach.
                converted[key] = json.dumps(plain) if isinstance(plain, dict | list) else plain
        return converted[key]

    def tuples() -> Iterator[list[Any]]:
        for row in rows:
            yield [value(row, c, f) for c, f in zip(columns, convert, strict=True)]

    names = ", ".join(f'"{c.name}"' for c in columns)
    cursor = conn.connection.driver_connection.cursor()
    if conn.dialect.name == "postgresql":
        with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in tuples():
                copy.write_row(row)
    else:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})", tuples())


def unfill(database_url: str) -> None:
    """Remove the filled rows. As for the fill, the secondary indexes are dropped first and built
    again after: deleting from each of them row by row cost more than the fill itself."""
    engine = sa.create_engine(sync_url(database_url))
    tables = (table_of(OPPORTUNITIES.table), LifecycleRow.__table__)
    with engine.begin() as conn:
        indexes = [index for table in tables for index in table.indexes]
        for index in indexes:
            index.drop(conn)
        for table in tables:
            conn.execute(sa.delete(table).where(table.c.workflow_id.like("opportunity/fill-%")))
        for index in indexes:
            index.create(conn)
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


@dataclass
class ListTarget:
    """One read-model database with the API serving it: a SQLite file, or PostgreSQL."""

    name: str
    database_url: str
    api: httpx.AsyncClient
    sessions: Sessions
    raw: Any  # a DB-API connection of the database's sync driver (sqlite3, psycopg)
    # The list floor (``list_floor.py``) on the same database, and where it reads the statements.
    floor: httpx.AsyncClient
    statements: Path

    def size(self) -> int:
        """The database's bytes on disk."""
        if self.name == "SQLite":
            pages = self.raw.execute("PRAGMA page_count").fetchone()[0]
            return int(pages * self.raw.execute("PRAGMA page_size").fetchone()[0])
        row = self.raw.execute("SELECT pg_database_size(current_database())").fetchone()
        return int(row[0])

    def plan(self, statement: str, parameters: Any) -> list[str]:
        if self.name == "SQLite":
            return [row[3] for row in self.raw.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()]
        return [row[0].strip() for row in self.raw.execute(f"EXPLAIN {statement}", parameters).fetchall()]

    def uses_indexes(self, plan: list[str]) -> bool:
        """Every table access goes through an index (a SCAN of a table by itself reads it all).

        Reading all of ``row_counts`` (an unfiltered list's total) is no such scan: it holds a
        few rows per list table (services/row_counts.py), however many rows the lists have.
        """
        plan = [line for line in plan if not re.search(rf"\b{COUNTS.name}\b", line)]
        if self.name != "SQLite":
            return not any("Seq Scan" in line for line in plan)
        for line in plan:
            if (line.startswith("SCAN") or line.startswith("SEARCH")) and not any(
                word in line for word in ("USING INDEX", "USING COVERING INDEX", "USING INTEGER PRIMARY KEY")
            ):
                if "SUBQUERY" in line or line.startswith("SCAN CONSTANT ROW"):
                    continue
                return False
        return True

    def sorts_in_memory(self, plan: list[str]) -> bool:
        if self.name == "SQLite":
            return any("TEMP B-TREE" in line for line in plan)
        return any(line.removeprefix("->").strip().startswith("Sort") for line in plan)


async def _captured_statements(target: ListTarget, f: Filter, order: str, after: str | None) -> Any:
    """The SQL (and bound parameters) the service sends for one page, and the page's end cursor."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        captured.append((statement, parameters))

    engine = engine_of(target.sessions)
    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with target.sessions() as session:
            page = await session.run_sync(OPPORTUNITIES.read_page, f, order, first=20, after=after, max_page_size=100)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    return captured, (encode_cursor(page.keys[-1]) if page.keys else None)


FLOOR_QUERY = """
query Floor($statements: String!, $shape: String!, $page: Int!) {
  opportunities(statements: $statements, shape: $shape, page: $page) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name stage owner closeDate summary forecastCategory } }
  }
}"""


async def _time_shape(
    b: Bench, target: ListTarget, statements: str, name: str, pages: Any, gql_filter: Any, order: str
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Pages 1 and 2 of one shape, in turns, from the API, the floor and raw SQL: each side's
    durations in seconds, and its last answer."""
    samples: dict[str, list[float]] = {"graphql": [], "floor": [], "raw_sql": []}
    answers: dict[str, Any] = {}

    async def service(k: int) -> None:
        variables = {"filter": gql_filter, "orderBy": order, "after": pages[k % 2][0]}
        answers["graphql"] = await b.gql(LIST_QUERY, variables, http=target.api)

    async def floor(k: int) -> None:
        variables = {"statements": statements, "shape": name, "page": k % 2}
        answers["floor"] = await b.gql(FLOOR_QUERY, variables, http=target.floor)

    async def raw_sql(k: int) -> None:
        for statement, parameters in pages[k % 2][1]:
            target.raw.execute(statement, parameters).fetchall()

    sides: dict[str, Callable[[int], Awaitable[None]]] = {"graphql": service, "floor": floor, "raw_sql": raw_sql}
    names = list(sides)
    for k in range(b.config.list_warmup + b.config.list_samples):
        # Rotate the order within each round: no side always goes first.
        for side in names[k % 3 :] + names[: k % 3]:
            t0 = time.perf_counter()
            await sides[side](k)
            if k >= b.config.list_warmup:
                samples[side].append(time.perf_counter() - t0)
    return samples, answers


async def _list_size(b: Bench, target: ListTarget, rows: int) -> dict[str, Any]:
    captured = {}
    for name, (_, order, service_filter) in LIST_SHAPES.items():
        # Page 1, and page 2 from page 1's cursor: both the GraphQL variables and the raw SQL.
        first_sql, cursor = await _captured_statements(target, service_filter, order, None)
        second_sql, _ = await _captured_statements(target, service_filter, order, cursor)
        captured[name] = [(None, first_sql), (cursor, second_sql)]
    statements = f"{rows}-rows.pickle"
    (target.statements / statements).write_bytes(
        pickle.dumps({(name, page): pages[page][1] for name, pages in captured.items() for page in (0, 1)})
    )
    shapes = []
    for name, (gql_filter, order, _) in LIST_SHAPES.items():
        pages = captured[name]
        samples, answers = await _time_shape(b, target, statements, name, pages, gql_filter, order)
        service_page, floor_page = answers["graphql"]["opportunities"], answers["floor"]["opportunities"]
        plans = [
            {"sql": " ".join(statement.split()), "plan": target.plan(statement, parameters)}
            for statement, parameters in pages[0][1] + pages[1][1]
        ]
        graphql, floor_summary, raw = (summary_ms(samples[side]) for side in ("graphql", "floor", "raw_sql"))
        shapes.append(
            {
                "name": name,
                "matching_rows": service_page["totalCount"],
                "graphql": graphql,
                "floor": floor_summary,
                "raw_sql": raw,
                # The floor answered the same page: the same total and the same nodes.
                "floor_same_page": floor_page["totalCount"] == service_page["totalCount"]
                and floor_page["edges"] == service_page["edges"],
                "ratio_p50": ratio(graphql["p50_ms"], raw["p50_ms"]),
                "ratio_p99": ratio(graphql["p99_ms"], raw["p99_ms"]),
                "floor_ratio_p50": ratio(graphql["p50_ms"], floor_summary["p50_ms"]),
                "floor_ratio_p99": ratio(graphql["p99_ms"], floor_summary["p99_ms"]),
                "plans": plans,
                "uses_indexes": all(target.uses_indexes(p["plan"]) for p in plans),
                "sorts_in_memory": any(target.sorts_in_memory(p["plan"]) for p in plans),
            }
        )
    return {"rows": rows, "shapes": shapes}


# The two list databases are set up side by side; Alembic's ``context`` is one per process.
_MIGRATING = threading.Lock()


def _migrate(url: str) -> None:
    with _MIGRATING:
        upgrade(url)


@contextlib.asynccontextmanager
async def _list_target(b: Bench, name: str, url: str, raw: Any) -> AsyncIterator[ListTarget]:
    """The read model's schema at ``url``, served by an API process of its own (as deployed) and
    by the list floor (``list_floor.py``), both launched at once."""
    await asyncio.to_thread(_migrate, url)
    api_name, floor_name = f"{name.lower()}-api", f"{name.lower()}-floor"
    statements = b.stack.dir / f"{floor_name}-statements"
    statements.mkdir()
    api_port, floor_port = free_port(), free_port()
    api_env = {"LIFECYCLES_DATABASE_URL": url, "LIFECYCLES_API_PORT": str(api_port)}
    api = b.stack.spawn_api(api_name, api_port, env=api_env)
    floor = b.stack.spawn_api(
        floor_name,
        floor_port,
        "benchmarks.list_floor:create_app",
        {"BENCH_LIST_STATEMENTS": str(statements), "LIFECYCLES_DATABASE_URL": url},
    )
    engine = create_engine(url)
    try:
        await asyncio.gather(
            b.stack.wait_ready(api, f"http://127.0.0.1:{api_port}/readyz", api_name),
            b.stack.wait_ready(floor, f"http://127.0.0.1:{floor_port}/graphql", floor_name),
        )
        async with (
            b.http_client(f"http://127.0.0.1:{api_port}") as api_http,
            b.http_client(f"http://127.0.0.1:{floor_port}") as floor_http,
        ):
            yield ListTarget(name, url, api_http, session_factory(engine), raw, floor_http, statements)
    finally:
        b.stack.stop_processes([api_name, floor_name])
        await engine.dispose()
        shutil.rmtree(statements, ignore_errors=True)


@contextlib.asynccontextmanager
async def _sqlite(b: Bench) -> AsyncIterator[ListTarget]:
    """A SQLite file of its own beside the stack's read model: removed afterwards, rather than a
    million rows deleted from the stack's (which took longer than filling them)."""
    path = b.stack.dir / "lists.db"
    raw = sqlite3.connect(path)
    try:
        async with _list_target(b, "SQLite", f"sqlite+aiosqlite:///{path}", raw) as target:
            yield target
    finally:
        raw.close()
        for leftover in (path, path.with_name(f"{path.name}-wal"), path.with_name(f"{path.name}-shm")):
            leftover.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def _postgresql(b: Bench) -> AsyncIterator[tuple[ListTarget | None, dict[str, Any]]]:
    """A PostgreSQL server of its own with the read model's schema, served by an API process of
    its own; (None, why) when PostgreSQL is not installed."""
    starting = asyncio.ensure_future(asyncio.to_thread(postgres.PostgresServer))
    try:
        server = await asyncio.shield(starting)
    except postgres.PostgresMissing as missing:
        yield None, {"skipped": f"{missing}: the PostgreSQL lists were not measured"}
        return
    except asyncio.CancelledError:
        # Interrupted while the thread starts the server: stopped once it has started.
        with contextlib.suppress(Exception):
            (await starting).stop()
        raise
    try:
        url = await asyncio.to_thread(server.create_database, "readmodel")
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as raw:
            async with _list_target(b, "PostgreSQL", url, raw) as target:
                version = raw.execute("SHOW server_version").fetchone()
                yield target, {"server_version": version[0] if version else None}
    finally:
        await asyncio.to_thread(server.stop)


async def lists(b: Bench) -> dict[str, Any]:
    """Fill a read model by bulk insert, then time each query shape at each size, on SQLite and on
    PostgreSQL, each a database of its own served by an API process of its own. Both databases are
    filled at once (nothing is timed meanwhile), then measured one after the other."""
    found: dict[str, dict[str, Any]] = {"sqlite": {"sizes": []}}
    resources = contextlib.AsyncExitStack()
    try:
        with b.phase("databases and their APIs up"):
            # Side by side: the PostgreSQL cluster's initdb and the API processes' imports wait
            # on different things.
            async with asyncio.TaskGroup() as group:
                sqlite_up = group.create_task(resources.enter_async_context(_sqlite(b)))
                pg_up = group.create_task(resources.enter_async_context(_postgresql(b)))
            sqlite, (pg, facts) = sqlite_up.result(), pg_up.result()
        found["postgresql"] = {**facts, **({"sizes": []} if pg else {})}
        targets = {"sqlite": sqlite, **({"postgresql": pg} if pg else {})}
        filled = 0
        for rows in b.config.list_sizes:
            with b.phase(f"fill to {rows:,} rows ({' and '.join(t.name for t in targets.values())} at once)"):
                steps = await asyncio.gather(
                    *(fill_in_thread(target.database_url, filled, rows) for target in targets.values())
                )
            filled = rows
            for (key, target), fill_steps in zip(targets.items(), steps, strict=True):
                with b.phase(f"{target.name} measured"):
                    size = await _list_size(b, target, rows)
                size["fill_seconds"] = fill_steps["total"]
                size["fill_steps_seconds"] = fill_steps
                size["database_bytes"] = target.size()
                found[key]["sizes"].append(size)
    finally:
        with b.phase("databases and their APIs stopped"):
            await resources.aclose()
    return {
        **found,
        "what": "GraphQL: the opportunities query (20 a page, totalCount, 7 fields) over HTTP through the API; "
        "floor: a minimal strawberry-on-starlette endpoint (benchmarks/list_floor.py, uvicorn as the API) "
        "running the same statements on one connection of the same driver and returning the same fields; "
        "raw SQL: the same statements (the page with its total; the count of an empty page) on the database's "
        "sync driver from the benchmark. "
        "Each database (a SQLite file, a PostgreSQL server) has its own API process, launched as the "
        "stack's is; both are filled at the same time (fill times overlap)",
    }


# ---- 4. timer lateness -------------------------------------------------------------------


def _lateness(applied: list[datetime], due: datetime) -> dict[str, Any]:
    ms = [(a - due).total_seconds() * 1000 for a in applied]
    return {
        **percentiles_ms(ms, 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "min_ms": round(min(ms), 1) if ms else None,
    }


async def _rate(n: int, concurrency: int, op: Any) -> float:
    t0 = time.perf_counter()
    await run_concurrently(n, concurrency, op)
    return n / (time.perf_counter() - t0)


async def _sleepers(
    b: Bench, n: int, workflow: Any, prefix: str, label: str, burst_rate: float | None = None
) -> dict[str, Any]:
    """N minimal workflows (``bare.py``) due at one moment; their lateness on the workflow clock.

    The moment is set from the rate their starts are expected at: ``burst_rate``, that of an
    earlier burst of as many (the bare sleepers', for the firing floor); else the bare start
    rate the start benchmark measured; else a small calibrating batch's."""
    cfg = b.config
    # Started as many at a time as the lifecycles are: the starts are setup, not measured.
    concurrency = cfg.concurrency * 2
    if burst_rate is not None:
        rate = burst_rate
    elif b.bare_start_rate is not None:
        rate = b.bare_start_rate
    else:
        with b.phase(f"{label}: calibration"):
            calibration = max(5, n // 10)
            rate = await _rate(calibration, concurrency, lambda i: b.start_bare(f"bare-cal-{prefix}-{b.run_id}-{i}"))
    setup_start = time.time()
    # Bare starts slow down as the server fills, more than a small batch shows: a wide margin
    # then; a narrower one after a burst of as many (its rate includes the slowdown).
    margin = 1.35 if burst_rate is None else 1.15
    due = datetime.now(UTC) + timedelta(seconds=1.5 + margin * n / rate)
    handles: list[Any] = [None] * n

    async def start(i: int) -> None:
        handles[i] = await b.client.start_workflow(
            workflow, due.isoformat(), id=f"{prefix}-{b.run_id}-{i}", task_queue=BARE_QUEUE
        )

    with b.phase(f"{label}: starts"):
        await run_concurrently(n, concurrency, start)
    setup_end = time.time()
    with b.phase(f"{label}: idle until due"):
        await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
    woke: list[str] = [""] * n

    async def result(i: int) -> None:
        woke[i] = await handles[i].result()

    # A few results long-polled at a time: the server caps concurrent pollers.
    with b.phase(f"{label}: burst drained and read"):
        await run_concurrently(n, cfg.concurrency, result)
    applied = [datetime.fromisoformat(w) for w in woke]
    with b.phase(f"{label}: histories counted"):
        per_firing = await _firing_work(b, [f"{prefix}-{b.run_id}-{i}" for i in range(min(n, FIRING_SAMPLE))])
    return {
        **_lateness(applied, due),
        # The start rate the moment was set from, and the one the burst's starts had.
        "calibrated_starts_per_s": round(rate, 1),
        "starts_per_s": round(n / (setup_end - setup_start), 1),
        "setup_seconds": round(setup_end - setup_start, 1),
        "setup_overran": setup_end > due.timestamp() - 1,
        "idle_before_due_s": round(due.timestamp() - setup_end, 1),
        "drained_in_s": round((max(applied) - due).total_seconds(), 2),
        "per_firing": per_firing,
    }


# Histories read per side to count a firing's work (they agree to the event: a firing is deterministic).
FIRING_SAMPLE = 5


async def _firing_work(b: Bench, workflow_ids: list[str]) -> dict[str, Any]:
    """What one timer firing put in Temporal's history: every event from the last TimerFired on.

    Each workflow task is one dispatch to a worker and one history write on the server
    (scheduled, started, completed); each activity task another dispatch; local activities
    are markers inside a workflow task. The figures are the mean over those of ``workflow_ids``
    whose timer fired.
    """
    totals: dict[str, float] = {}
    example: list[str] = []
    counted = 0
    for workflow_id in workflow_ids:
        history = await b.client.get_workflow_handle(workflow_id).fetch_history()
        fired = [i for i, e in enumerate(history.events) if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED]
        if not fired:
            continue  # started after its moment (a setup that overran it): it never slept
        counted += 1
        events = history.events[fired[-1] :]
        types = [EventType.Name(e.event_type).removeprefix("EVENT_TYPE_").lower() for e in events]
        counts = {
            "history_events": len(types),
            "workflow_tasks": types.count("workflow_task_completed"),
            "activity_tasks": types.count("activity_task_scheduled"),
            "local_activities": types.count("marker_recorded"),
            "timers_started": types.count("timer_started"),
        }
        for key, value in counts.items():
            totals[key] = totals.get(key, 0) + value
        example = example or types
    per_firing: dict[str, Any] = {k: round(v / max(1, counted), 2) for k, v in totals.items()}
    per_firing["histories"] = counted
    per_firing["example_events"] = example
    return per_firing


def _timer_deal(i: int, last_reply: datetime) -> dict[str, Any]:
    return {
        "name": f"Timer deal {i}",
        "account": {"id": f"timer-acct-{i % 100}", "name": "Timer account"},
        "owner": "timers@bench.example",
        "close_date": "2031-01-01",
        "amount": "10000",
        "last_customer_reply_at": last_reply.isoformat(),
    }


async def _start_and_wait(b: Bench, prefix: str, ids: list[str], data: Any, expect: int | None = None) -> None:
    """Start the workflows (as the gateway would) and wait until ``expect`` openings of
    ``prefix`` (all of ``ids`` by default) are projected."""
    await run_concurrently(len(ids), b.config.concurrency * 2, lambda i: b.start_lifecycle(ids[i], data(i)))
    await b.wait_projected(prefix, len(ids) if expect is None else expect, within=120 + len(ids) / 5)


# What a reading of the idle worker's memory takes: a second to settle, then the reading.
IDLE_READING_SECONDS = 1.5


async def _idle_reading(b: Bench, count: int, *, after_burst: bool) -> dict[str, Any]:
    rss = await _settled_rss(b, "worker", 1)
    return {"idle_lifecycles": count, "after_burst": after_burst, "worker_rss_mb": round(rss / 2**20, 1)}


async def _nudges_applied(b: Bench, n: int) -> list[datetime]:
    """When each of the burst's ``n`` nudges was applied, once all are in the read model (or the
    time allowed has passed). While they drain, only their number is polled: reading every
    timestamp twice a second would add work of the benchmark's own to the burst it measures."""
    nudges = sa.and_(
        EffectRow.name == "silence_nudge", col(EffectRow.workflow_id).startswith(f"opportunity/timer-{b.run_id}-")
    )
    deadline = time.monotonic() + 120 + n / 5
    async with b.sessions() as session:
        while time.monotonic() < deadline:
            if (await session.execute(sa.select(sa.func.count()).where(nudges))).scalar_one() >= n:
                break
            await session.rollback()  # a fresh read next time
            await asyncio.sleep(0.5)
        result = await session.execute(sa.select(col(EffectRow.created_at)).where(nudges))
        return [row[0] for row in result.all()]


async def _lifecycle_timers(b: Bench, n: int) -> dict[str, Any]:
    calibration = max(5, n // 20)
    far = datetime.now(UTC)  # calibration and extra idle deals: their nudge is 14 days away
    t0 = time.perf_counter()
    with b.phase("lifecycles: calibration"):
        await _start_and_wait(
            b, f"timer-cal-{b.run_id}-", b.ids("timer-cal", calibration), lambda i: _timer_deal(i, far)
        )
    # A small batch starts faster than thousands do (the server and the worker's cache fill
    # up): the open rate measured over more lifecycles, when there is one, keeps the setup
    # from overrunning the moment, which would fire timers among the starts.
    rate = min(calibration / (time.perf_counter() - t0), b.open_rate or math.inf)
    setup_start = time.time()
    # The memory readings among the starts take their time too (each settles for a second).
    readings = sum(1 for c in b.config.idle_counts if c <= n)
    setup = 1 + 1.2 * n / rate + IDLE_READING_SECONDS * readings
    due = (datetime.now(UTC) + timedelta(seconds=setup)).replace(microsecond=0) + timedelta(seconds=1)
    # The silence ladder's first nudge falls due 14 days (the default policy) after the last
    # customer reply: a reply recorded as of due - 14 days puts every nudge at ``due``.
    last_reply = due - timedelta(days=14)
    ids = b.ids("timer", n)
    # While they wait for their moment these lifecycles are idle: the worker's memory is
    # read as their number passes each of the configured idle counts (benchmark 5).
    idle: list[dict[str, Any]] = []
    started = 0
    for count in sorted({*(c for c in b.config.idle_counts if c < n), n}):
        batch = ids[started:count]
        with b.phase("lifecycles: starts"):
            await _start_and_wait(
                b, f"timer-{b.run_id}-", batch, lambda i, batch=batch: _timer_deal(i, last_reply), expect=count
            )
        started = count
        if count in b.config.idle_counts:
            with b.phase("lifecycles: idle memory read"):
                idle.append(await _idle_reading(b, count, after_burst=False))
    setup_end = time.time()
    with b.phase("lifecycles: idle until due"):
        await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
    workflow_ids = [f"opportunity/{entity_id}" for entity_id in ids]
    with b.phase("lifecycles: burst drained into the read model"):
        applied = await _nudges_applied(b, n)
    visible = time.time()
    high_water_mb = round(b.stack.rss_high_water("worker") / 2**20, 1)
    missing = n - len(applied)
    # Idle counts beyond the burst: more lifecycles whose first deadline is two weeks away.
    # The burst itself raises the worker's high-water mark (a thousand workflow tasks and
    # deliveries in flight at once), so these are compared with a reading taken after it.
    beyond = sorted(c for c in b.config.idle_counts if c > n)
    if beyond:
        with b.phase("lifecycles: idle memory read"):
            idle.append(await _idle_reading(b, n, after_burst=True))
    for count in beyond:
        extra = b.ids("idle", count - started, start=started - n)
        with b.phase("lifecycles: more idle lifecycles started"):
            await _start_and_wait(b, f"idle-{b.run_id}-", extra, lambda i: _timer_deal(i, far), expect=count - n)
        started = count
        with b.phase("lifecycles: idle memory read"):
            idle.append(await _idle_reading(b, count, after_burst=True))
    with b.phase("lifecycles: histories counted"):
        per_firing = await _firing_work(b, workflow_ids[:FIRING_SAMPLE])
    return {
        **_lateness(applied, due),
        "missing": missing,
        "calibrated_starts_per_s": round(rate, 1),
        "setup_seconds": round(setup_end - setup_start, 1),
        "setup_overran": setup_end > due.timestamp() - 1,
        "idle_before_due_s": round(due.timestamp() - setup_end, 1),
        "drained_in_s": round((max(applied) - due).total_seconds(), 2) if applied else None,
        "all_in_read_model_after_s": round(visible - due.timestamp(), 1),
        "idle_memory": idle,
        "workflow_ids_sample": workflow_ids[:2],
        "per_firing": per_firing,
        # The worker's peak RSS since it started, read once the burst has drained.
        "worker_rss_high_water_mb": high_water_mb,
    }


def cron_poller(interval_s: float, subject: dict[str, Any]) -> dict[str, Any]:
    """A poller every ``interval_s`` finds a due moment at its next tick (uniform phase), then does the same work."""
    return {
        "interval_s": interval_s,
        "p50_ms": round(0.5 * interval_s * 1000 + subject["p50_ms"], 1),
        "p99_ms": round(0.99 * interval_s * 1000 + subject["p99_ms"], 1),
        "max_ms": round(interval_s * 1000 + (subject["max_ms"] or 0), 1),
    }


async def timer_lateness(b: Bench) -> dict[str, Any]:
    n = b.config.timer_count
    bare = await _sleepers(b, n, SleeperWorkflow.run, "bare-timer", "bare sleepers")
    floor = await _sleepers(
        b, n, FiringFloorWorkflow.run, "floor-timer", "firing floor", burst_rate=bare["starts_per_s"]
    )
    subject = await _lifecycle_timers(b, n)
    return {
        "count": n,
        "bare_sleepers": bare,
        "firing_floor": floor,
        "lifecycles": subject,
        "ratios": {q: ratio(subject[f"{q}_ms"], bare[f"{q}_ms"]) for q in ("p50", "p95", "p99", "max")},
        "ratios_vs_firing_floor": {
            q: ratio(subject[f"{q}_ms"], floor[f"{q}_ms"]) for q in ("p50", "p95", "p99", "max")
        },
        "cron_poller_model": [cron_poller(60, subject), cron_poller(3600, subject)],
        "what": "applied - due, on the workflow clock: the silence ladder's first nudge of N opportunities "
        "due at one moment (recorded in the read model) against N minimal workflows sleeping until the "
        "same kind of moment (bare sleepers) and N that sleep, then run one no-op activity (the firing "
        "floor: the least a firing that changes state and delivers a notification needs; woken at the "
        "same point a lifecycle records its transition); the cron figures are a model (next tick of a "
        "poller doing the same work)",
    }


# ---- 5. start rate and memory ---------------------------------------------------------------


async def _settled_rss(b: Bench, name: str, seconds: float = 3) -> int:
    await asyncio.sleep(seconds)
    gc.collect()
    return b.stack.rss(name)


async def starts_and_memory(b: Bench) -> dict[str, Any]:
    cfg = b.config
    c = cfg.concurrency
    n = cfg.start_count
    rss_start = await _settled_rss(b, "worker", 1)
    bare_rate = await _rate(n, c, lambda i: b.start_bare(f"bare-start-{b.run_id}-{i}"))

    async def start_and_update(i: int) -> None:
        handle = await b.start_bare(f"bare-start-upd-{b.run_id}-{i}")
        await b.bare_update(handle)

    bare_update_rate = await _rate(n, c, start_and_update)
    ids = b.ids("open", n)
    subject_rate = await _rate(n, c, lambda i: b.open_opportunity(ids[i], i))
    b.open_rate, b.bare_start_rate = subject_rate, bare_rate
    return {
        "concurrency": c,
        "bare_starts_per_s": round(bare_rate, 1),
        "bare_start_and_update_per_s": round(bare_update_rate, 1),
        "graphql_opens_per_s": round(subject_rate, 1),
        "ratio_vs_bare_start": ratio(subject_rate, bare_rate),
        "ratio_vs_bare_start_and_update": ratio(subject_rate, bare_update_rate),
        "worker_rss_mb_before": round(rss_start / 2**20, 1),
        "what": "bare: start_workflow of a minimal workflow (and start + one update, the shape of an open); "
        "subject: openOpportunity over GraphQL, answered once projected. Memory: RSS of the one worker "
        "process as the timer benchmark's lifecycles, waiting for their moment, pass each idle count",
    }
