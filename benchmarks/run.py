"""``python -m benchmarks.run [--quick]`` (``./dev bench``): every benchmark of issues 8 and 15.

Starts its own stack (``benchmarks/stack.py``), runs the benchmarks in order, prints each
figure beside its bare limit, writes ``benchmarks/results/latest.json`` and rewrites
``docs/performance.md`` and the capacity model ``docs/scaling.md`` (``benchmarks/capacity.py``;
a full run also ``docs/performance.json``). Most of a full run is the 2,000-timer bursts
(bare sleepers, the firing floor, the lifecycles: ``--timers 1000`` for a shorter one) and
the lists at a million rows on SQLite and PostgreSQL; each case's steps are timed
(``phase_seconds`` in the JSON, the report's "The run" table). ``--quick`` is about a minute
on a quiet 2-core machine. Run it on a quiet machine: figures taken while test suites run are
noisy. Ctrl-C or SIGTERM stops every process the run started."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks import cases
from benchmarks.capacity import scaling
from benchmarks.console import console_queries
from benchmarks.harness import CONFIGS, Bench, Config, config_facts, now_iso
from benchmarks.report import LATENCY_SIDES, goals, machine_facts, markdown
from benchmarks.stack import BenchStack
from benchmarks.subscriptions import subscription_latency

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
FINDINGS = ROOT / "benchmarks" / "findings.json"
REPORT = ROOT / "docs" / "performance.md"
SCALING = ROOT / "docs" / "scaling.md"
FIGURES = ROOT / "docs" / "performance.json"

Case = Callable[[Bench], Awaitable[dict[str, Any]]]
# In this order: the lists first (on databases of their own, removed afterwards); the timers
# last, on a server already holding the idle lifecycles, paced by the start rates measured before.
CASES: dict[str, Case] = {
    "lists": cases.lists,
    # On a read model holding nothing else yet, so the board shows its 500.
    "console_queries": console_queries,
    "transition_latency": cases.transition_latency,
    "subscription_latency": subscription_latency,
    "throughput": cases.throughput,
    "starts_and_memory": cases.starts_and_memory,
    "timer_lateness": cases.timer_lateness,
}


def _print_case(name: str, result: dict[str, Any], seconds: float) -> None:
    print(f"\n== {name} ({seconds:.0f} s)", flush=True)
    if name == "transition_latency":
        for side in LATENCY_SIDES:
            s = result[side]
            r = result["ratios"].get(side)
            extra = f"  ratio p50 {r['p50']}x p99 {r['p99']}x" if r else ""
            print(f"   {side:<26} p50 {s['p50_ms']:>7} ms  p95 {s['p95_ms']:>7}  p99 {s['p99_ms']:>7}{extra}")
        cost, vs_floor = result["cost"], result["ratios_vs_graphql_floor"]["graphql_transition"]
        print(
            f"   GraphQL transition vs the GraphQL floor p50 {vs_floor['p50']}x; CPU ms per transition: worker"
            f" {cost['worker_cpu_ms_per_graphql_transition']}"
            f" (engine update {cost['worker_cpu_ms_per_engine_update']}),"
            f" API {cost['api_cpu_ms_per_graphql_transition']},"
            f" Temporal {cost['temporal_cpu_ms_per_graphql_transition']},"
            f" GraphQL floor {cost['graphql_floor_cpu_ms_per_transition']};"
            f" payload bytes {cost['payload_bytes_per_transition']}"
        )
    elif name == "subscription_latency":
        s, model = result["subscriber"], result["poll_model"]
        print(f"   answer -> event  p50 {s['p50_ms']:>7} ms  p95 {s['p95_ms']:>7}  p99 {s['p99_ms']:>7}")
        print(f"   poll model ({model['interval_s']:g} s)  p50 {model['p50_ms']:>7} ms  p99 {model['p99_ms']:>7}")
    elif name == "console_queries":
        board, page = result["board"], result["lifecycle_page"]
        print(
            f"   board ({board['open_deals_shown']} open deals)  p50 {board['p50_ms']:>7} ms  p99 {board['p99_ms']:>7}"
            f"  bytes per full page {board['bytes_per_full_page']:,}, per load {board['bytes_per_load']:,}"
            f"  API CPU ms per load {board['api_cpu_ms_per_load']}"
        )
        print(
            f"   lifecycle page ({page['lifecycles_in_read_model']:,} in the read model)"
            f"  p50 {page['p50_ms']:>7} ms  p99 {page['p99_ms']:>7}"
        )
    elif name == "throughput":
        for level in [*result["levels"], result["scaled"]]:
            print(
                f"   {level['clients']:>2} clients, {level['processes']} of each process: "
                f"bare {level['bare_updates_per_s']:>6}/s  floor {level.get('graphql_floor_per_s', '-'):>6}/s  "
                f"GraphQL {level['graphql_transitions_per_s']:>6}/s  "
                f"ratio {level['ratio']}x  CPU ms per transition {level['cpu_ms_per_graphql_transition']}"
            )
    elif name == "lists":
        for database in ("sqlite", "postgresql"):
            if "skipped" in result[database]:
                print(f"   {database}: {result[database]['skipped']}")
                continue
            for size in result[database]["sizes"]:
                print(f"   {database}, {size['rows']:,} rows (filled in {size['fill_seconds']} s)")
                for s in size["shapes"]:
                    print(
                        f"     {s['name']:<45} GraphQL p50 {s['graphql']['p50_ms']:>6} p99 {s['graphql']['p99_ms']:>6}"
                        f"  floor p50 {s['floor']['p50_ms']:>6}  raw p50 {s['raw_sql']['p50_ms']:>6}"
                        f"  vs floor {s['floor_ratio_p50']}x  indexes {'yes' if s['uses_indexes'] else 'NO'}"
                    )
    elif name == "timer_lateness":
        for label in ("bare_sleepers", "firing_floor", "lifecycles"):
            s = result[label]
            print(
                f"   {label:<14} p50 {s['p50_ms']:>8} ms  p95 {s['p95_ms']:>8}  p99 {s['p99_ms']:>8}"
                f"  max {s['max_ms']:>8}"
                f"  (setup {s['setup_seconds']} s{', OVERRAN' if s['setup_overran'] else ''})"
            )
            work = s["per_firing"]
            print(
                f"   {'':<14} per firing: {work['workflow_tasks']} workflow tasks, {work['activity_tasks']} activity"
                f" tasks, {work['local_activities']} local activities, {work['history_events']} history events"
            )
        print(
            f"   ratios to the bare sleepers {result['ratios']}, to the firing floor {result['ratios_vs_firing_floor']}"
        )
        print(f"   worker RSS high-water mark after the burst: {result['lifecycles']['worker_rss_high_water_mb']} MB")
        idle = result["lifecycles"]["idle_memory"]
        readings = [
            f"{i['idle_lifecycles']:,} idle{' after the burst' if i['after_burst'] else ''}: {i['worker_rss_mb']} MB"
            for i in idle
        ]
        print("   worker RSS: " + ", ".join(readings))
        for cron in result["cron_poller_model"]:
            print(f"   cron every {cron['interval_s']:g} s (model): p50 {cron['p50_ms']} ms  p99 {cron['p99_ms']} ms")
    elif name == "starts_and_memory":
        print(
            f"   bare starts {result['bare_starts_per_s']}/s,"
            f" bare start+update {result['bare_start_and_update_per_s']}/s,"
            f" openOpportunity {result['graphql_opens_per_s']}/s"
        )
        print(f"   worker RSS before {result['worker_rss_mb_before']} MB")


async def run(
    config: Config, only: list[str] | None = None, stack_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Launch the stack, run the benchmarks, return the run's JSON document."""
    started = time.monotonic()
    facts = machine_facts()
    results: dict[str, Any] = {}
    timings: dict[str, float] = {}
    async with BenchStack(**(stack_options or {})) as stack:
        launch = {"start": round(time.monotonic() - started, 1)}
        print(f"== the stack is up ({launch['start']:.0f} s) in {stack.dir}: {stack.describe()}", flush=True)
        async with Bench(stack, config) as bench:
            for name, case in CASES.items():
                if only and name not in only:
                    continue
                bench.case = name
                t0 = time.monotonic()
                results[name] = await case(bench)
                timings[name] = round(time.monotonic() - t0, 1)
                stack.check_alive()
                _print_case(name, results[name], timings[name])
                _print_phases(bench.phases.get(name, {}))
        stopping = time.monotonic()
    launch["stop"] = round(time.monotonic() - stopping, 1)
    document = {
        "date": now_iso(),
        "config": config_facts(config),
        "duration_s": round(time.monotonic() - started, 1),
        "case_seconds": timings,
        # Where each case's seconds went (and the stack's own start and stop).
        "phase_seconds": {"stack": launch, **bench.phases},
        "machine": facts,
        "results": results,
    }
    document["goals"] = goals(results)
    return document


