"""The benchmark harness (``./dev bench``) works: every benchmark runs once, tiny.

It launches the real stack (dev server, worker, API, the bare worker) and checks the
JSON document and the Markdown report come out with their shape. Timings are never
asserted: performance is judged by ``./dev bench`` on a quiet machine, by ratios
(docs/performance.md), not by tests on a shared one.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.capacity import scaling
from benchmarks.cases import OPPORTUNITIES, fill, fill_rows, unfill
from benchmarks.harness import SMOKE
from benchmarks.report import LATENCY_SIDES, markdown
from benchmarks.run import CASES, main, run
from infra import postgres
from services.db import upgrade
from services.projection import lifecycle_values
from workflows.engine.instance import LifecycleInstance
from workflows.opportunity import OPPORTUNITY, OpportunityStage

pytestmark = pytest.mark.e2e


def _figure(value: object) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))


@pytest.mark.timeout(300)
async def test_every_benchmark_runs_and_the_report_has_its_shape():
    ci = os.environ.get("LIFECYCLES_CI") and os.geteuid() == 0 and shutil.which("apt-get")
    if postgres.binaries() is None and ci:
        postgres.install()  # CI measures the PostgreSQL lists too (tests/postgres.py does the same)
    document = await run(SMOKE)
    json.dumps(document)  # JSON-able as written to benchmarks/results/latest.json

    assert set(document["results"]) == set(CASES)
    machine = document["machine"]
    for fact in ("cpu_count", "cpu_model", "python", "temporalio", "temporal_cli", "load_average_at_start"):
        assert machine[fact] not in (None, ""), fact
    results = document["results"]

    latency = results["transition_latency"]
    for side in LATENCY_SIDES:
        assert latency[side]["n"] == SMOKE.latency_samples
        assert all(_figure(latency[side][q]) for q in ("p50_ms", "p95_ms", "p99_ms"))
    assert set(latency["ratios"]) == {
        "bare_update_local_activity",
        "graphql_floor",
        "engine_update",
        "graphql_transition",
    }
    assert set(latency["ratios_vs_local_activity_floor"]) == {"graphql_floor", "engine_update", "graphql_transition"}
    assert _figure(latency["ratios_vs_graphql_floor"]["graphql_transition"]["p50"])
    assert latency["cost"]["graphql_floor_cpu_ms_per_transition"] > 0

    console = results["console_queries"]
    assert console["board"]["n"] == console["lifecycle_page"]["n"] == SMOKE.console_samples
    assert console["board"]["open_deals_shown"] >= 500  # the filled deals, and any the run opened
    assert 0 < console["board"]["bytes_per_full_page"] <= console["board"]["bytes_per_load"]
    assert console["board"]["api_cpu_ms_per_load"] > 0
    assert console["lifecycle_page"]["lifecycles_in_read_model"] == SMOKE.console_lifecycles

    live = results["subscription_latency"]
    assert live["subscriber"]["n"] == SMOKE.latency_samples
    assert all(_figure(live["subscriber"][q]) for q in ("p50_ms", "p95_ms", "p99_ms"))

    throughput = results["throughput"]
    levels = throughput["levels"]
    assert [level["clients"] for level in levels] == list(SMOKE.throughput_clients)
    assert all(level["graphql_transitions_per_s"] > 0 and level["bare_updates_per_s"] > 0 for level in levels)
    scaled = throughput["scaled"]
    assert (scaled["clients"], scaled["processes"]) == (max(SMOKE.throughput_clients), 2)
    for level in [*levels, scaled]:
        assert set(level["cpu_ms_per_graphql_transition"]) == {"api", "worker", "temporal"}
        assert set(level["cpu_ms_per_bare_update"]) == {"bare", "temporal"}
        assert all(v > 0 for v in level["cpu_ms_per_graphql_transition"].values())
    for level in levels:
        assert level["graphql_floor_per_s"] > 0 and _figure(level["graphql_floor_ratio"])
        assert set(level["cpu_ms_per_graphql_floor_transition"]) == {"graphql_floor", "bare", "temporal"}
        assert all(v > 0 for v in level["cpu_ms_per_graphql_floor_transition"].values())
    assert "graphql_floor_per_s" not in scaled

    lists = results["lists"]
    measured = [lists["sqlite"]] + ([] if "skipped" in lists["postgresql"] else [lists["postgresql"]])
    if postgres.binaries() is None:
        assert "PostgreSQL is not installed" in lists["postgresql"]["skipped"]
    else:
        assert len(measured) == 2
    for database in measured:
        (size,) = database["sizes"]
        assert size["rows"] == SMOKE.list_sizes[0]
        for shape in size["shapes"]:
            assert shape["graphql"]["n"] == shape["floor"]["n"] == shape["raw_sql"]["n"] == SMOKE.list_samples
            assert shape["floor_same_page"], shape["name"]  # the floor answers what the API answers
            assert shape["plans"] and all(p["plan"] for p in shape["plans"])
            assert isinstance(shape["uses_indexes"], bool)
        assert any(shape["matching_rows"] > 0 for shape in size["shapes"])

    timers = results["timer_lateness"]
    assert timers["bare_sleepers"]["n"] == timers["firing_floor"]["n"] == timers["lifecycles"]["n"] == SMOKE.timer_count
    assert timers["lifecycles"]["missing"] == 0
    assert [c["interval_s"] for c in timers["cron_poller_model"]] == [60, 3600]
    # A firing's work, read from the histories (those whose timer fired: a loaded machine may
    # start a sleeper after its moment): the floor runs one activity, a bare sleeper none.
    floor_work, bare_work = timers["firing_floor"]["per_firing"], timers["bare_sleepers"]["per_firing"]
    if floor_work["histories"]:
        assert floor_work["activity_tasks"] == 1 and floor_work["example_events"][0] == "timer_fired"
    if bare_work["histories"]:
        assert bare_work["activity_tasks"] == 0
    assert timers["lifecycles"]["per_firing"]["histories"] > 0
    assert timers["lifecycles"]["per_firing"]["activity_tasks"] >= 1  # the nudge's delivery

    starts = results["starts_and_memory"]
    assert starts["graphql_opens_per_s"] > 0 and starts["bare_starts_per_s"] > 0
    idle = timers["lifecycles"]["idle_memory"]
    assert [i["idle_lifecycles"] for i in idle] == list(SMOKE.idle_counts)
    assert not any(i["after_burst"] for i in idle)
    assert all(i["worker_rss_mb"] > 0 for i in idle)
    assert timers["lifecycles"]["worker_rss_high_water_mb"] >= max(i["worker_rss_mb"] for i in idle)

    # Where the run's seconds went: the stack's start and stop, and the steps of the cases that have some.
    steps = document["phase_seconds"]
    assert set(steps["stack"]) == {"start", "stop"}
    assert {"lists", "console_queries", "throughput", "timer_lateness"} <= set(steps)
    assert all(seconds >= 0 for case in steps.values() for seconds in case.values())
    assert {"bare sleepers: starts", "firing floor: burst drained and read", "lifecycles: starts"} <= set(
        steps["timer_lateness"]
    )
    # The sleepers' moments are set from rates already measured: the start benchmark's bare starts,
    # then the bare burst's; no calibrating batch is started for them.
    assert not {"bare sleepers: calibration", "firing floor: calibration"} & set(steps["timer_lateness"])
    assert all(size["fill_steps_seconds"]["total"] == size["fill_seconds"] for d in measured for size in d["sizes"])

    assert {g["benchmark"].split(" ")[0] for g in document["goals"]} == {"1.", "2.", "3.", "4.", "5."}
    assert all(g["met"] in (True, False, None) for g in document["goals"])
    report = markdown(document)
    assert "| Step of the run | Seconds | Of which |" in report
    assert all(f"| {case} | {seconds} |" in report for case, seconds in document["case_seconds"].items())
    for heading in (
        "## Goals",
        "## 1. Transition latency",
        "## 1b. Live updates",
        "## 1c. The console's pages",
        "## 3. Lists at scale",
        "## 4. Timer lateness",
    ):
        assert heading in report
    assert "firing floor (sleep + no-op activity)" in report and "high-water mark" in report
    assert "| graphql_floor |" in report and "1. transition latency (p50, the GraphQL floor)" in report
    model = scaling(document)
    assert model is not None
    for heading in ("## What one transition costs (measured)", "## Per 1,000 transitions/s (extrapolated)"):
        assert heading in model
    assert "1,000,000 open lifecycles and 500 transitions/s" in model
    assert "nan" not in model and "inf" not in model


@pytest.mark.parametrize(
    ("flag", "value"), [("--idle", "1000,lots"), ("--idle", "1000,,2000"), ("--timers", "0"), ("--timers", "-5")]
)
def test_a_bad_count_is_refused_before_anything_starts(flag, value, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["./dev bench", flag, value])
    with pytest.raises(SystemExit) as refused:
        main()
    assert refused.value.code == 2
    assert "is not a whole number above zero" in capsys.readouterr().err


def test_the_command_refuses_a_bad_count_without_a_traceback():
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--timers", "0"], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 2
    assert "is not a whole number above zero" in finished.stderr
    assert "Traceback" not in finished.stderr


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.timeout(180)
def test_a_terminated_run_stops_everything_it_started():
    """``pkill -f benchmarks.run`` (SIGTERM) in the middle of a case: the run stops the dev server,
    the worker, the bare worker and the API it launched, and removes their directory."""
    command = [sys.executable, "-m", "benchmarks.run", "--quick", "--only", "transition_latency", "--no-report"]
    bench = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert bench.stdout is not None
        up = next((line for line in bench.stdout if line.startswith("== the stack is up")), "")
        launched = re.search(r" in (\S+): (.+)$", up)
        assert launched, f"no stack came up: {bench.stderr.read() if bench.stderr else ''}"
        directory, processes = Path(launched.group(1)), dict(p.split(" ") for p in launched.group(2).split(", "))
        assert set(processes) == {"temporal", "worker", "bare", "api"}
        bench.send_signal(signal.SIGTERM)
        _, err = bench.communicate(timeout=120)
    finally:
        if bench.poll() is None:
            bench.kill()
    assert bench.returncode == 128 + signal.SIGTERM, err
    assert "interrupted (SIGTERM)" in err and "Traceback" not in err
    assert not directory.exists()
    assert not [name for name, pid in processes.items() if _running(int(pid))]


def test_removing_the_filled_rows_keeps_the_rest_and_every_index(tmp_path):
    """The console's clean-up drops the secondary indexes to delete faster: they all come back,
    and the read model's own rows stay."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'readmodel.db'}"
    upgrade(url)
    raw = sqlite3.connect(tmp_path / "readmodel.db")
    indexes = "SELECT name, sql FROM sqlite_master WHERE type = 'index' ORDER BY name"
    schema = raw.execute(indexes).fetchall()
    counted = "SELECT sum(row_count) FROM row_counts WHERE table_name = 'opportunities'"
    fill(url, 0, 300)
    assert raw.execute(counted).fetchone() == (300,)  # the unfiltered list's total
    raw.execute("UPDATE lifecycles SET workflow_id = 'opportunity/kept', entity_id = 'kept' WHERE entity_id = 'fill-7'")
    raw.execute("UPDATE opportunities SET workflow_id = 'opportunity/kept' WHERE workflow_id = 'opportunity/fill-7'")
    raw.commit()
    unfill(url)
    assert raw.execute(indexes).fetchall() == schema
    assert raw.execute(counted).fetchone() == (1,)
    for table in ("lifecycles", "opportunities"):
        assert raw.execute(f"SELECT workflow_id FROM {table}").fetchall() == [("opportunity/kept",)]
    raw.close()


@pytest.mark.parametrize("i", [0, 1, 4242, 999_999])
def test_the_bulk_fill_writes_the_rows_the_projection_writes(i):
    """The lists benchmark builds a million rows without a model per row: each must be what
    the projection writes for the same opportunity."""
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    (lifecycle,), (opportunity,) = fill_rows(i, i + 1, now)
    data = lifecycle["data"]
    instance = LifecycleInstance.open(
        OPPORTUNITY,
        f"fill-{i}",
        {key: data[key] for key in ("name", "account", "owner", "close_date", "amount", "forecast_category")},
        {},
        now,
        actor="fill@bench.example",
    )
    stage = opportunity["stage"]
    snapshot = instance.snapshot(now).model_copy(
        update={
            "state": stage,
            "terminal": stage in (OpportunityStage.CLOSED_WON, OpportunityStage.CLOSED_LOST),
            "updated_at": lifecycle["updated_at"],
            "deadlines": [],
            "next_deadline": None,
        }
    )
    assert opportunity == OPPORTUNITIES.project(snapshot)
    assert lifecycle == lifecycle_values(snapshot)
