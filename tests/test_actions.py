"""cancel, pause, resume, rerun; the status tree; status details; delete."""


import pytest


def steps_of(api, job="j1"):
    tree = api.client.get(api.url(job, "status")).json
    return [s["status"] for s in tree["steps"]]


def set_steps(api, *walks, job="j1"):
    """walks: one list of statuses per step, applied in order."""
    names = [s["name"] for s in api.client.get(api.url(job, "status")).json["steps"]]
    for name, statuses in zip(names, walks):
        for status in statuses:
            response = api.client.patch(api.url(job, "steps", name, "status"),
                                        json={"status": status})
            assert response.status_code == 200, response.json


@pytest.mark.parametrize("walks,action,steps_after,job_after", [
    ([[], ["pending"], ["active"]], "cancel", ["cancelled", "cancelling", "cancelling"],
     "cancelling"),
    ([[], []], "cancel", ["cancelled", "cancelled"], "cancelled"),
    ([["active", "completed"], []], "cancel", ["completed", "cancelled"], "cancelled"),
    ([[], ["pending"], ["active"]], "pause", ["paused", "pausing", "pausing"], "pausing"),
    ([[], []], "pause", ["paused", "paused"], "paused"),
    ([["paused"], ["paused"]], "resume", ["resuming", "resuming"], "resuming"),
    ([["paused"], ["active", "completed"]], "resume", ["resuming", "completed"], "resuming"),
])
def test_actions_move_steps_and_roll_up(api, walks, action, steps_after, job_after):
    api.create_job("j1", steps=[f"s{i}" for i in range(len(walks))])
    set_steps(api, *walks)
    response = api.client.post(api.url("j1", action))
    assert response.status_code == 200, response.json
    assert response.json["status"] == job_after
    assert steps_of(api) == steps_after


@pytest.mark.parametrize("walks,action", [
    ([["cancelling"]], "cancel"),
    ([["cancelled"]], "cancel"),
    ([["paused"]], "pause"),
    ([["pausing"]], "pause"),
    ([["paused", "resuming"]], "resume"),
    ([["active"]], "resume"),
])
def test_an_action_whose_target_holds_is_a_no_op(api, walks, action):
    api.create_job("j1")
    set_steps(api, *walks)
    before = api.client.get(api.url("j1")).json
    response = api.client.post(api.url("j1", action))
    assert response.status_code == 200 and response.json == before


@pytest.mark.parametrize("walks,action", [
    ([["pausing"]], "cancel"),          # pausing -> cancelling is not in the table
    ([["active", "completed"]], "cancel"),
    ([["error"]], "pause"),
    ([["paused", "resuming"]], "pause"),
    ([["cancelling"]], "pause"),
    ([["active", "completed"]], "resume"),
    ([["active"]], "rerun"),
    ([[]], "rerun"),
])
def test_an_action_the_table_forbids_is_422_and_changes_nothing(api, walks, action):
    api.create_job("j1")
    set_steps(api, *walks)
    before = api.client.get(api.url("j1", "status")).json
    response = api.client.post(api.url("j1", action))
    assert response.status_code == 422
    assert response.json["detail"][0]["type"] == "invalid_transition"
    assert api.client.get(api.url("j1", "status")).json == before


def test_rerun_starts_a_new_attempt_and_keeps_the_old(api, query):
    job = api.create_job("j1", steps=("prep", "train"))
    api.put_task("j1", "prep", "t0", {"status": "error", "status_details": {"p": 1}})
    set_steps(api, ["error"], [])
    old_step = api.client.get(api.url("j1", "steps", "prep")).json

    response = api.client.post(api.url("j1", "rerun"))

    rerun = response.json
    assert response.status_code == 200 and rerun["status"] == "created"
    assert rerun["attempt_id"] != job["attempt_id"] and rerun["id"] == job["id"]
    assert rerun["status_details"] == {} and rerun["db_version"] > job["db_version"]
    tree = api.client.get(api.url("j1", "status")).json
    assert [(s["name"], s["status"], s["tasks"]) for s in tree["steps"]] == [
        ("prep", "created", []), ("train", "created", [])]
    new_step = api.client.get(api.url("j1", "steps", "prep")).json
    assert new_step["id"] != old_step["id"] and new_step["attempt_id"] == rerun["attempt_id"]
    # the old attempt is kept, not deleted
    assert query("SELECT status FROM steps WHERE id = ?", (old_step["id"],)) == [("error",)]
    assert query("SELECT COUNT(*) FROM tasks") == [(1,)]


