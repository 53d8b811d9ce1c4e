"""Creating and reading jobs and their steps."""

import re

import pytest

from schemas import NAME_PATTERN

from .conftest import EXECUTOR, platform_spec

AB = {"name": "ab", "executor": EXECUTOR}

JOB_FIELDS = {"id", "name", "workspace", "project", "description", "source", "spec",
              "platform_spec", "attempt_id", "fileset", "status", "status_details",
              "error_details", "ownership", "custom_fields", "created_at", "updated_at",
              "db_version"}
STEP_FIELDS = {"id", "entity_id", "parent", "attempt_id", "name", "workspace", "project",
               "config", "status", "status_details", "error_details", "created_at",
               "created_by", "updated_at", "updated_by", "db_version"}


def test_create_job_stores_what_was_given_and_creates_steps(api):
    body = {
        "name": "train-1", "description": "d", "project": "p", "spec": {"k": "v"},
        "source": "sdk", "ownership": {"owner": "a"}, "custom_fields": {"c": 1},
        "platform_spec": {"steps": [
            {"name": "prep", "executor": {"provider": "cpu", "container": {"image": "x"}},
             "config": {"lr": 0.1}, "environment": [{"name": "A", "value": "1"}],
             "lifecycle": {"staleness_timeout_seconds": 60}},
            {"name": "train", "executor": {"provider": "gpu", "profile": "large",
                                           "container": {"command": ["run"]}}},
        ]},
    }
    response = api.client.post(api.url(), json=body)
    job = response.json
    assert response.status_code == 201 and response.headers["ETag"] == '"1"'
    assert JOB_FIELDS <= job.keys()
    assert {k: job[k] for k in body if k != "platform_spec"} == {
        k: v for k, v in body.items() if k != "platform_spec"}
    # Stored as given, with upstream's defaults for what a step left out.
    assert job["platform_spec"] == {"steps": [
        body["platform_spec"]["steps"][0],
        {"name": "train", "executor": {"provider": "gpu", "profile": "large",
                                       "container": {"command": ["run"]}}, "config": {},
         "lifecycle": {"staleness_timeout_seconds": 0}}]}
    assert job["status"] == "created" and job["db_version"] == 1 and job["workspace"] == "ws"
    assert job["status_details"] == {} and job["error_details"] == {}
    assert api.client.get(api.url("train-1")).json == job

    step = api.client.get(api.url("train-1", "steps", "prep")).json
    assert STEP_FIELDS <= step.keys()
    assert step["status"] == "created" and step["config"] == {"lr": 0.1}
    assert step["parent"] == step["attempt_id"] == job["attempt_id"]
    assert step["entity_id"] == step["id"] and step["project"] == "p"
    assert api.client.get(api.url("train-1", "steps", "train")).json["config"] == {}


def test_defaults_and_generated_name(api):
    response = api.client.post(api.url(), json={"platform_spec": platform_spec("s1")})
    job = response.json
    assert response.status_code == 201
    assert re.fullmatch(NAME_PATTERN, job["name"])
    assert job["spec"] == {} and job["source"] == ""
    assert job["project"] == "" and job["description"] == ""
    assert job["ownership"] == {} and job["custom_fields"] == {}
    assert api.client.get(api.url(job["name"])).status_code == 200


def test_duplicate_name_is_409_and_changes_nothing(api):
    first = api.create_job("j1", steps=("a1",))
    response = api.client.post(api.url(), json={"name": "j1",
                                                "platform_spec": platform_spec("b1")})
    assert response.status_code == 409
    assert response.json == {"detail": "Job 'j1' already exists in workspace 'ws'."}
    assert api.client.get(api.url("j1")).json == first
    assert api.client.get(api.url("j1", "steps", "b1")).status_code == 404


def test_same_name_in_another_workspace_is_fine(api, client):
    api.create_job("j1")
    other = client.post("/apis/jobs/v2/workspaces/other/jobs",
                        json={"name": "j1", "platform_spec": platform_spec("s1")})
    assert other.status_code == 201 and other.json["workspace"] == "other"


