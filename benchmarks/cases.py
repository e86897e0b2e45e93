"""The five benchmarks of issue 8, each measured side by side with its bare limit.

Every function takes the running ``Bench`` and returns a JSON-able dict; none asserts
on a timing. Goals are judged in ``benchmarks/report.py``.
"""

from __future__ import annotations

import asyncio
import gc
import math
import sqlite3
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlmodel import col

from benchmarks.bare import TASK_QUEUE as BARE_QUEUE
from benchmarks.bare import SleeperWorkflow
from benchmarks.harness import Bench, run_concurrently
from benchmarks.stats import percentile, ratio, summary_ms
from services.db import sync_url
from services.derived import DERIVED
from services.models import EffectRow, LifecycleRow
from services.projection import lifecycle_values, table_of
from workflows.engine.instance import LifecycleInstance
from workflows.engine.types import LifecycleSnapshot
from workflows.opportunity import NEW_BUSINESS_STAGES, OPPORTUNITY, OpportunityStage

# ---- 1. transition latency -------------------------------------------------------------


async def transition_latency(b: Bench) -> dict[str, Any]:
    """Sequential round trips, interleaved so the three sides share the same noise."""
    cfg = b.config
    n = cfg.latency_lifecycles
    ids = b.ids("lat", n)
    for i, entity_id in enumerate(ids):
        await b.open_opportunity(entity_id, i)
    bares = [await b.start_bare(f"bare-lat-{b.run_id}-{i}") for i in range(n)]
    ops = {
        "bare_update": lambda k: b.bare_update(bares[k % n]),
        "bare_update_local_activity": lambda k: b.bare_update_local_activity(bares[(k + 2) % n]),
        "engine_update": lambda k: b.engine_update(ids[k % n], f"engine {k}"),
        "graphql_transition": lambda k: b.update_opportunity(ids[(k + 1) % n], f"graphql {k}"),
    }
    samples: dict[str, list[float]] = {name: [] for name in ops}
    names = list(ops)
    for k in range(cfg.latency_warmup + cfg.latency_samples):
        # Rotate the order within each round: no side always goes first.
        for name in names[k % len(names) :] + names[: k % len(names)]:
            t0 = time.perf_counter()
            await ops[name](k)
            elapsed = time.perf_counter() - t0
            if k >= cfg.latency_warmup:
                samples[name].append(elapsed)
    result: dict[str, Any] = {name: summary_ms(values) for name, values in samples.items()}

    def ratios(base: str, sides: tuple[str, ...]) -> dict[str, dict[str, float]]:
        return {
            side: {q: ratio(result[side][f"{q}_ms"], result[base][f"{q}_ms"]) for q in ("p50", "p95", "p99")}
            for side in sides
        }

    result["ratios"] = ratios("bare_update", ("bare_update_local_activity", "engine_update", "graphql_transition"))
    result["ratios_vs_local_activity_floor"] = ratios(
        "bare_update_local_activity", ("engine_update", "graphql_transition")
    )
    result["cost"] = await transition_cost(b, ids)
    result["what"] = (
        "bare_update: a Temporal update that only returns, on a minimal workflow; "
        "bare_update_local_activity: the same with one local activity that does nothing (the floor of "
        "writing inside the update through a local activity); engine_update: the lifecycle workflow's "
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
    before = {name: b.stack.cpu(name) for name in ("worker", "api")}
    for k in range(n):
        await b.update_opportunity(ids[k % len(ids)], f"cost graphql {k}")
    per_graphql = {name: (b.stack.cpu(name) - before[name]) / n for name in before}
    return {
        "transitions": n,
        "worker_cpu_ms_per_engine_update": round(worker_engine * 1000, 2),
        "worker_cpu_ms_per_graphql_transition": round(per_graphql["worker"] * 1000, 2),
        "api_cpu_ms_per_graphql_transition": round(per_graphql["api"] * 1000, 2),
        "payload_bytes_per_transition": await _update_payload_bytes(b, ids[0]),
    }


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
    """``clients`` loops calling ``op(client, k)``; completions per second in the window after warm-up."""
    start = time.perf_counter()
    window_start, window_end = start + warmup, start + warmup + seconds
    done: list[float] = []

    async def loop(c: int) -> None:
        k = 0
        while time.perf_counter() < window_end:
            t0 = time.perf_counter()
            await op(c, k)
            t1 = time.perf_counter()
            k += 1
            if t0 >= window_start and t1 <= window_end:
                done.append(t1 - t0)

    await asyncio.gather(*(loop(c) for c in range(clients)))
    return {"per_second": round(len(done) / seconds, 1), "latency": summary_ms(done)}


async def throughput(b: Bench) -> dict[str, Any]:
    cfg = b.config
    most = max(cfg.throughput_clients)
    ids = b.ids("tput", most)
    await run_concurrently(most, 8, lambda i: b.open_opportunity(ids[i], i))
    bares = [await b.start_bare(f"bare-tput-{b.run_id}-{i}") for i in range(most)]
    levels = []
    for clients in cfg.throughput_clients:
        # One lifecycle (one bare workflow) per client: updates to one workflow are serial by design.
        bare = await _sustained(
            lambda c, k: b.bare_update(bares[c]), clients, cfg.throughput_warmup_seconds, cfg.throughput_seconds
        )
        graphql = await _sustained(
            lambda c, k: b.update_opportunity(ids[c], f"tput {c}.{k}"),
            clients,
            cfg.throughput_warmup_seconds,
            cfg.throughput_seconds,
        )
        levels.append(
            {
                "clients": clients,
                "bare_updates_per_s": bare["per_second"],
                "graphql_transitions_per_s": graphql["per_second"],
                "ratio": ratio(graphql["per_second"], bare["per_second"]),
                "bare_latency": bare["latency"],
                "graphql_latency": graphql["latency"],
            }
        )
    return {"levels": levels, "seconds_per_level": cfg.throughput_seconds}


# ---- 3. lists at scale -------------------------------------------------------------------

LIST_QUERY = """
query Pipeline($filter: OpportunityFilter, $orderBy: OpportunityOrder, $after: String) {
  opportunities(filter: $filter, orderBy: $orderBy, first: 20, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id name stage owner closeDate arrDiscounted forecastCategory } }
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


def fill_rows(start: int, stop: int, now: datetime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows for lifecycles start..stop-1, through the projection's own mapping."""
    template = _template(now)
    lifecycles, opportunities = [], []
    for i in range(start, stop):
        data = dict(template.data)
        account = f"fill-acct-{(i * 7) % 5000}"
        data.update(
            name=f"Fill deal {i}",
            account={"id": account, "name": f"Account {account}"},
            owner=f"owner-{i % 50}@bench.example",
            close_date=(date(2026, 1, 1) + timedelta(days=(i * 7919) % 730)).isoformat(),
            amount=str(Decimal(1000 + (i * 104729) % 200_000)),
            arr_discounted=str(Decimal(1000 + (i * 104729) % 200_000)),
            forecast_category=FORECASTS[(i // 3) % 4],
        )
        stage = FILL_STAGES[(i * 31) % len(FILL_STAGES)]
        snapshot = template.model_copy(
            update={
                "entity_id": f"fill-{i}",
                "workflow_id": f"opportunity/fill-{i}",
                "state": stage,
                "terminal": stage in (OpportunityStage.CLOSED_WON, OpportunityStage.CLOSED_LOST),
                "data": data,
                "owner": data["owner"],
                "account_id": account,
                "account_name": data["account"]["name"],
                "updated_at": now - timedelta(seconds=(i * 7877) % 1_000_000),
                "deadlines": [],
                "next_deadline": None,
            }
        )
        lifecycles.append(lifecycle_values(snapshot))
        opportunities.append(OPPORTUNITIES.project(snapshot))
    return lifecycles, opportunities


def fill(database_url: str, start: int, stop: int) -> float:
    """Bulk-insert lifecycles start..stop-1 into the read model; seconds taken."""
    t0 = time.perf_counter()
    engine = sa.create_engine(sync_url(database_url))
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for chunk in range(start, stop, 5000):
            lifecycles, opportunities = fill_rows(chunk, min(chunk + 5000, stop), now)
            conn.execute(sa.insert(LifecycleRow.__table__), lifecycles)
            conn.execute(sa.insert(table_of(OPPORTUNITIES.table)), opportunities)
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return time.perf_counter() - t0


def unfill(database_url: str) -> None:
    engine = sa.create_engine(sync_url(database_url))
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM opportunities WHERE workflow_id LIKE 'opportunity/fill-%'")
        conn.exec_driver_sql("DELETE FROM lifecycles WHERE workflow_id LIKE 'opportunity/fill-%'")
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


async def _captured_statements(b: Bench, f: Filter, order: str, after: str | None) -> Any:
    """The SQL (and bound parameters) the service sends for one page, and the page's end cursor."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        captured.append((statement, parameters))

    engine = b.sessions.kw["bind"]
    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with b.sessions() as session:
            page = await OPPORTUNITIES.page(
                session, OPPORTUNITIES.conditions(f), order, first=20, after=after, max_page_size=100
            )
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    return captured, (page.cursors[-1] if page.cursors else None)


def _plan(db: sqlite3.Connection, statement: str, parameters: Any) -> list[str]:
    return [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", parameters).fetchall()]


def _uses_indexes(plan: list[str]) -> bool:
    """Every table access goes through an index (a SCAN of a table by itself reads it all)."""
    for line in plan:
        if (line.startswith("SCAN") or line.startswith("SEARCH")) and not any(
            word in line for word in ("USING INDEX", "USING COVERING INDEX", "USING INTEGER PRIMARY KEY")
        ):
            if "SUBQUERY" in line or line.startswith("SCAN CONSTANT ROW"):
                continue
            return False
    return True


async def _list_size(b: Bench, rows: int) -> dict[str, Any]:
    cfg = b.config
    db = sqlite3.connect(b.stack.database_path)
    shapes = []
    for name, (gql_filter, order, service_filter) in LIST_SHAPES.items():
        # Page 1, and page 2 from page 1's cursor: both the GraphQL variables and the raw SQL.
        first_sql, cursor = await _captured_statements(b, service_filter, order, None)
        second_sql, _ = await _captured_statements(b, service_filter, order, cursor)
        pages = [(None, first_sql), (cursor, second_sql)]
        graphql_samples: list[float] = []
        raw_samples: list[float] = []
        for k in range(cfg.list_warmup + cfg.list_samples):
            after, statements = pages[k % 2]
            variables = {"filter": gql_filter, "orderBy": order, "after": after}
            t0 = time.perf_counter()
            data = await b.gql(LIST_QUERY, variables)
            t1 = time.perf_counter()
            for statement, parameters in statements:
                db.execute(statement, parameters).fetchall()
            t2 = time.perf_counter()
            if k >= cfg.list_warmup:
                graphql_samples.append(t1 - t0)
                raw_samples.append(t2 - t1)
        total = data["opportunities"]["totalCount"]
        plans = [
            {"sql": " ".join(statement.split()), "plan": _plan(db, statement, parameters)}
            for statement, parameters in first_sql + second_sql[1:]
        ]
        graphql, raw = summary_ms(graphql_samples), summary_ms(raw_samples)
        shapes.append(
            {
                "name": name,
                "matching_rows": total,
                "graphql": graphql,
                "raw_sql": raw,
                "ratio_p50": ratio(graphql["p50_ms"], raw["p50_ms"]),
                "ratio_p99": ratio(graphql["p99_ms"], raw["p99_ms"]),
                "plans": plans,
                "uses_indexes": all(_uses_indexes(p["plan"]) for p in plans),
                "sorts_in_memory": any("TEMP B-TREE" in line for p in plans for line in p["plan"]),
            }
        )
    db.close()
    return {"rows": rows, "shapes": shapes}


async def lists(b: Bench) -> dict[str, Any]:
    """Fill the read model by bulk insert, then time each query shape at each size."""
    sizes = []
    filled = 0
    try:
        for rows in b.config.list_sizes:
            seconds = await asyncio.to_thread(fill, b.stack.database_url, filled, rows)
            filled = rows
            size = await _list_size(b, rows)
            size["fill_seconds"] = round(seconds, 1)
            sizes.append(size)
    finally:
        await asyncio.to_thread(unfill, b.stack.database_url)
    return {
        "sizes": sizes,
        "what": "GraphQL: the opportunities query (20 a page, totalCount, 7 fields) over HTTP; raw SQL: the "
        "same statements the service sends (count and page), run with sqlite3 on the same file",
    }


# ---- 4. timer lateness -------------------------------------------------------------------


def _lateness(applied: list[datetime], due: datetime) -> dict[str, Any]:
    seconds = [(a - due).total_seconds() for a in applied]
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 1),
        "p95_ms": round(percentile(ms, 95), 1),
        "p99_ms": round(percentile(ms, 99), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "min_ms": round(min(ms), 1) if ms else None,
    }


async def _rate(n: int, concurrency: int, op: Any) -> float:
    t0 = time.perf_counter()
    await run_concurrently(n, concurrency, op)
    return n / (time.perf_counter() - t0)


async def _bare_timers(b: Bench, n: int) -> dict[str, Any]:
    cfg = b.config
    calibration = max(5, n // 10)
    rate = await _rate(calibration, cfg.concurrency, lambda i: b.start_bare(f"bare-cal-{b.run_id}-{i}"))
    setup_start = time.time()
    # Bare starts slow down as the server fills more than a small batch shows: more margin.
    due = datetime.now(UTC) + timedelta(seconds=1.5 + 1.35 * n / rate)
    handles: list[Any] = [None] * n

    async def start(i: int) -> None:
        handles[i] = await b.client.start_workflow(
            SleeperWorkflow.run, due.isoformat(), id=f"bare-timer-{b.run_id}-{i}", task_queue=BARE_QUEUE
        )

    await run_concurrently(n, cfg.concurrency, start)
    setup_end = time.time()
    await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
    woke: list[str] = [""] * n

    async def result(i: int) -> None:
        woke[i] = await handles[i].result()

    # A few results long-polled at a time: the server caps concurrent pollers.
    await run_concurrently(n, cfg.concurrency, result)
    applied = [datetime.fromisoformat(w) for w in woke]
    return {
        **_lateness(applied, due),
        "calibrated_starts_per_s": round(rate, 1),
        "setup_seconds": round(setup_end - setup_start, 1),
        "setup_overran": setup_end > due.timestamp() - 1,
        "idle_before_due_s": round(due.timestamp() - setup_end, 1),
        "drained_in_s": round((max(applied) - due).total_seconds(), 2),
    }


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


async def _idle_reading(b: Bench, count: int, *, after_burst: bool) -> dict[str, Any]:
    rss = await _settled_rss(b, "worker", 1)
    return {"idle_lifecycles": count, "after_burst": after_burst, "worker_rss_mb": round(rss / 2**20, 1)}


async def _lifecycle_timers(b: Bench, n: int) -> dict[str, Any]:
    calibration = max(5, n // 20)
    far = datetime.now(UTC)  # calibration and extra idle deals: their nudge is 14 days away
    t0 = time.perf_counter()
    await _start_and_wait(b, f"timer-cal-{b.run_id}-", b.ids("timer-cal", calibration), lambda i: _timer_deal(i, far))
    # A small batch starts faster than thousands do (the server and the worker's cache fill
    # up): the open rate measured over more lifecycles, when there is one, keeps the setup
    # from overrunning the moment, which would fire timers among the starts.
    rate = min(calibration / (time.perf_counter() - t0), b.open_rate or math.inf)
    setup_start = time.time()
    due = (datetime.now(UTC) + timedelta(seconds=1 + 1.2 * n / rate)).replace(microsecond=0) + timedelta(seconds=1)
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
        await _start_and_wait(
            b, f"timer-{b.run_id}-", batch, lambda i, batch=batch: _timer_deal(i, last_reply), expect=count
        )
        started = count
        if count in b.config.idle_counts:
            idle.append(await _idle_reading(b, count, after_burst=False))
    setup_end = time.time()
    await asyncio.sleep(max(0.0, due.timestamp() - time.time()))
    workflow_ids = [f"opportunity/{entity_id}" for entity_id in ids]
    applied: list[datetime] = []
    deadline = time.monotonic() + 120 + n / 5
    while time.monotonic() < deadline:
        async with b.sessions() as session:
            result = await session.execute(
                sa.select(col(EffectRow.created_at)).where(
                    EffectRow.name == "silence_nudge",
                    col(EffectRow.workflow_id).startswith(f"opportunity/timer-{b.run_id}-"),
                )
            )
            applied = [row[0] for row in result.all()]
        if len(applied) >= n:
            break
        await asyncio.sleep(0.5)
    visible = time.time()
    missing = n - len(applied)
    # Idle counts beyond the burst: more lifecycles whose first deadline is two weeks away.
    # The burst itself raises the worker's high-water mark (a thousand workflow tasks and
    # deliveries in flight at once), so these are compared with a reading taken after it.
    beyond = sorted(c for c in b.config.idle_counts if c > n)
    if beyond:
        idle.append(await _idle_reading(b, n, after_burst=True))
    for count in beyond:
        extra = b.ids("idle", count - started, start=started - n)
        await _start_and_wait(b, f"idle-{b.run_id}-", extra, lambda i: _timer_deal(i, far), expect=count - n)
        started = count
        idle.append(await _idle_reading(b, count, after_burst=True))
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
    bare = await _bare_timers(b, n)
    subject = await _lifecycle_timers(b, n)
    return {
        "count": n,
        "bare_sleepers": bare,
        "lifecycles": subject,
        "ratios": {q: ratio(subject[f"{q}_ms"], bare[f"{q}_ms"]) for q in ("p50", "p95", "p99", "max")},
        "cron_poller_model": [cron_poller(60, subject), cron_poller(3600, subject)],
        "what": "applied - due, on the workflow clock: the silence ladder's first nudge of N opportunities "
        "due at one moment (recorded in the read model) against N minimal workflows sleeping until the "
        "same kind of moment; the cron figures are a model (next tick of a poller doing the same work)",
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
    b.open_rate = subject_rate
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
