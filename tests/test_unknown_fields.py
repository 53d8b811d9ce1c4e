"""A key no write body names is a 422 naming it, and nothing is written; free-form objects
(status_details, error_details, config, spec, ownership, custom_fields, the status-details
PATCH) still take any key."""

import pytest

from .conftest import EXECUTOR

TABLES = ("jobs", "steps", "tasks", "history", "results", "logs")
URL = "fileset://ws/f1/out/model.bin"


@pytest.fixture
def job(api):
    api.create_job("j1", steps=("train",))
    assert api.put_task("j1", "train", "t0", {"status": "active"}).status_code == 200
    return "j1"


def snapshot(query) -> dict:
    return {t: sorted(map(repr, query(f"SELECT * FROM {t}"))) for t in TABLES}


def step(**extra) -> dict:
    return {"name": "s1", "executor": EXECUTOR, **extra}


def job_body(*steps, **extra) -> dict:
    return {"name": "j2", "platform_spec": {"steps": list(steps) or [step()]}, **extra}


def executor(**extra) -> dict:
    return step(executor={**EXECUTOR, **extra})


def container(**extra) -> dict:
    return step(executor={**EXECUTOR, "container": {"image": "x", **extra}})


def line(**extra) -> dict:
    return {"job_step": "train", "job_task": "t0", "message": "m", **extra}


TASK, STEP, JOBS = "j1/steps/train/tasks/t0", "j1/steps/train/status", ""
S = ["body", "platform_spec", "steps", 0]
CASES = [
    # (method, path under the workspace's jobs, body, loc of the unknown key, its value)
    ("put", TASK, {"state": "completed"}, ["body", "state"], "completed"),
    ("put", TASK, {"status": "completed", "error_stak": "x"}, ["body", "error_stak"], "x"),
    ("put", "j1/steps/train/tasks/new-task", {"stauts": "active"}, ["body", "stauts"], "active"),
    ("patch", STEP, {"status": "active", "detalis": {}}, ["body", "detalis"], {}),
    ("post", JOBS, job_body(descripton="d"), ["body", "descripton"], "d"),
    ("post", JOBS, {"name": "j2", "platform_spec": {"steps": [step()], "secrets": []}},
     ["body", "platform_spec", "secrets"], []),
    ("post", JOBS, job_body(step(enviroment=[])), [*S, "enviroment"], []),
    ("post", JOBS, job_body(step(lifecycle={"staleness_timeout": 5})),
     [*S, "lifecycle", "staleness_timeout"], 5),
    ("post", JOBS, job_body(step(environment=[{"name": "A", "value": "1", "secret": 1}])),
     [*S, "environment", 0, "secret"], 1),
    ("post", JOBS, job_body(step(environment=[{"name": "A", "from_secret": {"name": "s",
                                                                           "key": "k"}}])),
     [*S, "environment", 0, "from_secret", "key"], "k"),
    ("post", JOBS, job_body(executor(resouces={})), [*S, "executor", "resouces"], {}),
    ("post", JOBS, job_body(step(executor={"provider": "subprocess", "command": ["true"],
                                           "container": {}})),
     [*S, "executor", "container"], {}),
    ("post", JOBS, job_body(container(args=["-v"])), [*S, "executor", "container", "args"],
     ["-v"]),
    ("post", JOBS, job_body(executor(resources={"requests": {"gpu": "1"}})),
     [*S, "executor", "resources", "requests", "gpu"], "1"),
    ("post", JOBS, job_body(executor(resources={"gpus": 1})),
     [*S, "executor", "resources", "gpus"], 1),
    ("post", "j1/logs", {"data": [line()], "job": "j1"}, ["body", "job"], "j1"),
    ("post", "j1/logs", {"data": [line(), line(level="info")]}, ["body", "data", 1, "level"],
     "info"),
    ("post", "j1/results/r1", {"artifact_storage_type": "fileset", "artifact_url": URL,
                               "artifact_type": "model"}, ["body", "artifact_type"], "model"),
    ("post", "j1/cancel", {"reason": "no longer needed"}, ["body", "reason"], "no longer needed"),
    ("post", "j1/pause", {"force": True}, ["body", "force"], True),
    ("post", "j1/resume", {"now": 1}, ["body", "now"], 1),
    ("post", "j1/rerun", {"from_step": "train"}, ["body", "from_step"], "train"),
]


