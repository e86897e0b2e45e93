"""The stack the benchmarks measure, launched as ``./dev up`` launches it.

A Temporal dev server persisting to a SQLite file (as ``./dev up`` does; Web UI off),
the read-model migrations into a SQLite file, ONE service worker
(``python -m services.worker``), ONE API (uvicorn) and, beside them, the minimal worker
of the bare baselines (``python -m benchmarks.bare``), all on free ports in a
temporary directory that is removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from temporalio.client import Client

from infra.dev import search_attribute_flags
from services.db import upgrade
from services.settings import Settings
from services.temporal import connect

ROOT = Path(__file__).resolve().parent.parent
TEMPORAL = Path(sys.executable).parent / "temporal"
TOKENS = {
    "bench-operator-token-0123456789": {"actor": "operator@bench.example", "role": "operator"},
    "bench-admin-token-0123456789": {"actor": "admin@bench.example", "role": "admin"},
}
OPERATOR_TOKEN = "bench-operator-token-0123456789"
ADMIN_TOKEN = "bench-admin-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """A process's resident set size (``VmHWM``: its high-water mark), from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) a process has used, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class BenchStack:
    def __init__(
        self,
        *,
        keep: bool = False,
        extra_env: dict[str, str] | None = None,
        worker_command: list[str] | None = None,
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lifecycles-bench-"))
        self.keep = keep
        self.temporal_port = free_port()
        self.api_port = free_port()
        self.address = f"127.0.0.1:{self.temporal_port}"
        self.database_path = self.dir / "readmodel.db"
        self.database_url = f"sqlite+aiosqlite:///{self.database_path}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.env = {
            **os.environ,
            "LIFECYCLES_TEMPORAL_ADDRESS": self.address,
            "LIFECYCLES_DATABASE_URL": self.database_url,
            "LIFECYCLES_API_PORT": str(self.api_port),
            "LIFECYCLES_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
            "LIFECYCLES_API_TOKENS": json.dumps(TOKENS),
            "PYTHONPATH": str(ROOT),
            **(extra_env or {}),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # A different worker (a profiling wrapper, a variant under study); the service's by default.
        self.worker_command = worker_command or [sys.executable, "-m", "services.worker"]

    # ---- lifecycle -------------------------------------------------------------------

    async def __aenter__(self) -> BenchStack:
        try:
            await self.start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _spawn(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        with open(self.dir / f"{name}.log", "ab") as log:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    async def _wait_for_temporal(self, process: subprocess.Popen[bytes], within: float = 90) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the Temporal dev server exited:\n{self.log('temporal')}")
            try:
                client = await self.client()
                await client.service_client.check_health()
                return
            except Exception:  # not up yet, whatever the failure looks like
                await asyncio.sleep(0.3)
        raise RuntimeError(f"the Temporal dev server did not answer within {within:.0f}s")

    async def wait_ready(
        self, process: subprocess.Popen[bytes], url: str, name: str = "api", within: float = 60
    ) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=3) as http:
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited:\n{self.log(name)}")
                try:
                    if (await http.get(url)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.3)
        raise RuntimeError(f"{name} never became ready:\n{self.log(name)}\n{self.log('worker')}")

    async def start(self) -> None:
        temporal = self._spawn(
            "temporal",
            [
                str(TEMPORAL),
                "server",
                "start-dev",
                "--db-filename",
                str(self.dir / "temporal.db"),
                "--ip",
                "127.0.0.1",
                "--port",
                str(self.temporal_port),
                "--headless",
                "--log-level",
                "error",
                *search_attribute_flags(),
            ],
        )
        await self._wait_for_temporal(temporal)
        upgrade(self.database_url)
        self._spawn("worker", self.worker_command)
        self._spawn("bare", [sys.executable, "-m", "benchmarks.bare"])
        api = self.spawn_api("api", self.api_port)
        await self.wait_ready(api, f"{self.api_url}/readyz")

    def spawn_api(
        self, name: str, port: int, app: str = "services.api:create_app", env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """An API process (uvicorn, as deployed) serving ``app`` on ``port``."""
        command = [sys.executable, "-m", "uvicorn", "--factory", app, "--host", "127.0.0.1", "--port", str(port)]
        return self._spawn(name, [*command, "--no-access-log", "--log-level", "warning"], env)

    async def scale_out(self) -> str:
        """A second service worker, bare worker and API beside the first ones; the second API's URL.

        Workers are stateless pollers of the same task queues, so Temporal spreads the tasks
        between them; the second API shares the first one's database and server.
        """
        port = free_port()
        metrics_port = free_port()
        worker = self._spawn(
            "worker-2", self.worker_command, {"LIFECYCLES_WORKER_METRICS_ADDRESS": f"127.0.0.1:{metrics_port}"}
        )
        self._spawn("bare-2", [sys.executable, "-m", "benchmarks.bare"])
        api = self.spawn_api("api-2", port, env={"LIFECYCLES_API_PORT": str(port)})
        await self.wait_ready(api, f"http://127.0.0.1:{port}/readyz", "api-2")
        # The worker serves its metrics once it has connected and is about to poll.
        await self.wait_ready(worker, f"http://127.0.0.1:{metrics_port}/metrics", "worker-2")
        return f"http://127.0.0.1:{port}"

    def scale_in(self) -> None:
        """Stop what ``scale_out`` started: the later benchmarks measure one of each again."""
        self.stop_processes(["api-2", "bare-2", "worker-2"])

    def stop_processes(self, names: list[str]) -> None:
        """Stop these processes (those started for one benchmark) and forget them."""
        self._stop_group([name for name in names if name in self.processes])
        for name in names:
            self.processes.pop(name, None)

    def processes_named(self, prefix: str) -> list[str]:
        """``worker`` and ``worker-2`` for ``worker``, while both run."""
        return [name for name in self.processes if name.split("-")[0] == prefix]

    def stop(self) -> None:
        # The clients first, then the server they drain into; each group stops in parallel.
        # Signals go to each process group: a wrapped worker (a profiler) takes its child along.
        self._stop_group([name for name in self.processes if name != "temporal"])
        self._stop_group(["temporal"])
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _stop_group(self, names: list[str]) -> None:
        running = [p for name in names if (p := self.processes.get(name)) is not None and p.poll() is None]
        for process in running:
            self._signal_group(process, signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._signal_group(process, signal.SIGKILL)
                process.wait()

    @staticmethod
    def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):  # it exited since it was polled
            os.killpg(process.pid, sig)

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with code {process.returncode}:\n{self.log(name)}")

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def describe(self) -> str:
        """Each running process and its id: what to look for if a run is killed outright (SIGKILL)."""
        return ", ".join(f"{name} {process.pid}" for name, process in self.processes.items())

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def cpu(self, name: str) -> float:
        return cpu_seconds(self.pid(name))

    def rss(self, name: str) -> int:
        return rss_bytes(self.pid(name))

    def rss_high_water(self, name: str) -> int:
        return rss_bytes(self.pid(name), "VmHWM")

    async def client(self) -> Client:
        return await connect(Settings(temporal_address=self.address, database_url=self.database_url))

    def graphql_headers(self, admin: bool = False) -> dict[str, Any]:
        return {"authorization": f"Bearer {ADMIN_TOKEN if admin else OPERATOR_TOKEN}"}
