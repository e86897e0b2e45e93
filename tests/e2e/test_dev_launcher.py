"""``./dev up`` as a newcomer meets it: billing events on out of the box, and the
PostgreSQL read model with ``--postgres``."""

from __future__ import annotations

import json
import re
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from infra import postgres
from tests.launcher import LaunchedStack, launched_stack
from tests.tools import require_tools

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
LATE_PAYMENT = """query($id: ID!) { latePayment(invoiceId: $id) { __typename ... on LatePayment { state } } }"""
OPEN = """mutation($input: OpenOpportunityInput!) { openOpportunity(input: $input) { __typename } }"""


def printed(data_dir: Path, text: str, within: float = 30) -> str:
    """The launcher's output once it has printed ``text`` (it prints after the API answers)."""
    deadline = time.monotonic() + within
    while True:
        log = (data_dir / "launcher.log").read_text()
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.2)


def documented_recipe() -> str:
    """The signed billing event of docs/operations.md, as written there."""
    section = (ROOT / "docs" / "operations.md").read_text().split("### Trying billing events locally", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.S)
    assert found is not None
    return found.group(1)


def test_the_dev_stack_accepts_the_documented_signed_billing_event(dev_stack: LaunchedStack):
    require_tools("openssl", "curl")
    # The recipe's event and invoice ids are its own: no other test on the shared stack sends them.
    data_dir = dev_stack.data_dir
    secret_file = data_dir / "dev-stripe-webhook-secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    secret = secret_file.read_text().strip()
    assert f"signing secret (Stripe's format): {secret}" in printed(data_dir, "signing secret")

    recipe = documented_recipe().replace("http://127.0.0.1:8000", dev_stack.url)
    recipe = recipe.replace(".lifecycles/", f"{data_dir}/")
    run = subprocess.run(["bash", "-euc", recipe], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(run.stdout)["outcome"] == "processed", run.stdout + run.stderr
    found = dev_stack.gql(LATE_PAYMENT, {"id": "in_try_1"}, role="viewer")["latePayment"]
    assert found == {"__typename": "LatePayment", "state": "OVERDUE"}, found

    again = subprocess.run(["bash", "-euc", recipe], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(again.stdout)["outcome"] == "duplicate"


@pytest.mark.postgres
def test_the_launcher_keeps_the_read_model_in_its_own_postgres_when_asked():
    if postgres.binaries() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql); CI installs it itself")
    # Run by root, PostgreSQL runs as the postgres account, which must reach the data
    # directory: pytest's own temporary directories are private to root.
    data_dir = Path(tempfile.mkdtemp(prefix="lifecycles-launch-"))
    data_dir.chmod(0o755)
    try:
        check_postgres_mode(data_dir)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def check_postgres_mode(data_dir: Path) -> None:
    with launched_stack(data_dir, args=["--postgres"]) as stack:
        opened = stack.gql(
            OPEN,
            {
                "input": {
                    "id": "pg-deal",
                    "name": "ACME analytics",
                    "account": {"id": "acme", "name": "ACME"},
                    "closeDate": "2027-03-31",
                    "amount": "60000",
                }
            },
        )
        assert opened["openOpportunity"]["__typename"] == "OpportunityChanged"
        url = re.search(r"Read model: +(postgresql\+psycopg://\S+)", printed(data_dir, "Read model"))
        assert url is not None, stack.log()
        engine = sa.create_engine(url.group(1))
        try:
            with engine.connect() as connection:
                rows = connection.execute(sa.text("select workflow_id, state from lifecycles")).all()
                migrated = connection.execute(sa.text("select version_num from alembic_version")).scalar()
        finally:
            engine.dispose()
        assert [tuple(r) for r in rows] == [("opportunity/pg-deal", "PROBLEM_AGREEMENT")]
        assert migrated
        assert not (data_dir / "readmodel.db").exists()
        assert stack.interrupt() == 0
        assert not (data_dir / "postgres" / "data" / "postmaster.pid").exists(), "PostgreSQL stopped with the stack"
