"""What every benchmark shares: the sizes of a run, the launched stack and its clients."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import httpx
import sqlalchemy as sa
from temporalio.client import Client

from benchmarks.bare import TASK_QUEUE as BARE_QUEUE
from benchmarks.bare import BareWorkflow
from benchmarks.stack import BenchStack
from services.db import create_engine, session_factory
from services.lifecycles import LifecycleGateway, Principal
from services.models import LifecycleRow
from services.settings import Settings
from workflows.engine.instance import LifecycleInstance
from workflows.engine.spec import Role
from workflows.engine.types import LifecycleInput, TransitionRequest, TransitionResult, workflow_id_for
from workflows.engine.visibility import search_attributes
from workflows.opportunity import OPPORTUNITY, OpportunityWorkflow


@dataclass(frozen=True)
class Config:
    """How much of each benchmark a run does."""

    name: str
    # 1. transition latency: rounds of (bare, engine, GraphQL), interleaved.
    latency_warmup: int
    latency_samples: int
    latency_lifecycles: int
    # 2. throughput: seconds measured per concurrency level and side, after a warm-up.
    throughput_clients: tuple[int, ...]
    throughput_seconds: float
    throughput_warmup_seconds: float
    # 3. lists: read-model sizes, timed requests per query shape, size and side (API, floor, raw SQL).
    list_sizes: tuple[int, ...]
    list_samples: int
    list_warmup: int
    # 4. timers: lifecycles (and as many sleeping workflows) due at one moment.
    timer_count: int
    # The console's queries: the read model's size for its lifecycle page, timed loads of each page.
    console_lifecycles: int
    console_samples: int
    # 5. starts: the rate over the first ``start_count``; worker RSS once each idle count is reached.
    start_count: int
    idle_counts: tuple[int, ...]
    concurrency: int = 16
    notes: list[str] = field(default_factory=list)


FULL = Config(
    name="full",
    latency_warmup=20,
    latency_samples=200,
    latency_lifecycles=10,
    throughput_clients=(1, 8, 32),
    throughput_seconds=3,
    throughput_warmup_seconds=1,
    # The goal's size, on SQLite and on PostgreSQL (filled in ~1-3 minutes each on 2 cores).
    list_sizes=(1_000_000,),
    list_samples=100,
    list_warmup=10,
    timer_count=2_000,
    console_lifecycles=100_000,
    console_samples=30,
    start_count=200,
    # Read while the timer benchmark's lifecycles wait: up to twice the worker's workflow
    # cache (1,000). 10k idle takes another ~7 minutes on a 2-core machine (the dev server
    # starts about 20 lifecycles a second there): ``--idle 1000,2000,10000``.
    idle_counts=(1_000, 2_000),
)
QUICK = Config(
    name="quick",
    latency_warmup=5,
    latency_samples=30,
    latency_lifecycles=3,
    throughput_clients=(1, 8, 32),
    throughput_seconds=0.5,
    throughput_warmup_seconds=0.1,
    list_sizes=(10_000,),
    list_samples=12,
    list_warmup=2,
    # Three bursts (bare sleepers, the firing floor, the lifecycles): 100 each keeps it near a minute.
    timer_count=100,
    console_lifecycles=10_000,
    console_samples=5,
    start_count=20,
    idle_counts=(50, 100),
)
# For the smoke test: every piece once, in seconds, proving the harness and the JSON shape.
SMOKE = Config(
    name="smoke",
    latency_warmup=2,
    latency_samples=10,
    latency_lifecycles=2,
    throughput_clients=(1, 2),
    throughput_seconds=0.5,
    throughput_warmup_seconds=0.2,
    list_sizes=(300,),
    list_samples=5,
    list_warmup=1,
    timer_count=10,
    console_lifecycles=2_000,
    console_samples=2,
    start_count=10,
    idle_counts=(5, 10),
    concurrency=4,
)
CONFIGS = {c.name: c for c in (FULL, QUICK, SMOKE)}


def config_facts(config: Config) -> dict[str, Any]:
    return {k: v for k, v in asdict(config).items() if k != "notes"}


UPDATE_OPPORTUNITY = """
mutation Update($input: UpdateOpportunityInput!) {
  updateOpportunity(input: $input) {
    __typename
    ... on OpportunityChanged { opportunity { id stage version name } transition { seq trigger } }
  }
}"""

OPEN_OPPORTUNITY = """
mutation Open($input: OpenOpportunityInput!) {
  openOpportunity(input: $input) {
    __typename
    ... on OpportunityChanged { opportunity { id stage version } }
  }
}"""


def opportunity_input(entity_id: str, i: int = 0) -> dict[str, Any]:
    return {
        "id": entity_id,
        "name": f"Bench deal {i}",
        "account": {"id": f"acct-{i % 500}", "name": f"Account {i % 500}"},
        "closeDate": date(2031, 1 + i % 12, 1 + i % 28).isoformat(),
        "amount": str(10_000 + (i * 37) % 90_000),
        "nextStep": {"text": "Discovery call"},
    }


class GraphQLFailure(RuntimeError):
    pass


class Bench:
    """The launched stack with the clients the benchmarks drive it through."""

    def __init__(self, stack: BenchStack, config: Config) -> None:
        self.stack = stack
        self.config = config
        self.run_id = uuid.uuid4().hex[:6]
        self.client: Client
        self.http: httpx.AsyncClient
        self.admin_http: httpx.AsyncClient
        self._engine = create_engine(stack.database_url)
        self.sessions = session_factory(self._engine)
        self.gateway: LifecycleGateway
        # Lifecycle opens and bare starts per second, once the start benchmark has measured them.
        self.open_rate: float | None = None
        self.bare_start_rate: float | None = None
        # Seconds spent in each step of each case (``phase``), for the run's log and report.
        self.case = ""
        self.phases: dict[str, dict[str, float]] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time one step of the running case (a fill, a burst's starts, its drain...): where a run's
        minutes go, in the run's JSON (``phase_seconds``) and the report's "The run" table."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            spent = self.phases.setdefault(self.case, {})
            spent[name] = round(spent.get(name, 0.0) + time.monotonic() - t0, 1)

    def http_client(self, base_url: str, *, admin: bool = False) -> httpx.AsyncClient:
        """A GraphQL client of the API at ``base_url``, with the operator's (or admin's) token."""
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        return httpx.AsyncClient(
            base_url=base_url, headers=self.stack.graphql_headers(admin=admin), timeout=60, limits=limits
        )

    async def __aenter__(self) -> Bench:
        self.client = await self.stack.client()
        self.http = self.http_client(self.stack.api_url)
        self.admin_http = self.http_client(self.stack.api_url, admin=True)
        settings = Settings(temporal_address=self.stack.address, database_url=self.stack.database_url)
        self.gateway = LifecycleGateway(self.client, settings, self.sessions)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()
        await self.admin_http.aclose()
        await self._engine.dispose()

    def ids(self, prefix: str, n: int, start: int = 0) -> list[str]:
        return [f"{prefix}-{self.run_id}-{i}" for i in range(start, start + n)]

    # ---- GraphQL -------------------------------------------------------------------------

    async def gql(
        self, query: str, variables: dict[str, Any], *, admin: bool = False, http: httpx.AsyncClient | None = None
    ) -> dict[str, Any]:
        data, _ = await self.gql_sized(query, variables, admin=admin, http=http)
        return data

    async def gql_sized(
        self, query: str, variables: dict[str, Any], *, admin: bool = False, http: httpx.AsyncClient | None = None
    ) -> tuple[dict[str, Any], int]:
        """The answer's data and the size of its body in bytes, as sent (uncompressed)."""
        http = http or (self.admin_http if admin else self.http)
        response = await http.post("/graphql", json={"query": query, "variables": variables})
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise GraphQLFailure(f"HTTP {response.status_code}: {body}")
        data: dict[str, Any] = body["data"]
        return data, len(response.content)

    async def open_opportunity(self, entity_id: str, i: int = 0, **extra: Any) -> None:
        data = await self.gql(OPEN_OPPORTUNITY, {"input": {**opportunity_input(entity_id, i), **extra}})
        if data["openOpportunity"]["__typename"] != "OpportunityChanged":
            raise GraphQLFailure(str(data))

    async def update_opportunity(self, entity_id: str, name: str, http: httpx.AsyncClient | None = None) -> None:
        data = await self.gql(UPDATE_OPPORTUNITY, {"input": {"id": entity_id, "name": name}}, http=http)
        if data["updateOpportunity"]["__typename"] != "OpportunityChanged":
            raise GraphQLFailure(str(data))

    # ---- the engine's update, without GraphQL ------------------------------------------

    async def engine_update(self, entity_id: str, name: str) -> TransitionResult:
        handle = self.client.get_workflow_handle(f"opportunity/{entity_id}")
        return await handle.execute_update(
            OpportunityWorkflow.transition,
            TransitionRequest(
                trigger="update_fields", params={"name": name}, actor="engine@bench.example", role=Role.OPERATOR
            ),
            id=str(uuid.uuid4()),
        )

    # ---- the bare workflow ---------------------------------------------------------------

    async def start_bare(self, workflow_id: str) -> Any:
        return await self.client.start_workflow(BareWorkflow.run, id=workflow_id, task_queue=BARE_QUEUE)

    async def bare_update(self, handle: Any) -> None:
        await handle.execute_update(BareWorkflow.ping)

    async def bare_update_local_activity(self, handle: Any) -> None:
        await handle.execute_update(BareWorkflow.ping_local)

    # ---- the service's own gateway (for opens GraphQL does not expose) ----------------

    async def gateway_open(self, entity_id: str, data: dict[str, Any]) -> None:
        await self.gateway.open(
            "opportunity", entity_id, data, principal=Principal(actor="admin@bench.example", role=Role.ADMIN)
        )

    async def start_lifecycle(self, entity_id: str, data: dict[str, Any]) -> None:
        """Start an opportunity's workflow with the input the gateway gives it, without waiting
        for its opening to be projected: the fast way to fill the server for a benchmark."""
        now = datetime.now(UTC)
        data_obj, policy_obj = LifecycleInstance.validate_new(OPPORTUNITY, data, {}, now)
        state = LifecycleInstance.entry_state(OPPORTUNITY, data_obj, None)
        account = OPPORTUNITY.account_of(data_obj)
        await self.client.start_workflow(
            OpportunityWorkflow.run,
            LifecycleInput(
                kind="opportunity",
                entity_id=entity_id,
                data=data_obj.model_dump(mode="json"),
                policy=policy_obj.model_dump(mode="json"),
                actor="admin@bench.example",
                initial_state=state,
            ),
            id=workflow_id_for("opportunity", entity_id),
            task_queue=self.gateway.settings.task_queue,
            search_attributes=search_attributes(
                "opportunity", state, OPPORTUNITY.owner_of(data_obj), account[0] if account else None, None
            ),
            static_summary=f"Opportunity: {OPPORTUNITY.summary_of(data_obj)}"[:200],
        )

    async def projected(self, prefix: str) -> int:
        """How many lifecycles whose entity id starts with ``prefix`` the read model has."""
        async with self.sessions() as session:
            result = await session.execute(
                sa.select(sa.func.count()).where(LifecycleRow.workflow_id.startswith(f"opportunity/{prefix}"))
            )
            return int(result.scalar_one())

    async def wait_projected(self, prefix: str, n: int, within: float) -> float:
        """Wait until ``n`` such lifecycles are in the read model; seconds waited."""
        t0 = time.monotonic()
        while await self.projected(prefix) < n:
            if time.monotonic() - t0 > within:
                raise TimeoutError(f"only {await self.projected(prefix)} of {n} {prefix}* projected in {within}s")
            await asyncio.sleep(0.25)
        return time.monotonic() - t0


async def run_concurrently(n: int, concurrency: int, op: Callable[[int], Awaitable[Any]]) -> list[float]:
    """Run ``op(0..n-1)`` with ``concurrency`` in flight; each call's duration in seconds."""
    durations: list[float] = [0.0] * n
    next_index = 0

    async def client() -> None:
        nonlocal next_index
        while next_index < n:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            await op(i)
            durations[i] = time.perf_counter() - t0

    await asyncio.gather(*(client() for _ in range(min(concurrency, n))))
    return durations


def now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")