@pytest.mark.parametrize("body,loc,kind", [
    ({}, ["body", "platform_spec"], "missing"),
    ({"platform_spec": {}}, ["body", "platform_spec", "steps"], "missing"),
    ({"platform_spec": {"steps": []}}, ["body", "platform_spec", "steps"], "value_error"),
    ({"platform_spec": {"steps": [AB, AB]}},
     ["body", "platform_spec", "steps"], "value_error"),
    ({"platform_spec": {"steps": [{**AB, "name": "Bad"}]}},
     ["body", "platform_spec", "steps", 0, "name"], "string_pattern_mismatch"),
    ({"platform_spec": {"steps": [{}]}}, ["body", "platform_spec", "steps", 0, "name"], "missing"),
    ({"platform_spec": {"steps": [{**AB, "config": []}]}},
     ["body", "platform_spec", "steps", 0, "config"], "dict_type"),
    ({"platform_spec": {"steps": [{"name": "ab"}]}},
     ["body", "platform_spec", "steps", 0, "executor"], "missing"),
    ({"platform_spec": {"steps": [{**AB, "executor": {"profile": "p"}}]}},
     ["body", "platform_spec", "steps", 0, "executor", "provider"], "missing"),
    ({"platform_spec": {"steps": [{**AB, "executor": {"provider": ""}}]}},
     ["body", "platform_spec", "steps", 0, "executor", "provider"], "union_tag_invalid"),
    ({"platform_spec": {"steps": [{**AB, "executor": "cpu"}]}},
     ["body", "platform_spec", "steps", 0, "executor"], "dict_type"),
    ({"platform_spec": {"steps": [{**AB, "executor": None}]}},
     ["body", "platform_spec", "steps", 0, "executor"], "null_forbidden"),
    ({"platform_spec": {"steps": [{**AB, "lifecycle": {"staleness_timeout_seconds": -1}}]}},
     ["body", "platform_spec", "steps", 0, "lifecycle", "staleness_timeout_seconds"],
     "out_of_range"),
    ({"platform_spec": {"steps": [{**AB, "lifecycle": {"staleness_timeout_seconds": "5"}}]}},
     ["body", "platform_spec", "steps", 0, "lifecycle", "staleness_timeout_seconds"],
     "int_parsing"),
    ({"platform_spec": {"steps": [{**AB, "lifecycle": []}]}},
     ["body", "platform_spec", "steps", 0, "lifecycle"], "dict_type"),
    ({"platform_spec": "x"}, ["body", "platform_spec"], "dict_type"),
    ({"platform_spec": {"steps": [AB]}, "name": "-bad"}, ["body", "name"],
     "string_pattern_mismatch"),
    ({"platform_spec": {"steps": [AB]}, "name": "a--b"}, ["body", "name"],
     "string_pattern_mismatch"),
    ({"platform_spec": {"steps": [AB]}, "name": "a" * 64}, ["body", "name"],
     "string_pattern_mismatch"),
    ({"platform_spec": {"steps": [AB]}, "spec": None}, ["body", "spec"],
     "null_forbidden"),
    ({"platform_spec": {"steps": [AB]}, "source": 5}, ["body", "source"],
     "string_type"),
    ([], ["body"], "dict_type"),
])
def test_invalid_bodies_are_422_and_create_nothing(api, body, loc, kind):
    response = api.client.post(api.url(), json=body)
    assert response.status_code == 422, response.json
    assert {"loc": loc, "type": kind} in [
        {"loc": e["loc"], "type": e["type"]} for e in response.json["detail"]]
    listed = api.client.get(api.url("j1"))  # nothing named j1 either
    assert listed.status_code == 404


@pytest.mark.parametrize("path,detail", [
    ("nope", "Job 'nope' not found in workspace 'ws'."),
    ("j1/steps/nope", "Step 'nope' for job 'j1' not found in workspace 'ws'."),
    ("nope/steps/train", "Job 'nope' not found in workspace 'ws'."),
])
def test_not_found(api, path, detail):
    api.create_job("j1")
    response = api.client.get(api.url(path))
    assert response.status_code == 404 and response.json == {"detail": detail}
