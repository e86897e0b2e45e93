"""``./dev`` checks the virtualenv against uv.lock on every command, and must leave a matching one alone:
a rebuild would pull the packages from under a stack ``./dev up`` is running, or a test run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_dev_command_keeps_the_virtualenv_that_matches_the_lock():
    venv = Path(sys.prefix)
    assert venv == ROOT / ".venv", "the suite runs from the project's virtualenv (./dev test)"
    marker = venv / "pyvenv.cfg"
    before = marker.stat()
    done = subprocess.run(
        [str(ROOT / "dev"), "cli", "--help"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        env={key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"},
    )
    assert done.returncode == 0, done.stderr
    after = marker.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns), "./dev rebuilt .venv"
