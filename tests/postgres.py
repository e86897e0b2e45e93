"""The throwaway PostgreSQL server of the read-model tests (``infra/postgres.py``).

In CI (``LIFECYCLES_CI=1``) a missing server is installed with apt-get; elsewhere
the tests that need it are skipped with the reason. The cluster lives in a
temporary directory, listens on a free loopback port and is stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import uuid

import pytest

from infra import postgres
from infra.postgres import free_port
from services.db import upgrade

__all__ = ["READ_MODEL_DATABASES", "PostgresServer", "free_port", "read_model_on"]

# The databases the read model runs on: a fixture parametrized with these picks one per test.
READ_MODEL_DATABASES = ["sqlite", "postgres"]


class PostgresServer(postgres.PostgresServer):
    def __init__(self) -> None:
        ci = os.environ.get("LIFECYCLES_CI") and os.geteuid() == 0 and shutil.which("apt-get")
        if postgres.binaries() is None and ci:
            postgres.install()
        try:
            super().__init__()
        except postgres.PostgresMissing as missing:
            pytest.skip(f"{missing}; CI installs it itself")

    def migrated_database(self, prefix: str) -> str:
        """A database of its own (``<prefix>_<random>``) with the read model's schema: its URL."""
        url = self.create_database(f"{prefix}_{uuid.uuid4().hex[:10]}")
        upgrade(url)
        return url


def read_model_on(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """The read model's URL on the database ``request.param`` names: the test's SQLite file,
    or a migrated database of its own on the test PostgreSQL server."""
    if request.param == "sqlite":
        return sqlite_url
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.migrated_database("t")
