"""The read model on each database it runs on: a SQLite file, and a migrated database of
its own on the test PostgreSQL server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.db import Sessions, create_engine, session_factory
from tests.postgres import READ_MODEL_DATABASES, read_model_on


@pytest.fixture(params=READ_MODEL_DATABASES)
def readmodel_url(request: pytest.FixtureRequest, database_url: str) -> str:
    return read_model_on(request, database_url)


@pytest.fixture
async def readmodel(readmodel_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(readmodel_url)
    yield session_factory(engine)
    await engine.dispose()
