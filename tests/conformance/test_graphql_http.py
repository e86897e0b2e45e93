"""The GraphQL-over-HTTP conformance audit (``serverAudits`` of the npm package
graphql-http) against /graphql of a real running API, with a bearer token.

Node.js runs the audit from this directory; its package.json and package-lock.json
pin the package, installed here with ``npm ci`` when missing. Without Node.js or npm
the test is skipped with that reason, except in CI (LIFECYCLES_CI=1), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.launcher import TOKEN, LaunchedStack

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def node() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("LIFECYCLES_CI"):
            pytest.fail("Node.js and npm are needed for the GraphQL-over-HTTP audit in CI")
        pytest.skip("Node.js and npm are not installed; the GraphQL-over-HTTP audit needs them")
    if not (HERE / "node_modules" / "graphql-http").is_dir():
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
            cwd=HERE,
            check=True,
            capture_output=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
    return node


def test_the_graphql_over_http_audit_passes_without_warnings(node: str, dev_stack: LaunchedStack):
    audit = subprocess.run(
        [node, "audit.mjs", f"{dev_stack.url}/graphql", TOKEN["viewer"]],
        cwd=HERE,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    results = [json.loads(line) for line in audit.stdout.splitlines()]
    failing = [r for r in results if r["status"] in ("warn", "error")]
    assert failing == [], failing
    ok = [r for r in results if r["status"] == "ok"]
    # The rest are notices: "MAY" accept queries over GET, which this API does not.
    notices = [r for r in results if r["status"] == "notice"]
    assert all("GET" in r["name"] for r in notices), notices
    assert len(ok) + len(notices) == len(results) and len(ok) >= 58
