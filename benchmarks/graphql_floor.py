"""The floor of a GraphQL transition served by Python: strawberry on starlette, nothing else.

``uvicorn --factory benchmarks.graphql_floor:create_app``, launched by the latency benchmark
beside the API, as the API is launched (same server options). Its one mutation sends the
bare worker's update that runs one no-op local activity (``BenchBare.ping_local``, the
local-activity floor of ``benchmarks/bare.py``) through the Temporal client and answers a
small object: no authentication, no validation of the input, no facts, no engine, no read
model. What the API's transition costs beyond it is what the service's own layers add.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info
from temporalio.client import Client

from benchmarks.bare import BareWorkflow

MUTATION = """
mutation Ping($workflowId: String!) {
  ping(workflowId: $workflowId) { workflowId answered }
}"""


@strawberry.type
class Pinged:
    workflow_id: str
    answered: bool


@strawberry.type
class Query:
    @strawberry.field
    def ready(self) -> bool:
        return True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def ping(self, info: Info, workflow_id: str) -> Pinged:
        client: Client = info.context["request"].app.state.client
        await client.get_workflow_handle(workflow_id).execute_update(BareWorkflow.ping_local)
        return Pinged(workflow_id=workflow_id, answered=True)


def create_app() -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.client = await Client.connect(os.environ["LIFECYCLES_TEMPORAL_ADDRESS"])
        yield

    # The API's document caches too: any Python GraphQL server worth measuring has them.
    schema = strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=[lambda: ParserCache(maxsize=64), lambda: ValidationCache(maxsize=64)],
    )
    return Starlette(routes=[Route("/graphql", GraphQL(schema), methods=["GET", "POST"])], lifespan=lifespan)
