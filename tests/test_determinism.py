"""Workflow code is replayed from history, so ``workflows/`` must stay free of I/O and clocks.

The worker passes ``workflows`` through Temporal's sandbox (imported once, not per
run), which also means the sandbox no longer polices it: this test does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
FORBIDDEN_MODULES = {
    "os",
    "sys",
    "time",
    "random",
    "uuid",
    "socket",
    "threading",
    "subprocess",
    "secrets",
    "pathlib",
    "httpx",
    "requests",
    "sqlalchemy",
    "sqlmodel",
    "alembic",
    "psycopg",
    "aiosqlite",
    "services",
    "schema",
    "logging",
}
FORBIDDEN_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("datetime", "today"), ("date", "today")}


@pytest.mark.parametrize("path", sorted(WORKFLOWS.rglob("*.py")), ids=lambda p: str(p.relative_to(WORKFLOWS)))
def test_workflow_code_does_no_io_and_reads_no_clock(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [(node.module or "").split(".")[0]]
        else:
            names = []
        assert not FORBIDDEN_MODULES & set(names), f"{path}:{node.lineno} imports {names}"
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            assert (owner_name, node.func.attr) not in FORBIDDEN_CALLS, (
                f"{path}:{node.lineno} reads the clock; use workflow.now() / the Context's now"
            )