def _print_phases(phases: dict[str, float]) -> None:
    if phases:
        print("   steps: " + ", ".join(f"{name} {seconds:g} s" for name, seconds in phases.items()), flush=True)


async def interruptible(work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """``work``, cancelled by SIGTERM as asyncio cancels it on Ctrl-C: unwinding, the stack stops
    every process it started (the PostgreSQL server and the extra APIs included) and removes its
    directory. Exits with 128 + the signal's number."""
    task = asyncio.ensure_future(work)
    terminated = asyncio.Event()

    def terminate() -> None:
        if not terminated.is_set():  # a second SIGTERM does not cut the unwinding short
            terminated.set()
            task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminate)
    try:
        return await task
    except asyncio.CancelledError:
        if not terminated.is_set():
            raise  # Ctrl-C: asyncio.run turns it into KeyboardInterrupt
        print("interrupted (SIGTERM): every process the run started is stopped", file=sys.stderr, flush=True)
        raise SystemExit(128 + signal.SIGTERM) from None


def findings() -> dict[str, Any]:
    if FINDINGS.exists():
        loaded: dict[str, Any] = json.loads(FINDINGS.read_text())
        return loaded
    return {}


def write(document: dict[str, Any], *, report: bool = True) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "latest.json"
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    if report and document["config"]["name"] == "full":
        # The last full run's figures, committed beside the report they fill.
        FIGURES.write_text(json.dumps(document, indent=2, default=str) + "\n")
    if report:
        render(document)
    return path


