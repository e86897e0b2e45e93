"""Command-line tools some tests drive (openssl, curl): installed in CI, skipped elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest


def require_tools(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if not missing:
        return
    if os.environ.get("LIFECYCLES_CI") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", *missing], check=True, env=env, stdout=subprocess.DEVNULL, timeout=900
        )
        return
    pytest.skip(f"needs {', '.join(missing)} (apt-get install {' '.join(missing)}); CI installs them itself")
