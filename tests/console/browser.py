"""Headless Chromium from Debian's packages (``chromium`` and ``chromium-driver``), driven by
Selenium through an explicit chromedriver, so Selenium Manager never downloads a browser.

In CI (``LIFECYCLES_CI=1``) missing packages are installed with apt-get, as PostgreSQL is;
elsewhere the browser tests are skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> None:
    """Chromium and its driver, installed in CI when missing; a skip with the reason elsewhere."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.environ.get("LIFECYCLES_CI") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, stdout=subprocess.DEVNULL, timeout=600)
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
            check=True,
            env=env,
            stdout=subprocess.DEVNULL,
            timeout=900,
        )
        return
    pytest.skip("Chromium is not installed (apt-get install chromium chromium-driver); CI installs it itself")


@contextmanager
def chromium(width: int = 1280, height: int = 800) -> Iterator[webdriver.Chrome]:
    """A fresh headless browser with a profile of its own, quit afterwards."""
    profile = tempfile.mkdtemp(prefix="lifecycles-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    if width < 500:
        # Below the smallest window Chromium draws, the page is laid out as a phone's would be.
        options.add_experimental_option(
            "mobileEmulation", {"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1.0}}
        )
    options.add_argument(f"--window-size={max(width, 500)},{height}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