@pytest.mark.parametrize("action", ["cancel", "pause", "resume", "rerun"])
def test_actions_on_unknown_jobs_are_404(api, action):
    assert api.client.post(api.url("nope", action)).status_code == 404


def test_action_if_match(api):
    api.create_job("j1")
    assert api.client.post(api.url("j1", "cancel"), headers={"If-Match": '"9"'}
                           ).status_code == 412
    assert api.client.get(api.url("j1")).json["status"] == "created"


def test_status_tree(api):
    api.create_job("j1", steps=("prep", "train", "eval"))
    api.put_task("j1", "train", "b1", {"status": "active", "status_details": {"p": 5}})
    api.put_task("j1", "train", "a1", {"status": "error", "error_stack": "boom"})
    tree = api.client.get(api.url("j1", "status")).json
    assert set(tree) == {"id", "name", "status", "status_details", "error_details",
                         "created_at", "updated_at", "steps"}
    assert [s["name"] for s in tree["steps"]] == ["prep", "train", "eval"]
    tasks = tree["steps"][1]["tasks"]
    assert [(t["name"], t["status"]) for t in tasks] == [("b1", "active"), ("a1", "error")]
    assert tasks[1]["error_stack"] == "boom" and tasks[0]["status_details"] == {"p": 5}
    assert set(tasks[0]) == {"id", "name", "status", "status_details", "error_details",
                             "error_stack", "created_at", "updated_at"}
    assert api.client.get(api.url("nope", "status")).status_code == 404


def test_status_details_merge(api):
    api.create_job("j1")
    api.client.patch(api.url("j1", "status-details"), json={"a": 1, "b": {"x": 1}})
    response = api.client.patch(api.url("j1", "status-details"), json={"b": 2, "c": None})
    assert response.status_code == 200
    assert response.json["status_details"] == {"a": 1, "b": 2, "c": None}
    assert response.json["db_version"] == 3
    bad = api.client.patch(api.url("j1", "status-details"), json=[1])
    assert bad.status_code == 422 and bad.json["detail"][0]["loc"] == ["body"]
    assert api.client.patch(api.url("nope", "status-details"), json={}).status_code == 404


def test_delete_removes_job_steps_and_tasks(api, query):
    api.create_job("j1")
    api.put_task("j1", "train", "t0")
    api.create_job("j2")
    api.put_task("j2", "train", "t0")
    assert api.client.post(api.url("j1", "cancel")).status_code == 200
    assert api.client.post(api.url("j1", "rerun")).status_code == 200

    response = api.client.delete(api.url("j1"))
    assert response.status_code == 204 and response.data == b""
    assert api.client.get(api.url("j1")).status_code == 404
    assert api.client.delete(api.url("j1")).status_code == 404
    assert query("SELECT COUNT(*) FROM steps") == [(1,)]
    assert query("SELECT COUNT(*) FROM tasks") == [(1,)]
    assert query("SELECT COUNT(DISTINCT job_id) FROM history") == [(1,)]
    assert api.get_task("j2", "train", "t0").status_code == 200


def test_delete_if_match(api):
    api.create_job("j1")
    assert api.client.delete(api.url("j1"), headers={"If-Match": '"5"'}).status_code == 412
    assert api.client.get(api.url("j1")).status_code == 200
    assert api.client.delete(api.url("j1"), headers={"If-Match": '"1"'}).status_code == 204
