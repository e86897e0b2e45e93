"""Machine facts, the goals of issue 8 judged on a run's figures, and the Markdown report."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchmarks.stack import TEMPORAL
from benchmarks.stats import ratio

# The sides of the latency benchmark, in the order the report shows them.
LATENCY_SIDES = ("bare_update", "bare_update_local_activity", "graphql_floor", "engine_update", "graphql_transition")

ROOT = Path(__file__).resolve().parent.parent


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _other_test_runs() -> list[str]:
    """Command lines of other pytest processes (a busy machine makes figures noisy)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if "pytest" in cmdline and "benchmarks" not in cmdline and "test_benchmarks" not in cmdline:
            found.append(cmdline[:200])
    return found


def machine_facts() -> dict[str, Any]:
    temporal = subprocess.run([str(TEMPORAL), "--version"], capture_output=True, text=True, check=False)
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "temporalio": version("temporalio"),
        "temporal_cli": temporal.stdout.strip(),
        "strawberry": version("strawberry-graphql"),
        "sqlalchemy": version("sqlalchemy"),
        "sqlite": sqlite3.sqlite_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "other_test_runs_at_start": _other_test_runs(),
    }


# ---- goals ----------------------------------------------------------------------------------


def goals(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each goal of the issue, with the figures it is judged on and whether it is met."""
    out: list[dict[str, Any]] = []
    lat = results.get("transition_latency")
    if lat:
        r = lat["ratios"]["graphql_transition"]["p50"]
        out.append(
            {
                "benchmark": "1. transition latency (p50)",
                "subject": f"GraphQL {lat['graphql_transition']['p50_ms']} ms",
                "bare": f"bare update {lat['bare_update']['p50_ms']} ms",
                "ratio": r,
                "goal": "<= 1.25x",
                "met": r <= 1.25,
            }
        )
        out.append(
            {
                "benchmark": "1. transition latency (p50, engine without GraphQL)",
                "subject": f"engine update {lat['engine_update']['p50_ms']} ms",
                "bare": f"bare update {lat['bare_update']['p50_ms']} ms",
                "ratio": lat["ratios"]["engine_update"]["p50"],
                "goal": "(reported)",
                "met": None,
            }
        )
        out.append(
            {
                "benchmark": "1. transition latency (p50, the local-activity floor)",
                "subject": f"GraphQL {lat['graphql_transition']['p50_ms']} ms",
                "bare": f"bare update + no-op local activity {lat['bare_update_local_activity']['p50_ms']} ms",
                "ratio": lat["ratios_vs_local_activity_floor"]["graphql_transition"]["p50"],
                "goal": "(reported)",
                "met": None,
            }
        )
        out.append(
            {
                "benchmark": "1. transition latency (p50, the GraphQL floor)",
                "subject": f"GraphQL {lat['graphql_transition']['p50_ms']} ms",
                "bare": f"GraphQL floor {lat['graphql_floor']['p50_ms']} ms "
                f"({lat['ratios']['graphql_floor']['p50']}x bare update)",
                "ratio": lat["ratios_vs_graphql_floor"]["graphql_transition"]["p50"],
                "goal": "(reported)",
                "met": None,
            }
        )
    live = results.get("subscription_latency")
    if live:
        subscriber, model = live["subscriber"], live["poll_model"]
        out.append(
            {
                "benchmark": "1. live update, answer to subscriber event (p50)",
                "subject": f"{subscriber['p50_ms']} ms (p99 {subscriber['p99_ms']} ms)",
                "bare": f"a poll every {model['interval_s']:g} s (model: p50 {model['p50_ms']} ms)",
                "ratio": ratio(subscriber["p50_ms"], model["p50_ms"]),
                "goal": "(reported)",
                "met": None,
            }
        )
    tput = results.get("throughput")
    if tput:
        for level in tput["levels"]:
            out.append(
                {
                    "benchmark": f"2. throughput, {level['clients']} client(s)",
                    "subject": f"{level['graphql_transitions_per_s']}/s",
                    "bare": f"{level['bare_updates_per_s']}/s"
                    + (
                        f"; GraphQL floor {level['graphql_floor_per_s']}/s ({level['graphql_floor_ratio']}x bare)"
                        if "graphql_floor_per_s" in level
                        else ""
                    ),
                    "ratio": level["ratio"],
                    "goal": ">= 0.8x",
                    "met": level["ratio"] >= 0.8,
                }
            )
        scaled = tput["scaled"]
        out.append(
            {
                "benchmark": f"2. throughput, {scaled['clients']} clients, 2 workers and 2 APIs (2 bare workers)",
                "subject": f"{scaled['graphql_transitions_per_s']}/s "
                f"({scaled['graphql_speedup_vs_one_process']}x one of each)",
                "bare": f"{scaled['bare_updates_per_s']}/s ({scaled['bare_speedup_vs_one_process']}x one)",
                "ratio": scaled["ratio"],
                "goal": "(reported)",
                "met": None,
            }
        )
    lists = results.get("lists")
    if lists:
        for key, database in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
            for size in lists[key].get("sizes", []):
                out += _list_goals(database, size)
    timers = results.get("timer_lateness")
    if timers:
        for q in ("p50", "p99"):
            out.append(
                {
                    "benchmark": f"4. timer lateness ({timers['count']:,} due at once, {q}) vs the firing floor",
                    "subject": f"{timers['lifecycles'][f'{q}_ms']} ms",
                    "bare": f"sleep + no-op activity {timers['firing_floor'][f'{q}_ms']} ms",
                    "ratio": timers["ratios_vs_firing_floor"][q],
                    "goal": "<= 1.2x",
                    "met": timers["ratios_vs_firing_floor"][q] <= 1.2 and not timers["lifecycles"]["missing"],
                }
            )
        for q in ("p50", "p99"):
            out.append(
                {
                    "benchmark": f"4. timer lateness ({timers['count']:,} due at once, {q}) vs bare sleepers",
                    "subject": f"{timers['lifecycles'][f'{q}_ms']} ms",
                    "bare": f"{timers['bare_sleepers'][f'{q}_ms']} ms",
                    "ratio": timers["ratios"][q],
                    "goal": "(reported)",
                    "met": None,
                }
            )
    starts = results.get("starts_and_memory")
    if starts:
        out.append(
            {
                "benchmark": "5. start rate",
                "subject": f"{starts['graphql_opens_per_s']}/s",
                "bare": f"{starts['bare_start_and_update_per_s']}/s start+update "
                f"({starts['bare_starts_per_s']}/s start alone)",
                "ratio": starts["ratio_vs_bare_start_and_update"],
                "goal": "(reported)",
                "met": None,
            }
        )
    readings = (timers or {}).get("lifecycles", {}).get("idle_memory") or []
    # Like with like: the readings after the timer burst when there are two, else those before it.
    after = [r for r in readings if r["after_burst"]]
    idle = after if len(after) >= 2 else [r for r in readings if not r["after_burst"]]
    if len(idle) >= 2:
        first, last = idle[0], idle[-1]
        growth = ratio(last["worker_rss_mb"], first["worker_rss_mb"])
        phase = " (after the timer burst)" if idle is after else ""
        out.append(
            {
                "benchmark": f"5. worker RSS, {first['idle_lifecycles']:,} -> {last['idle_lifecycles']:,} idle{phase}",
                "subject": f"{first['worker_rss_mb']} -> {last['worker_rss_mb']} MB",
                "bare": "-",
                "ratio": growth,
                "goal": "no growth with the idle count (<= 1.1x)",
                "met": growth <= 1.1,
            }
        )
    if timers:
        lifecycles = timers["lifecycles"]
        out.append(
            {
                "benchmark": f"5. worker RSS high-water mark after {timers['count']:,} timers due at once",
                "subject": f"{lifecycles['worker_rss_high_water_mb']} MB",
                "bare": "-",
                "ratio": "-",
                "goal": "(reported)",
                "met": None,
            }
        )
    return out


def _list_goals(database: str, size: dict[str, Any]) -> list[dict[str, Any]]:
    shapes = size["shapes"]
    rows = f"{size['rows']:,}"
    slowest = max(shapes, key=lambda s: s["graphql"]["p99_ms"])
    worst = max(shapes, key=lambda s: s["floor_ratio_p50"])
    widest = max(shapes, key=lambda s: s["ratio_p50"])
    indexed = sum(1 for s in shapes if s["uses_indexes"])
    return [
        {
            "benchmark": f"3. lists, {database} at {rows}: p99 (slowest of {len(shapes)} shapes)",
            "subject": f"{slowest['graphql']['p99_ms']} ms ({slowest['name']})",
            "bare": f"floor {slowest['floor']['p99_ms']} ms, raw SQL {slowest['raw_sql']['p99_ms']} ms",
            "ratio": slowest["floor_ratio_p99"],
            "goal": "p99 < 50 ms",
            "met": slowest["graphql"]["p99_ms"] < 50,
        },
        {
            "benchmark": f"3. lists, {database} at {rows}: GraphQL / floor p50 (worst shape)",
            "subject": f"{worst['graphql']['p50_ms']} ms ({worst['name']})",
            "bare": f"strawberry-on-starlette floor {worst['floor']['p50_ms']} ms",
            "ratio": worst["floor_ratio_p50"],
            "goal": "<= 1.5x",
            "met": worst["floor_ratio_p50"] <= 1.5,
        },
        {
            "benchmark": f"3. lists, {database} at {rows}: GraphQL / raw SQL p50 (worst shape)",
            "subject": f"{widest['graphql']['p50_ms']} ms ({widest['name']})",
            "bare": f"raw SQL {widest['raw_sql']['p50_ms']} ms",
            "ratio": widest["ratio_p50"],
            "goal": "(reported)",
            "met": None,
        },
        {
            "benchmark": f"3. lists, {database} at {rows}: query plans",
            "subject": f"{indexed} of {len(shapes)} shapes on indexes",
            "bare": "-",
            "ratio": "-",
            "goal": "indexes used",
            "met": indexed == len(shapes),
        },
    ]


# ---- Markdown -------------------------------------------------------------------------------


def _met(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "**no**")


def table_row(*cells: Any) -> str:
    """A Markdown table row (docs/performance.md, docs/scaling.md)."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table_head(*columns: str) -> list[str]:
    """A Markdown table's header row and the separator under it."""
    return [table_row(*columns), table_row(*["---"] * len(columns))]


def _percentiles_head(first: str, *more: str) -> list[str]:
    """The head of a table of latency summaries (rows by ``_percentiles_row``)."""
    return table_head(first, "n", "p50 ms", "p95 ms", "p99 ms", *more)


def _percentiles_row(label: str, summary: dict[str, Any], *more: Any) -> str:
    """A row of a latency summary: its count and p50/p95/p99 in ms, then ``more`` cells."""
    return table_row(label, summary["n"], summary["p50_ms"], summary["p95_ms"], summary["p99_ms"], *more)


def _measured_section(title: str, what: str, first: str) -> list[str]:
    """A latency section's heading, what it measured as a sentence, and its table's head."""
    return ["", f"## {title}", "", what[0].upper() + what[1:] + ".", "", *_percentiles_head(first)]


def _time_spent(run: dict[str, Any]) -> list[str]:
    """Where the run's seconds went: each case, with its steps (a run from before the steps were
    timed has the cases only)."""
    phases = run.get("phase_seconds") or {}
    lines = ["", *table_head("Step of the run", "Seconds", "Of which")]
    stack = phases.get("stack")
    if stack:
        lines.append(table_row("Stack start and stop", round(stack["start"] + stack["stop"], 1), _steps(stack)))
    for case, seconds in (run.get("case_seconds") or {}).items():
        lines.append(table_row(case, seconds, _steps(phases.get(case) or {})))
    return lines if len(lines) > 3 else []


def _steps(steps: dict[str, float]) -> str:
    return "; ".join(f"{name} {seconds:g} s" for name, seconds in steps.items())


def markdown(run: dict[str, Any], history: list[dict[str, Any]] | None = None) -> str:
    m = run["machine"]
    res = run["results"]
    lines = [
        "# Performance",
        "",
        "Generated by `./dev bench` (`python -m benchmarks.run`; `--quick` for a shorter check, about a minute) "
        "from `benchmarks/`; do not edit by hand. The figures of the last full run are in "
        "[performance.json](performance.json). Every figure is measured side by side with its bare limit "
        "in the same run, on the same Temporal dev server: these machines are shared and noisy, so the "
        "ratios mean more than the absolute times.",
        "",
        "## The run",
        "",
        *table_head("Fact", "Value"),
        table_row("Date", run["date"]),
        table_row("Mode", f"{run['config']['name']} ({run['duration_s']} s)"),
        table_row("CPUs", f"{m['cpu_count']} x {m['cpu_model']}"),
        table_row("Memory", f"{m['memory_gb']} GB"),
        table_row("Python", m["python"]),
        table_row("temporalio", m["temporalio"]),
        table_row("Temporal CLI / server", m["temporal_cli"].replace("\n", " ")),
        table_row("strawberry / SQLAlchemy / SQLite", f"{m['strawberry']} / {m['sqlalchemy']} / {m['sqlite']}"),
        table_row("Load average at start", " ".join(str(x) for x in m["load_average_at_start"])),
        table_row("Other test runs at start", len(m["other_test_runs_at_start"]) or "none"),
        *_time_spent(run),
        "",
        "The stack is launched as `./dev up` launches it: the Temporal dev server persisting to a SQLite "
        "file (Web UI off), the read model in a SQLite file, one worker process (`python -m services.worker`) "
        "and one API process (uvicorn). The bare baselines (`benchmarks/bare.py`) run on the same server in a "
        "minimal worker process of their own, with the SDK's defaults; the load is generated from the "
        "benchmark process, which shares the machine's cores with all of them. For one throughput run a "
        "second worker, API and bare worker join them; the lists run on databases of their own, each served "
        "by an API process of its own: a SQLite file beside the stack's read model and a PostgreSQL server "
        "(Debian's package, a throwaway cluster), each with its list floor, one more uvicorn process. The capacity "
        "model built from these figures is [scaling.md](scaling.md). Live updates are measured by a "
        "subscriber connected to the API over WebSocket (graphql-transport-ws), from the benchmark process too.",
        "",
        "## Goals",
        "",
        *table_head("Benchmark", "Subject", "Bare limit", "Ratio", "Goal", "Met"),
    ]
    for g in run["goals"]:
        lines.append(table_row(g["benchmark"], g["subject"], g["bare"], g["ratio"], g["goal"], _met(g["met"])))

    lat = res.get("transition_latency")
    if lat:
        lines += [
            "",
            "## 1. Transition latency",
            "",
            lat["what"] + ".",
            "",
            *_percentiles_head("Side", "max ms", "p50 ratio", "p99 ratio"),
        ]
        for side in LATENCY_SIDES:
            s = lat[side]
            r = lat["ratios"].get(side, {"p50": 1.0, "p99": 1.0})
            lines.append(_percentiles_row(side, s, s["max_ms"], r["p50"], r["p99"]))
        floor = lat["ratios_vs_local_activity_floor"]
        lines += [
            "",
            "Against the local-activity floor (bare update + no-op local activity): engine update "
            f"{floor['engine_update']['p50']}x p50, GraphQL transition {floor['graphql_transition']['p50']}x p50. "
            "Against the GraphQL floor (that update sent by a minimal strawberry-on-starlette app): GraphQL "
            f"transition {lat['ratios_vs_graphql_floor']['graphql_transition']['p50']}x p50.",
        ]
        cost = lat.get("cost")
        if cost:
            payload = cost["payload_bytes_per_transition"]
            lines += [
                "",
                f"Cost of one transition (CPU over {cost['transitions']} sequential transitions, from /proc): "
                f"worker {cost['worker_cpu_ms_per_engine_update']} ms per engine update and "
                f"{cost['worker_cpu_ms_per_graphql_transition']} ms per GraphQL transition, API "
                f"{cost['api_cpu_ms_per_graphql_transition']} ms per GraphQL transition (the GraphQL floor's "
                f"process {cost['graphql_floor_cpu_ms_per_transition']} ms per transition). Payload bytes in the "
                f"history per transition: {payload['total']} (update input {payload.get('update_input', 0)}, "
                f"projection marker {payload.get('projection_marker', 0)}, "
                f"update result {payload.get('update_result', 0)}).",
            ]
    live = res.get("subscription_latency")
    if live:
        subscriber, model = live["subscriber"], live["poll_model"]
        lines += [
            *_measured_section("1b. Live updates", live["what"], "Side"),
            _percentiles_row("answer -> subscriber's event", subscriber),
            table_row(f"a poll every {model['interval_s']:g} s (model)", "-", model["p50_ms"], "-", model["p99_ms"]),
        ]
    console = res.get("console_queries")
    if console:
        board, page = console["board"], console["lifecycle_page"]
        lines += [
            *_measured_section("1c. The console's pages", console["what"], "Page"),
            _percentiles_row(
                f"pipeline board, {board['open_deals_shown']} open deals ({board['page_size']} a page)", board
            ),
            _percentiles_row(
                f"one lifecycle's page, {page['lifecycles_in_read_model']:,} lifecycles in the read model", page
            ),
            "",
            f"The board's answers: {board['bytes_per_full_page']:,} bytes a full page, {board['bytes_per_load']:,} "
            f"bytes a load; the API spent {board['api_cpu_ms_per_load']} ms of CPU per load.",
        ]
    tput = res.get("throughput")
    if tput:
        lines += [
            "",
            "## 2. Throughput",
            "",
            f"Each client loops on its own lifecycle (bare: its own minimal workflow) for "
            f"{tput['seconds_per_level']} s after a warm-up. CPU: milliseconds of CPU (user + system, from "
            "/proc/<pid>/stat) each kind of process spent per operation completed during the level, summed "
            "over its processes; the Temporal column is the dev server (history, matching and persistence in "
            "one process). The last row runs two service workers and two APIs (the clients spread over both) "
            "against two bare workers. The GraphQL floor (the latency benchmark's, benchmarks/graphql_floor.py: "
            "the bare update with one no-op local activity sent by a minimal strawberry-on-starlette app) runs "
            "at each level of one process of each, its CPU read from its own process, the bare worker and "
            "the server.",
            "",
            *table_head(
                "Clients",
                "Processes",
                "Bare updates/s",
                "GraphQL floor/s",
                "GraphQL transitions/s",
                "Ratio",
                "Floor ratio",
                "Bare p50 ms",
                "GraphQL p50 ms",
                "CPU ms/transition: API",
                "worker",
                "Temporal",
                "CPU ms/floor transition: floor",
                "bare worker",
                "Temporal",
                "CPU ms/bare update: bare worker",
                "Temporal",
            ),
        ]
        for level in [*tput["levels"], tput["scaled"]]:
            cpu, bare_cpu = level["cpu_ms_per_graphql_transition"], level["cpu_ms_per_bare_update"]
            floor_cpu = level.get("cpu_ms_per_graphql_floor_transition", {})
            lines.append(
                table_row(
                    level["clients"],
                    level["processes"],
                    level["bare_updates_per_s"],
                    level.get("graphql_floor_per_s", "-"),
                    level["graphql_transitions_per_s"],
                    level["ratio"],
                    level.get("graphql_floor_ratio", "-"),
                    level["bare_latency"]["p50_ms"],
                    level["graphql_latency"]["p50_ms"],
                    cpu["api"],
                    cpu["worker"],
                    cpu["temporal"],
                    floor_cpu.get("graphql_floor", "-"),
                    floor_cpu.get("bare", "-"),
                    floor_cpu.get("temporal", "-"),
                    bare_cpu["bare"],
                    bare_cpu["temporal"],
                )
            )
        scaled = tput["scaled"]
        lines += [
            "",
            f"Two of each against one of each at {scaled['clients']} clients: GraphQL transitions "
            f"{scaled['graphql_speedup_vs_one_process']}x, bare updates {scaled['bare_speedup_vs_one_process']}x.",
        ]
    lists = res.get("lists")
    if lists:
        lines += ["", "## 3. Lists at scale", "", lists["what"] + "."]
        for key, database in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
            found = lists[key]
            if "skipped" in found:
                lines += ["", f"{database}: {found['skipped']}."]
                continue
            version = f" {found['server_version']}" if found.get("server_version") else ""
            for size in found["sizes"]:
                lines += [
                    "",
                    f"### {database}{version}: {size['rows']:,} opportunities (filled in {size['fill_seconds']} s)",
                    "",
                    *table_head(
                        "Query",
                        "Rows matching",
                        "GraphQL p50/p99 ms",
                        "Floor p50/p99 ms",
                        "Raw SQL p50/p99 ms",
                        "vs floor p50",
                        "vs raw p50",
                        "Indexes",
                    ),
                ]
                for s in size["shapes"]:
                    lines.append(
                        table_row(
                            s["name"],
                            f"{s['matching_rows']:,}",
                            f"{s['graphql']['p50_ms']} / {s['graphql']['p99_ms']}",
                            f"{s['floor']['p50_ms']} / {s['floor']['p99_ms']}"
                            + ("" if s["floor_same_page"] else " (**a different page**)"),
                            f"{s['raw_sql']['p50_ms']} / {s['raw_sql']['p99_ms']}",
                            s["floor_ratio_p50"],
                            s["ratio_p50"],
                            ("yes" if s["uses_indexes"] else "**no**")
                            + (" (sorts in memory)" if s["sorts_in_memory"] else ""),
                        )
                    )
            biggest = found["sizes"][-1]
            plan_tool = "`EXPLAIN QUERY PLAN`" if key == "sqlite" else "`EXPLAIN`"
            lines += ["", f"{database} query plans at {biggest['rows']:,} ({plan_tool}):", ""]
            for s in biggest["shapes"]:
                lines += [f"- {s['name']}:"]
                for p in s["plans"]:
                    lines.append(f"  - `{p['sql'][:160]}{'...' if len(p['sql']) > 160 else ''}`")
                    lines += [f"    - {step}" for step in p["plan"]]
    timers = res.get("timer_lateness")
    if timers:
        lines += [
            "",
            "## 4. Timer lateness",
            "",
            timers["what"] + ".",
            "",
            *_percentiles_head("Side", "max ms", "all applied after s"),
        ]
        sides = (
            ("bare sleepers", timers["bare_sleepers"]),
            ("firing floor (sleep + no-op activity)", timers["firing_floor"]),
            ("lifecycles", timers["lifecycles"]),
        )
        for label, side in sides:
            lines.append(_percentiles_row(label, side, side["max_ms"], side["drained_in_s"]))
        for cron in timers["cron_poller_model"]:
            lines.append(
                table_row(
                    f"cron poller every {cron['interval_s']:g} s (model)",
                    "",
                    cron["p50_ms"],
                    "",
                    cron["p99_ms"],
                    cron["max_ms"],
                    "",
                )
            )
        lines += [
            "",
            "What one firing put in Temporal's history (every event from the timer's TimerFired on, the mean "
            f"of {timers['lifecycles']['per_firing']['histories']} histories per side): each workflow task is a "
            "dispatch to a worker and three history events, each activity task another dispatch.",
            "",
            *table_head(
                "Side", "Workflow tasks", "Activity tasks", "Local activities", "Timers started", "History events"
            ),
        ]
        for label, side in sides:
            work = side["per_firing"]
            lines.append(
                table_row(
                    label,
                    work["workflow_tasks"],
                    work["activity_tasks"],
                    work["local_activities"],
                    work["timers_started"],
                    work["history_events"],
                )
            )
        lines += [
            "",
            "A lifecycle's firing, event by event: "
            + ", ".join(timers["lifecycles"]["per_firing"]["example_events"])
            + ".",
        ]
        overran = [n for n, s in sides if s["setup_overran"]]
        if overran:
            lines += [
                "",
                f"Warning: the setup of {', '.join(overran)} ran past the due moment; the figures are suspect.",
            ]
    starts = res.get("starts_and_memory")
    if starts:
        lines += [
            "",
            "## 5. Start rate and memory",
            "",
            starts["what"] + f"; {starts['concurrency']} concurrent clients.",
            "",
            *table_head("Figure", "Value"),
            table_row("Bare starts/s", starts["bare_starts_per_s"]),
            table_row("Bare start + update/s", starts["bare_start_and_update_per_s"]),
            table_row("openOpportunity/s (first batch)", starts["graphql_opens_per_s"]),
            table_row("Worker RSS before", f"{starts['worker_rss_mb_before']} MB"),
        ]
        for idle in (timers or {}).get("lifecycles", {}).get("idle_memory") or []:
            when = "after" if idle["after_burst"] else "before"
            lines.append(
                table_row(
                    f"Worker RSS, {idle['idle_lifecycles']:,} idle lifecycles ({when} the timer burst)",
                    f"{idle['worker_rss_mb']} MB",
                )
            )
        if timers:
            lines.append(
                table_row(
                    f"Worker RSS high-water mark, after {timers['count']:,} timers due at once",
                    f"{timers['lifecycles']['worker_rss_high_water_mb']} MB",
                )
            )
    if history:
        lines += ["", "## Before and after the fixes", ""]
        lines += table_head("Figure", "Before", "After", "Change")
        lines += [table_row(h["figure"], h["before"], h["after"], h.get("change", "")) for h in history]
    notes = run.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"
