"""Step status moves, the job's roll-up, and the guard over tasks of finished steps."""

import itertools

import pytest

from .spec import STATUSES, legal_moves
from .spec import is_legal as spec_is_legal


def patch_step(api, status, job="j1", step="train", **extra):
    return api.client.patch(api.url(job, "steps", step, "status"), json={"status": status, **extra})


def walk(api, *statuses, step="train"):
    for status in statuses:
        response = patch_step(api, status, step=step)
        assert response.status_code == 200, response.json


@pytest.mark.parametrize("source,target", list(itertools.product(STATUSES, STATUSES)))
def test_move_matrix_for_steps(api, source, target):
    # A one-step job, brought to `source` by a legal path, then asked to move to `target`.
    paths = {
        "created": [], "pending": ["pending"], "active": ["active"],
        "cancelled": ["cancelled"], "cancelling": ["cancelling"], "error": ["error"],
        "completed": ["active", "completed"], "paused": ["paused"], "pausing": ["pausing"],
        "resuming": ["paused", "resuming"],
    }
    api.create_job("j1")
    walk(api, *paths[source])
    before = api.client.get(api.url("j1", "steps", "train")).json

    response = patch_step(api, target)

    after = api.client.get(api.url("j1", "steps", "train")).json
    if spec_is_legal(source, target):
        assert response.status_code == 200, response.json
        assert after["status"] == target and after["db_version"] == before["db_version"] + 1
        assert api.client.get(api.url("j1")).json["status"] == target  # one step: same status
    else:
        assert response.status_code == 422
        entry = response.json["detail"][0]
        assert entry["type"] == "invalid_transition"
        assert set(entry["ctx"]["allowed"]) == legal_moves()[source]
        assert after == before


def test_step_details_merge_and_replace(api):
    api.create_job("j1")
    patch_step(api, "active", status_details={"a": 1}, error_details={"e": 1})
    step = patch_step(api, "active", status_details={"b": 2}, error_details={"f": 2}).json
    assert step["status_details"] == {"a": 1, "b": 2} and step["error_details"] == {"f": 2}


@pytest.mark.parametrize("body,kind", [
    ({}, "missing"), ({"status": "nope"}, "enum"), ({"status": None}, "null_forbidden"),
    ({"status": "active", "status_details": 1}, "dict_type"),
])
def test_bad_step_bodies(api, body, kind):
    api.create_job("j1")
    response = api.client.patch(api.url("j1", "steps", "train", "status"), json=body)
    assert response.status_code == 422 and response.json["detail"][0]["type"] == kind
    assert api.client.get(api.url("j1", "steps", "train")).json["db_version"] == 1


def test_step_if_match(api):
    api.create_job("j1")
    stale = api.client.patch(api.url("j1", "steps", "train", "status"),
                             json={"status": "active"}, headers={"If-Match": '"2"'})
    assert stale.status_code == 412
    fresh = api.client.patch(api.url("j1", "steps", "train", "status"),
                             json={"status": "active"}, headers={"If-Match": '"1"'})
    assert fresh.status_code == 200 and fresh.json["db_version"] == 2
    # The step's tag moves with its tasks too: "<version>.<its tasks>".
    assert fresh.headers["ETag"].startswith('"2.')


def test_unknown_step_and_job(api):
    api.create_job("j1")
    assert patch_step(api, "active", step="nope").status_code == 404
    assert patch_step(api, "active", job="nope").status_code == 404


def test_job_follows_its_steps(api):
    api.create_job("j1", steps=("prep", "train"))
    job = lambda: api.client.get(api.url("j1")).json["status"]  # noqa: E731
    walk(api, "active", step="prep")
    assert job() == "active"
    walk(api, "completed", step="prep")
    assert job() == "active"  # some completed, some not
    walk(api, "active", "completed", step="train")
    assert job() == "completed"


@pytest.mark.parametrize("setup,move,job_from,job_to", [
    # job paused -> step prep resuming (job resuming) -> prep pending would make it paused
    ([("pause", None), ("prep", "resuming")], ("prep", "pending"), "resuming", "paused"),
    # job pausing with train still active -> prep paused would make it active
    ([("prep", "active"), ("train", "active"), ("prep", "pausing")], ("prep", "paused"),
     "pausing", "active"),
])
def test_a_roll_up_the_table_forbids_refuses_the_step_move(api, setup, move, job_from, job_to):
    api.create_job("j1", steps=("prep", "train"))
    for step, status in setup:
        if status is None:
            assert api.client.post(api.url("j1", step)).status_code == 200
        else:
            walk(api, status, step=step)
    job_before = api.client.get(api.url("j1")).json
    step_before = api.client.get(api.url("j1", "steps", move[0])).json
    assert job_before["status"] == job_from

    response = patch_step(api, move[1], step=move[0])

    assert response.status_code == 422, response.json
    entry = response.json["detail"][0]
    assert entry["ctx"]["from"] == job_from and entry["ctx"]["to"] == job_to
    assert "which the table forbids" in entry["msg"]
    assert api.client.get(api.url("j1")).json == job_before
    assert api.client.get(api.url("j1", "steps", move[0])).json == step_before


class TestTasksUnderAClosedStep:
    @pytest.fixture(params=["completed", "error", "cancelling", "cancelled"])
    def closed(self, api, request):
        api.create_job("j1")
        api.put_task("j1", "train", "t0", {"status": "active"})
        paths = {"completed": ["active", "completed"], "error": ["error"],
                 "cancelling": ["cancelling"], "cancelled": ["cancelled"]}
        walk(api, *paths[request.param])
        return request.param

    @pytest.mark.parametrize("target,ok", [
        ("completed", True), ("error", True), ("cancelled", True), ("active", True),
        ("pending", False), ("paused", False), ("pausing", False), ("cancelling", False),
    ])
    def test_existing_task_may_only_end_or_stay(self, api, closed, target, ok):
        response = api.put_task("j1", "train", "t0", {"status": target})
        assert (response.status_code == 200) is ok, response.json
        if not ok:
            entry = response.json["detail"][0]
            assert entry["type"] == "invalid_transition" and closed in entry["msg"]
            assert api.get_task("j1", "train", "t0").json["status"] == "active"

    @pytest.mark.parametrize("target,ok", [
        ("completed", True), ("error", True), ("cancelled", True),
        ("pending", False), ("active", False), ("created", False),
    ])
    def test_new_task_may_only_be_created_ended(self, api, closed, target, ok):
        response = api.put_task("j1", "train", "t1", {"status": target})
        assert (response.status_code == 200) is ok
        assert (api.get_task("j1", "train", "t1").status_code == 200) is ok

    def test_a_new_task_without_status_would_be_pending_so_is_refused(self, api, closed):
        assert api.put_task("j1", "train", "t1", {}).status_code == 422
