"""A private PostgreSQL server from Debian's packages (``apt-get install postgresql``).

Used by the read-model tests (a throwaway cluster in a temporary directory) and by
``./dev up --postgres`` (a cluster kept under the data directory). It listens on a
free loopback port, trusts local connections and runs as the ``postgres`` account
when started by root (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


class PostgresMissing(RuntimeError):
    """PostgreSQL's server binaries are not installed."""


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def install() -> None:
    """Install Debian's PostgreSQL (CI, as root)."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env, stdout=subprocess.DEVNULL, timeout=900
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A cluster in ``root`` (a new temporary directory unless given), started at once.

    With ``root`` given the cluster is kept there: an existing one is started again,
    and ``stop`` leaves its data; without, ``stop`` removes everything.
    """

    def __init__(self, root: Path | None = None) -> None:
        found = binaries()
        if found is None:
            raise PostgresMissing("PostgreSQL is not installed (apt-get install postgresql)")
        self.bin = found
        self.keep = root is not None
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="lifecycles-pg-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.data = self.root / "data"
        self.port = free_port()
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_user:
            shutil.chown(self.root, "postgres")
        if not (self.data / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        # Durability settings off for a throwaway test cluster only; a kept one is safe.
        fast = "" if self.keep else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1{fast}",
            "start",
        )

    def halt(self) -> None:
        """Stop the server, keeping its data: an outage to recover from with ``start``."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def _run(self, tool: str, *args: str) -> subprocess.CompletedProcess[bytes]:
        try:
            return subprocess.run(
                [*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True, timeout=120
            )
        except subprocess.CalledProcessError as failed:
            output = (failed.stderr or failed.stdout or b"").decode(errors="replace").strip()
            account = " (run as the postgres account, which must be able to reach it)" if self.as_user else ""
            raise RuntimeError(f"PostgreSQL {tool} failed in {self.root}{account}: {output}") from None

    def url(self, name: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return self.url(name)

    def ensure_database(self, name: str) -> str:
        listed = self._run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-Atc", "select datname from pg_database"
        )
        if name not in listed.stdout.decode().split():
            return self.create_database(name)
        return self.url(name)

    def stop(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast" if self.keep else "immediate", "-w", "stop")
        finally:
            if not self.keep:
                time.sleep(0.1)
                shutil.rmtree(self.root, ignore_errors=True)
