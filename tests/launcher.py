"""The stack as ``./dev up`` runs it (Temporal dev server, worker, API as separate
processes, supervised by ``infra.dev``), on free ports and a temporary data directory,
for tests that drive it over HTTP and kill its processes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.postgres import free_port

ROOT = Path(__file__).resolve().parent.parent
TOKENS = {
    "launch-viewer-token-0123456789": {"actor": "viewer@example.com", "role": "viewer"},
    "launch-operator-token-0123456789": {"actor": "operator@example.com", "role": "operator"},
    "launch-admin-token-0123456789": {"actor": "admin@example.com", "role": "admin"},
}
TOKEN = {grant["role"]: token for token, grant in TOKENS.items()}


class Unanswered(Exception):
    """No definitive answer: the request may or may not have been applied."""


class LaunchedStack:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None) -> None:
        self.data_dir = data_dir
        self.extra_env = env or {}
        self.args = args or []
        self.temporal_port, self.ui_port, self.api_port = free_port(), free_port(), free_port()
        self.worker_metrics_port = free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(timeout=30)

    def start(self) -> None:
        env = {**os.environ, "LIFECYCLES_API_TOKENS": json.dumps(TOKENS), **self.extra_env}
        for key in (
            "LIFECYCLES_DATABASE_URL",
            "LIFECYCLES_TEMPORAL_ADDRESS",
            "LIFECYCLES_STRIPE_WEBHOOK_SECRET",
            "LIFECYCLES_SIGNAL_WEBHOOK_SECRET",
            "LIFECYCLES_WORKER_METRICS_ADDRESS",
        ):
            env.pop(key, None)
        with open(self.data_dir / "launcher.log", "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "infra.dev",
                    "--data-dir",
                    str(self.data_dir),
                    "--temporal-port",
                    str(self.temporal_port),
                    "--ui-port",
                    str(self.ui_port),
                    "--api-port",
                    str(self.api_port),
                    "--worker-metrics-port",
                    str(self.worker_metrics_port),
                    *self.args,
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.wait_ready()

    def wait_ready(self, within: float = 120) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log()
            try:
                if self.http.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"the stack did not become ready:\n{self.log()}")

    def pid(self, name: str) -> int:
        return int((self.data_dir / "run" / f"{name}.pid").read_text())

    def kill(self, name: str) -> int:
        pid = self.pid(name)
        os.kill(pid, signal.SIGKILL)
        return pid

    def interrupt(self) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=90)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for name in ("api", "worker", "temporal"):
            pid_file = self.data_dir / "run" / f"{name}.pid"
            if pid_file.exists():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_file.read_text()), signal.SIGKILL)
        # The --postgres cluster, when the launcher could not stop it: SIGQUIT is
        # PostgreSQL's immediate shutdown.
        postmaster = self.data_dir / "postgres" / "data" / "postmaster.pid"
        if postmaster.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(postmaster.read_text().split()[0]), signal.SIGQUIT)
        self.http.close()

    def log(self) -> str:
        logs = [self.data_dir / "launcher.log", *sorted((self.data_dir / "logs").glob("*.log"))]
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in logs if p.exists())

    def post(
        self, query: str, variables: dict[str, Any] | None = None, *, role: str | None = "operator", timeout: float = 30
    ) -> httpx.Response:
        headers = {"authorization": f"Bearer {TOKEN[role]}"} if role else {}
        return self.http.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=timeout
        )

    def ask(self, query: str, variables: dict[str, Any] | None = None, *, role: str = "operator") -> dict[str, Any]:
        """One attempt: the data, or ``Unanswered`` when the outcome is unknown."""
        try:
            response = self.post(query, variables, role=role)
            body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unanswered(str(exc)) from exc
        if response.status_code != 200:
            raise Unanswered(f"HTTP {response.status_code}")
        codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
        if "UNAVAILABLE" in codes:
            raise Unanswered("Temporal unavailable")
        assert not body.get("errors"), body
        return body["data"]

    def gql(
        self, query: str, variables: dict[str, Any] | None = None, *, role: str = "operator", within: float = 90
    ) -> dict[str, Any]:
        """Send until answered: an unanswered request is retried as it is (same idempotency key)."""
        deadline = time.monotonic() + within
        while True:
            try:
                return self.ask(query, variables, role=role)
            except Unanswered as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no answer within {within}s: {exc}\n{self.log()}") from exc
                time.sleep(0.5)


@contextlib.contextmanager
def launched_stack(
    data_dir: Path, env: dict[str, str] | None = None, args: list[str] | None = None
) -> Iterator[LaunchedStack]:
    stack = LaunchedStack(data_dir, env, args)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