def render(document: dict[str, Any]) -> None:
    """docs/performance.md and the capacity model, docs/scaling.md, from a run's document."""
    found = findings()
    REPORT.write_text(markdown({**document, "notes": found.get("notes", [])}, found.get("before_after")))
    model = scaling(document)
    if model is not None:
        SCALING.write_text(model)


def count(text: str) -> int:
    """A command-line count: a whole number above zero."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above zero")
    return value


def counts(text: str) -> tuple[int, ...]:
    """Comma-separated counts, e.g. ``1000,2000,10000``."""
    return tuple(count(part) for part in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(prog="./dev bench", description="Benchmarks against the bare limits (issue 8).")
    parser.add_argument(
        "--quick", action="store_true", help="fewer samples, 10,000 list rows and 100-timer bursts (about a minute)"
    )
    parser.add_argument("--only", nargs="*", choices=list(CASES), help="run only these benchmarks")
    parser.add_argument("--no-report", action="store_true", help="write the JSON only, not docs/performance.md")
    parser.add_argument("--timers", type=count, help="lifecycles (and sleepers) due at once in the timer benchmark")
    parser.add_argument(
        "--idle",
        type=counts,
        help="idle counts at which the worker's RSS is read, e.g. 1000,2000,10000 (beyond --timers, more "
        "lifecycles are started after the burst)",
    )
    parser.add_argument(
        "--render", action="store_true", help="only rewrite docs/performance.md from benchmarks/results/latest.json"
    )
    args = parser.parse_args()
    if args.render:
        document = json.loads((RESULTS / "latest.json").read_text())
        document["goals"] = goals(document["results"])
        render(document)
        print(f"wrote {REPORT.relative_to(ROOT)} and {SCALING.relative_to(ROOT)}")
        return
    config = CONFIGS["quick" if args.quick else "full"]
    if args.timers:
        config = dataclasses.replace(config, timer_count=args.timers)
    if args.idle:
        config = dataclasses.replace(config, idle_counts=args.idle)
    document = asyncio.run(interruptible(run(config, args.only)))
    path = write(document, report=not args.no_report and not args.only)
    print("\n== goals")
    for g in document["goals"]:
        met = {None: "  -  ", True: " met ", False: "MISSED"}[g["met"]]
        print(f"   [{met}] {g['benchmark']}: {g['subject']} vs {g['bare']} -> {g['ratio']}x (goal {g['goal']})")
    print(
        f"\nwrote {path.relative_to(ROOT)}"
        + ("" if args.no_report or args.only else f", {REPORT.relative_to(ROOT)} and {SCALING.relative_to(ROOT)}")
    )
    print(f"took {document['duration_s']} s")


if __name__ == "__main__":
    main()