@pytest.mark.parametrize("method,path,body,loc,value", CASES,
                         ids=[f"{c[0]}-{c[1] or 'jobs'}-{'.'.join(map(str, c[3][1:]))}"
                              for c in CASES])
def test_an_unknown_key_is_422_naming_it_and_nothing_is_written(api, query, job, method, path,
                                                                 body, loc, value):
    before = snapshot(query)
    response = getattr(api.client, method)(api.url(path) if path else api.url(), json=body)
    assert response.status_code == 422, response.json
    assert {"type": "extra_forbidden", "loc": loc, "msg": "Extra inputs are not permitted",
            "input": value, "ctx": {}} in response.json["detail"]
    assert snapshot(query) == before


def test_every_unknown_key_is_named_at_once(api, job):
    response = api.put_task(job, "train", "t0", {"state": "completed", "progress": 1,
                                                 "status": "completed"})
    assert response.status_code == 422
    assert sorted(e["loc"][1] for e in response.json["detail"]) == ["progress", "state"]
    assert api.get_task(job, "train", "t0").json["status"] == "active"


FREE_FORM = {"any key": {"nested": [1, {"deep": None}]}, "state": "completed"}


def test_free_form_objects_still_take_any_key(api, job):
    task = api.put_task(job, "train", "t0", {"status_details": FREE_FORM,
                                             "error_details": FREE_FORM})
    assert task.status_code == 200, task.json
    assert task.json["status_details"] == FREE_FORM == task.json["error_details"]
    moved = api.client.patch(api.url(job, "steps", "train", "status"), json={
        "status": "active", "status_details": FREE_FORM, "error_details": FREE_FORM})
    assert moved.status_code == 200, moved.json
    assert moved.json["status_details"] == FREE_FORM == moved.json["error_details"]
    merged = api.client.patch(api.url(job, "status-details"), json=FREE_FORM)
    assert merged.status_code == 200 and merged.json["status_details"] == FREE_FORM
    created = api.client.post(api.url(), json=job_body(
        step(config=FREE_FORM), spec=FREE_FORM, ownership=FREE_FORM, custom_fields=FREE_FORM))
    assert created.status_code == 201, created.json
    assert created.json["spec"] == created.json["ownership"] == FREE_FORM
    assert created.json["custom_fields"] == FREE_FORM
    assert created.json["platform_spec"]["steps"][0]["config"] == FREE_FORM


def test_actions_still_take_an_empty_body_or_an_empty_object(api, job):
    paused = api.client.post(api.url(job, "pause"))
    assert paused.status_code == 200, paused.json
    resumed = api.client.post(api.url(job, "resume"), json={})
    assert resumed.status_code == 200, resumed.json


def test_the_documented_write_bodies_forbid_additional_properties(client):
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    for name in ("PlatformJobTaskUpdate", "PlatformJobStepStatusUpdate", "PlatformJobCreate",
                 "PlatformJobSpec", "PlatformJobStepSpec", "PlatformJobLogAppend",
                 "PlatformJobLogLineCreate", "PlatformJobResultCreate"):
        assert schemas[name]["additionalProperties"] is False, name
    assert schemas["PlatformJobTaskUpdate"]["properties"]["status_details"][
        "additionalProperties"] == {}


def test_a_job_with_every_known_key_is_still_accepted(api):
    body = job_body(step(config={"n": 1}, environment=[{"name": "A", "value": "1"}, {
        "name": "B", "from_secret": {"name": "s"}}], lifecycle={"staleness_timeout_seconds": 5},
        executor={"provider": "gpu", "profile": "default", "container": {
            "image": "x", "entrypoint": ["python"], "command": ["-m", "train"]}, "resources": {
            "requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": None},
            "num_nodes": 1, "num_gpus": 8, "shm_size": "4Gi"}}),
        description="d", project="p", spec={}, source="s", ownership={}, custom_fields={})
    created = api.client.post(api.url(), json=body)
    assert created.status_code == 201, created.json
    assert created.json["platform_spec"] == body["platform_spec"]


@pytest.mark.parametrize("path", ["j1/steps/train/tasks/t0", "j1/steps/train/status"])
def test_status_alone_is_still_enough(api, job, path):
    send = api.client.put if path.endswith("t0") else api.client.patch
    assert send(api.url(path), json={"status": "active"}).status_code == 200

