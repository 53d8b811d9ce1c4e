"""PUT/GET task through HTTP: the move matrix, merge rules, versions and 404s."""

import itertools

import pytest

from .spec import STATUSES, legal_moves
from .spec import is_legal as spec_is_legal


@pytest.fixture
def job(api):
    api.create_job("j1", steps=("train", "eval"))
    return "j1"


@pytest.mark.parametrize("source,target", list(itertools.product(STATUSES, STATUSES)))
def test_move_matrix_over_http(api, job, source, target):
    created = api.put_task(job, "train", "t0", {"status": source})
    assert created.status_code == 200 and created.json["status"] == source

    response = api.put_task(job, "train", "t0", {"status": target, "status_details": {"x": 1}})

    after = api.get_task(job, "train", "t0").json
    if spec_is_legal(source, target):
        assert response.status_code == 200, response.json
        assert response.json["status"] == target
        assert after["db_version"] == 2 and after["status_details"] == {"x": 1}
    else:
        assert response.status_code == 422
        [entry] = response.json["detail"]
        assert entry["type"] == "invalid_transition"
        assert entry["loc"] == ["body", "status"]
        assert entry["input"] == target
        assert entry["ctx"]["from"] == source and entry["ctx"]["to"] == target
        assert set(entry["ctx"]["allowed"]) == legal_moves()[source]
        assert after == created.json  # nothing written
        assert api.client.get(api.url(job)).json["status_details"] == {}


def test_new_task_defaults(api, job):
    task = api.put_task(job, "train", "t0").json
    assert task["status"] == "pending"
    assert (task["status_details"], task["error_details"], task["error_stack"]) == ({}, {}, "")
    assert task["entity_id"] == task["id"] and task["parent"] == task["step_id"]
    step = api.client.get(api.url(job, "steps", "train")).json
    assert task["step_id"] == step["id"] and task["workspace"] == "ws"
    assert task["created_at"] == task["updated_at"] and task["created_at"].endswith("Z")
    assert task["created_by"] is None and task["updated_by"] is None
    assert task["db_version"] == 1


def test_empty_body_is_an_empty_update(api, job):
    response = api.client.put(api.url(job, "steps", "train", "tasks", "t0"))
    assert response.status_code == 200 and response.json["status"] == "pending"


def test_a_new_task_may_start_in_any_status(api, job):
    assert api.put_task(job, "train", "t0", {"status": "error"}).json["status"] == "error"


def test_update_rules(api, job):
    api.put_task(job, "train", "t0", {"status": "active", "status_details": {"a": 1, "b": 1},
                                      "error_details": {"e": 1}, "error_stack": "one"})
    task = api.put_task(job, "train", "t0", {"status_details": {"b": 2, "c": 3}}).json
    assert task["status"] == "active", "absent status leaves it as it is"
    assert task["status_details"] == {"a": 1, "b": 2, "c": 3}, "merged key by key"
    assert task["error_details"] == {"e": 1} and task["error_stack"] == "one"
    assert "unknown_field" not in task

    task = api.put_task(job, "train", "t0", {"error_details": {"f": 2}, "error_stack": "two"}).json
    assert task["error_details"] == {"f": 2} and task["error_stack"] == "two", "replaced"
    assert task["db_version"] == 3
    assert task["updated_at"] >= task["created_at"]


def test_same_status_retry_is_accepted_even_when_terminal(api, job):
    api.put_task(job, "train", "t0", {"status": "completed"})
    again = api.put_task(job, "train", "t0", {"status": "completed", "status_details": {"n": 2}})
    assert again.status_code == 200 and again.json["db_version"] == 2


def test_task_progress_is_merged_into_the_job(api, job):
    api.put_task(job, "train", "t0", {"status_details": {"progress": 10, "a": 1}})
    api.put_task(job, "eval", "t1", {"status_details": {"progress": 20}})
    assert api.client.get(api.url(job)).json["status_details"] == {"progress": 20, "a": 1}


def test_list_and_get(api, job):
    for name in ("t2", "t0", "t1"):
        api.put_task(job, "train", name, {"status": "active"})
    listed = api.client.get(api.url(job, "steps", "train", "tasks")).json
    assert [t["name"] for t in listed["data"]] == ["t2", "t0", "t1"]
    assert api.client.get(api.url(job, "steps", "eval", "tasks")).json == {"data": []}
    response = api.get_task(job, "train", "t0")
    assert response.json == listed["data"][1] and response.headers["ETag"] == '"1"'


def test_tasks_are_scoped_to_their_step_job_and_workspace(api, job):
    api.put_task(job, "train", "t0", {"status": "active"})
    api.put_task(job, "eval", "t0", {"status": "error"})
    assert api.get_task(job, "train", "t0").json["status"] == "active"
    assert api.get_task(job, "eval", "t0").json["status"] == "error"
    assert api.client.get(f"/apis/jobs/v2/workspaces/other/jobs/{job}/steps/train/tasks/t0"
                          ).status_code == 404


@pytest.mark.parametrize("method", ["get", "put"])
@pytest.mark.parametrize("path,detail", [
    ("nope/steps/train/tasks/t0", "Job 'nope' not found in workspace 'ws'."),
    ("j1/steps/nope/tasks/t0", "Step 'nope' for job 'j1' not found in workspace 'ws'."),
])
def test_not_found(api, job, method, path, detail):
    response = getattr(api.client, method)(api.url(path), json={})
    assert response.status_code == 404 and response.json == {"detail": detail}


def test_unknown_task_is_404_on_get(api, job):
    response = api.get_task(job, "train", "t9")
    assert response.status_code == 404
    assert response.json == {
        "detail": "Task 't9' for step 'train' of job 'j1' not found in workspace 'ws'."}


def test_list_tasks_of_unknown_step_is_404(api, job):
    response = api.client.get(api.url(job, "steps", "nope", "tasks"))
    assert response.status_code == 404 and "Step 'nope'" in response.json["detail"]


class TestIfMatch:
    def test_matching_version_writes(self, api, job):
        first = api.put_task(job, "train", "t0", {"status": "active"})
        assert first.headers["ETag"] == '"1"'
        second = api.put_task(job, "train", "t0", {"status": "completed"},
                              headers={"If-Match": '"1"'})
        assert second.status_code == 200 and second.headers["ETag"] == '"2"'

    # Malformed values (1, garbage) are 422s: tests/test_if_match.py.
    @pytest.mark.parametrize("header", ['"7"', '"0"', "W/\"1\"", '""', '"7", "8"'])
    def test_any_other_tag_is_412_and_writes_nothing(self, api, job, header):
        api.put_task(job, "train", "t0", {"status": "active"})
        response = api.put_task(job, "train", "t0", {"status": "completed"},
                                headers={"If-Match": header})
        assert response.status_code == 412 and isinstance(response.json["detail"], str)
        assert "-1" not in response.json["detail"]
        assert api.get_task(job, "train", "t0").json["status"] == "active"

    def test_star_matches_an_existing_task_only(self, api, job):
        response = api.put_task(job, "train", "t0", headers={"If-Match": "*"})
        assert response.status_code == 412
        assert api.get_task(job, "train", "t0").status_code == 404
        api.put_task(job, "train", "t0")
        assert api.put_task(job, "train", "t0", headers={"If-Match": "*"}).status_code == 200
