"""Headless Chromium for the explorer: its screenshot (docs/figures/explorer.png), its load-time
benchmark (benchmarks/explorer_load.py) and its browser tests.

Debian's ``chromium`` and ``chromium-driver`` (``bash tools/setup.sh --tests``) driven by
selenium: offline and sandbox-free (root in a container), with no first-run, sync or update
services and a fresh profile per session, so nothing outside the page is fetched.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from longtail.errors import LongtailError

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")


def missing_browser() -> str | None:
    """Why headless Chromium cannot start here (the missing program), or None."""
    for program in (CHROMIUM, CHROMEDRIVER):
        if not program.exists():
            return (f"{program} is missing: install Debian's chromium and chromium-driver "
                    f"(apt-get install chromium chromium-driver, or bash tools/setup.sh --tests)")
    return None


@contextmanager
def chromium(width: int = 1280, height: int = 900, logs: bool = False) -> Iterator:
    """A selenium WebDriver on headless Chromium with a ``width`` x ``height`` window; with
    ``logs``, the console (``get_log("browser")``) and DevTools network events
    (``get_log("performance")``) are kept."""
    if reason := missing_browser():
        raise LongtailError(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="longtail-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    if logs:
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def requested_urls(driver) -> list[str]:
    """The URLs the page requested since the last call (DevTools' network events; needs a
    driver from ``chromium(logs=True)``)."""
    events = (json.loads(entry["message"])["message"] for entry in driver.get_log("performance"))
    return [event["params"]["request"]["url"] for event in events
            if event["method"] == "Network.requestWillBeSent"]
