"""The benchmark harness (``./dev bench``) works: every benchmark runs once, tiny.

It launches the real stack (dev server, worker, API, the bare worker) and checks the
JSON document and the Markdown report come out with their shape. Timings are never
asserted: performance is judged by ``./dev bench`` on a quiet machine, by ratios
(docs/performance.md), not by tests on a shared one.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from benchmarks.harness import SMOKE
from benchmarks.report import markdown
from benchmarks.run import CASES, run

pytestmark = pytest.mark.e2e


def _figure(value: object) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))


@pytest.mark.timeout(180)
async def test_every_benchmark_runs_and_the_report_has_its_shape():
    document = await run(SMOKE)
    json.dumps(document)  # JSON-able as written to benchmarks/results/latest.json

    assert set(document["results"]) == set(CASES)
    machine = document["machine"]
    for fact in ("cpu_count", "cpu_model", "python", "temporalio", "temporal_cli", "load_average_at_start"):
        assert machine[fact] not in (None, ""), fact
    results = document["results"]

    latency = results["transition_latency"]
    for side in ("bare_update", "bare_update_local_activity", "engine_update", "graphql_transition"):
        assert latency[side]["n"] == SMOKE.latency_samples
        assert all(_figure(latency[side][q]) for q in ("p50_ms", "p95_ms", "p99_ms"))
    assert set(latency["ratios"]) == {"bare_update_local_activity", "engine_update", "graphql_transition"}
    assert set(latency["ratios_vs_local_activity_floor"]) == {"engine_update", "graphql_transition"}

    live = results["subscription_latency"]
    assert live["subscriber"]["n"] == SMOKE.latency_samples
    assert all(_figure(live["subscriber"][q]) for q in ("p50_ms", "p95_ms", "p99_ms"))

    levels = results["throughput"]["levels"]
    assert [level["clients"] for level in levels] == list(SMOKE.throughput_clients)
    assert all(level["graphql_transitions_per_s"] > 0 and level["bare_updates_per_s"] > 0 for level in levels)

    (size,) = results["lists"]["sizes"]
    assert size["rows"] == SMOKE.list_sizes[0]
    for shape in size["shapes"]:
        assert shape["graphql"]["n"] == shape["raw_sql"]["n"] == SMOKE.list_samples
        assert shape["plans"] and all(p["plan"] for p in shape["plans"])
        assert isinstance(shape["uses_indexes"], bool)
    assert any(shape["matching_rows"] > 0 for shape in size["shapes"])

    timers = results["timer_lateness"]
    assert timers["bare_sleepers"]["n"] == timers["lifecycles"]["n"] == SMOKE.timer_count
    assert timers["lifecycles"]["missing"] == 0
    assert [c["interval_s"] for c in timers["cron_poller_model"]] == [60, 3600]

    starts = results["starts_and_memory"]
    assert starts["graphql_opens_per_s"] > 0 and starts["bare_starts_per_s"] > 0
    idle = timers["lifecycles"]["idle_memory"]
    assert [i["idle_lifecycles"] for i in idle] == list(SMOKE.idle_counts)
    assert not any(i["after_burst"] for i in idle)
    assert all(i["worker_rss_mb"] > 0 for i in idle)

    assert {g["benchmark"].split(" ")[0] for g in document["goals"]} == {"1.", "2.", "3.", "4.", "5."}
    assert all(g["met"] in (True, False, None) for g in document["goals"])
    report = markdown(document)
    for heading in (
        "## Goals",
        "## 1. Transition latency",
        "## 1b. Live updates",
        "## 3. Lists at scale",
        "## 4. Timer lateness",
    ):
        assert heading in report


@pytest.mark.parametrize(
    ("flag", "value"), [("--idle", "1000,lots"), ("--idle", "1000,,2000"), ("--timers", "0"), ("--timers", "-5")]
)
def test_a_bad_count_is_refused_before_anything_starts(flag, value):
    finished = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", flag, value], capture_output=True, text=True, timeout=60
    )
    assert finished.returncode == 2
    assert "is not a whole number above zero" in finished.stderr
    assert "Traceback" not in finished.stderr
