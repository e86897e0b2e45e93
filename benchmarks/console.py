"""The console's own queries, as the console sends them (read from its source, so the figures
follow the page): the pipeline board over 500 open deals, and one lifecycle's page while the
read model holds 100,000 lifecycles.

The board loads page after page of 100 deals, as ``boardPage`` does, with the new-business
pipeline's open stages as the filter; a board load is all its pages. Beside its times, the
bytes of its answers and the API's CPU per load (robust on a shared machine). A move's and a
refusal's one-deal queries are not part of a load. The lifecycle page is
``lifecyclePage``'s two requests (the lifecycle with its history, effects and what may happen
now; then the account's other lifecycles) for a deal opened through the API, so it has a
history, on an account it shares with filled rows.
"""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

from benchmarks.cases import FILL_STAGES, fill_in_thread, unfill
from benchmarks.harness import Bench, GraphQLFailure
from benchmarks.stats import summary_ms
from workflows.opportunity import NEW_BUSINESS_STAGES

APP = Path(__file__).resolve().parent.parent / "services" / "console" / "static" / "app.js"
BOARD_DEALS = 500
BOARD_PAGES_AT_MOST = 10  # as boardPage stops


def console_query(name: str, source: str | None = None) -> str:
    """The GraphQL document the console's ``const <name> = `...`;`` holds, its ``${CONST}``s
    replaced by the string constants they name."""
    text = source if source is not None else APP.read_text()
    found = re.search(rf"^const {name} = `(.*?)`;", text, re.S | re.M)
    if found is None:
        raise LookupError(f"the console has no query {name}")
    constants = dict(re.findall(r'^const ([A-Z_]+) = "([^"\n]*)";', text, re.M))
    return re.sub(r"\$\{([A-Z_]+)\}", lambda m: constants[m.group(1)], found.group(1))


def _rows_for_open_deals(wanted: int) -> int:
    """How many fill rows hold ``wanted`` open new-business deals (fill_rows picks the stages)."""
    rows = found = 0
    while found < wanted:
        found += FILL_STAGES[(rows * 31) % len(FILL_STAGES)] in NEW_BUSINESS_STAGES
        rows += 1
    return rows


async def _timed(b: Bench, samples: int, warmup: int, load: Any) -> dict[str, Any]:
    for _ in range(warmup):
        await load()
    durations = []
    for _ in range(samples):
        t0 = time.perf_counter()
        await load()
        durations.append(time.perf_counter() - t0)
    return summary_ms(durations)


async def console_queries(b: Bench) -> dict[str, Any]:
    cfg = b.config
    board_query, lifecycle_query, related_query = (console_query(n) for n in ("BOARD", "LIFECYCLE", "RELATED"))
    columns = [stage.value for stage in NEW_BUSINESS_STAGES]
    board_rows = _rows_for_open_deals(BOARD_DEALS)
    try:
        with b.phase(f"fill {board_rows:,} rows"):
            await fill_in_thread(b.stack.database_url, 0, board_rows)
        shown: list[int] = []
        page_bytes: list[int] = []

        async def load_board() -> None:
            after, deals = None, 0
            for _ in range(BOARD_PAGES_AT_MOST):
                data, size = await b.gql_sized(board_query, {"filter": {"stage": columns}, "after": after})
                page = data["opportunities"]
                page_bytes.append(size)
                deals += len(page["nodes"])
                if not page["pageInfo"]["hasNextPage"]:
                    break
                after = page["pageInfo"]["endCursor"]
            shown.append(deals)

        with b.phase("board measured"):
            api_cpu_before = b.stack.cpu("api")
            board = await _timed(b, cfg.console_samples, 1, load_board)
            api_cpu_ms_per_load = (b.stack.cpu("api") - api_cpu_before) * 1000 / len(shown)
        board_deals = shown[-1]

        with b.phase(f"fill to {cfg.console_lifecycles:,} rows"):
            await fill_in_thread(b.stack.database_url, board_rows, cfg.console_lifecycles)
        (deal,) = b.ids("console", 1)
        # fill-acct-7 holds every 5,000th filled row from the 1st: the account's other lifecycles.
        await b.open_opportunity(deal, 0, account={"id": "fill-acct-7", "name": "Account fill-acct-7"})

        async def load_page() -> None:
            one = (await b.gql(lifecycle_query, {"kind": "opportunity", "id": deal}))["lifecycle"]
            if one["__typename"] != "GenericLifecycle":
                raise GraphQLFailure(f"the lifecycle page found no deal: {one}")
            await b.gql(related_query, {"accountId": one["accountId"]})

        with b.phase("lifecycle page measured"):
            page = await _timed(b, cfg.console_samples, 1, load_page)
    finally:
        with b.phase("filled rows removed"):
            await asyncio.to_thread(unfill, b.stack.database_url)
    return {
        "board": {
            **board,
            "open_deals_shown": board_deals,
            "page_size": 100,
            # A full page's answer; the last page of a load holds the rest.
            "bytes_per_full_page": max(page_bytes),
            "bytes_per_load": sum(page_bytes) // len(shown),
            "api_cpu_ms_per_load": round(api_cpu_ms_per_load, 1),
        },
        "lifecycle_page": {**page, "lifecycles_in_read_model": cfg.console_lifecycles},
        "what": "the console's BOARD query page after page over the new-business pipeline's open stages (a load "
        "is every page), and its LIFECYCLE then RELATED queries for one deal; over HTTP through the API, "
        "read from services/console/static/app.js",
    }
