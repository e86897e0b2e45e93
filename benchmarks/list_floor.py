"""The floor of a GraphQL list served by Python: strawberry on starlette, nothing else.

``uvicorn --factory benchmarks.list_floor:create_app``, launched by the lists benchmark
beside the API, as the API is launched. It answers the same selection as the API's
``opportunities`` query (totalCount, pageInfo, seven fields per node) by running the
very statements the service sent for that page (the page with its total, captured by the
benchmark and handed over in a pickle file of the directory ``BENCH_LIST_STATEMENTS``,
named in the query: the floor is launched with the database's API, before the database
is filled and the statements captured) on one connection of the same driver, and reading
the fields from the rows: no ORM, no query building, no validation of the stored data, no
authentication. What the API costs beyond it is what the service's own layers add.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

# (shape name, page number) -> [(page statement, parameters)], then (count statement, parameters) for an empty page
Statements = dict[tuple[str, int], list[tuple[str, Any]]]
PAGE_SIZE = 20


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class OpportunityNode:
    id: str
    name: str
    stage: str
    owner: str | None
    close_date: str
    summary: str
    forecast_category: str


@strawberry.type
class OpportunityEdge:
    node: OpportunityNode


@strawberry.type
class OpportunityConnection:
    total_count: int
    page_info: PageInfo
    edges: list[OpportunityEdge]


class Database:
    """One connection of the driver the service uses (aiosqlite or psycopg), opened at startup."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.connection: Any = None

    async def open(self) -> None:
        if self.url.startswith("sqlite"):
            import aiosqlite

            self.connection = await aiosqlite.connect(self.url.split("///", 1)[1])
        else:
            import psycopg

            self.connection = await psycopg.AsyncConnection.connect(
                self.url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True
            )

    async def close(self) -> None:
        await self.connection.close()

    async def fetch(self, statement: str, parameters: Any) -> tuple[list[str], list[Sequence[Any]]]:
        cursor = await self.connection.execute(statement, parameters)
        rows = list(await cursor.fetchall())
        return [d[0] for d in cursor.description], rows


def _node(columns: list[str], row: Sequence[Any]) -> OpportunityNode:
    values = dict(zip(columns, row, strict=True))
    data = values["data"] if isinstance(values["data"], dict) else json.loads(values["data"])
    return OpportunityNode(
        id=values["entity_id"],
        name=data["name"],
        stage=values["state"],
        owner=values["owner"],
        close_date=data["close_date"],
        summary=values["summary"],
        forecast_category=data["forecast_category"],
    )


def _cursor(values: Sequence[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps([str(v) for v in values]).encode()).decode().rstrip("=")


def create_app() -> Starlette:
    directory = Path(os.environ["BENCH_LIST_STATEMENTS"])
    loaded: dict[str, Statements] = {}
    database = Database(os.environ["LIFECYCLES_DATABASE_URL"])

    def statements_in(name: str) -> Statements:
        """The statements of one file, read once (in the benchmark's warm-up requests)."""
        if name not in loaded:
            loaded[name] = pickle.loads((directory / name).read_bytes())
        return loaded[name]

    @strawberry.type
    class Query:
        @strawberry.field
        async def opportunities(self, statements: str, shape: str, page: int) -> OpportunityConnection:
            # The page, with its total in a column of every row; then, for an empty page, its count.
            (select, select_parameters), *count = statements_in(statements)[(shape, page)]
            columns, rows = await database.fetch(select, select_parameters)
            total = rows[0][columns.index("page_total")] if rows else (await database.fetch(*count[0]))[1][0][0]
            nodes = [_node(columns, row) for row in rows[:PAGE_SIZE]]
            last = rows[min(len(rows), PAGE_SIZE) - 1] if rows else None
            return OpportunityConnection(
                total_count=total,
                page_info=PageInfo(
                    has_next_page=len(rows) > PAGE_SIZE,
                    end_cursor=_cursor([last[columns.index("workflow_id")]]) if last else None,
                ),
                edges=[OpportunityEdge(node=node) for node in nodes],
            )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await database.open()
        yield
        await database.close()

    # The API's document caches too: any Python GraphQL server worth measuring has them.
    schema = strawberry.Schema(
        query=Query, extensions=[lambda: ParserCache(maxsize=64), lambda: ValidationCache(maxsize=64)]
    )
    graphql = GraphQL(schema)
    return Starlette(routes=[Route("/graphql", graphql, methods=["GET", "POST"])], lifespan=lifespan)
