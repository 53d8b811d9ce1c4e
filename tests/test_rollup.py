"""A job's status from its steps (docs/api.md's rule), table-driven."""

import pytest

from statemachine import job_status


@pytest.mark.parametrize("steps,expected", [
    ([], "created"),
    (["created", "created"], "created"),
    (["created", "pending"], "pending"),
    (["pending", "active"], "active"),
    (["completed", "created"], "active"),
    (["completed", "pending"], "active"),
    (["completed", "completed"], "completed"),
    (["completed", "error", "active"], "error"),
    (["cancelling", "active"], "cancelling"),
    (["cancelling", "error"], "error"),
    (["cancelled", "completed"], "cancelled"),
    (["cancelled", "active"], "active"),
    (["pausing", "paused"], "pausing"),
    (["paused", "resuming"], "resuming"),
    (["paused", "created"], "paused"),
    (["paused", "active"], "active"),
    (["paused", "completed"], "paused"),
    (["pausing", "resuming"], "pausing"),
])
def test_job_status_follows_steps(steps, expected):
    assert job_status(steps) == expected
