"""Headless Chromium for the dashboard's tests: Debian's browser driven by Playwright.

Playwright's own browser downloads are never used; it launches the system's chromium. Where
that browser is missing the tests skip with one line saying how to get it, except under
JOBS_TEST_REQUIRE_ALL=1 (`.ci/run`, which installs it), where that is a failure.
"""

import os
from pathlib import Path

from .needs import unavailable

CHROMIUM = Path(os.environ.get("JOBS_UI_CHROMIUM", "/usr/bin/chromium"))
# --no-sandbox: tests run as root; the rest keep Chromium off the network it would call home on.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
        "--disable-dev-shm-usage"]
HOW = "apt-get install -y chromium (or set JOBS_UI_CHROMIUM) to run the dashboard's browser tests"


def launch(playwright):
    if not CHROMIUM.exists():
        unavailable(f"no headless Chromium at {CHROMIUM}: {HOW}")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)

