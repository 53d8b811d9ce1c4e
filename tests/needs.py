"""Tests that need something of the machine (PostgreSQL's binaries, root, a browser) skip
with one line saying how to enable them; with JOBS_TEST_REQUIRE_ALL=1 (set by .ci/run) that
skip is a failure instead, so CI cannot pass by not running them."""

import os

import pytest

REQUIRE_ALL = os.environ.get("JOBS_TEST_REQUIRE_ALL") == "1"


def unavailable(reason: str):
    if REQUIRE_ALL:
        pytest.fail(reason)
    pytest.skip(reason)
