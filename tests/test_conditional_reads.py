"""Reads that pollers repeat (the dashboard's: the tree, the lists, a job's log lines and its
results) answer 304 while nothing changed, and a page of jobs' steps comes in one request."""

import pytest


@pytest.fixture
def job(api):
    api.create_job("j1", steps=("prep", "train"))
    api.create_job("j2", steps=("eval",))
    return "j1"


def report_progress(api):
    # A task's progress reaches its job's status_details too.
    assert api.put_task("j1", "train", "w0", {"status_details": {"epoch": 1}}).status_code == 200


def move_step(api):
    response = api.client.patch(api.url("j1", "steps", "prep", "status"), json={"status": "active"})
    assert response.status_code == 200


def append_line(api):
    response = api.client.post(api.url("j1", "logs"), json={"data": [
        {"job_step": "train", "job_task": "w0", "message": "epoch 1"}]})
    assert response.status_code == 201


def record_result(api):
    response = api.client.post(api.url("j1", "results", "weights"), json={
        "artifact_storage_type": "fileset", "artifact_url": f"fileset://{api.ws}/j1/model.bin"})
    assert response.status_code == 201


# (what is polled, its url, a write that changes it)
POLLED = [
    ("tree", lambda api: api.url("j1", "status"), report_progress),
    ("jobs", lambda api: api.url() + "?filter[status]=created,active", report_progress),
    ("steps", lambda api: api.url("-", "steps") + "?filter[job]=j1", move_step),
    ("logs", lambda api: api.url("j1", "logs") + "?limit=1000", append_line),
    ("results", lambda api: api.url("j1", "results"), record_result),
]


@pytest.mark.parametrize("what, url, write", POLLED, ids=[p[0] for p in POLLED])
def test_unchanged_is_304_and_a_change_is_a_new_body(api, job, what, url, write):
    first = api.client.get(url(api))
    tag = first.headers["ETag"]
    again = api.client.get(url(api), headers={"If-None-Match": tag})
    assert (again.status_code, again.data, again.headers["ETag"]) == (304, b"", tag)
    write(api)
    changed = api.client.get(url(api), headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["ETag"] != tag
    assert changed.json == api.client.get(url(api)).json


@pytest.mark.parametrize("header", ['"nope"', "W/\"x\"", "", "garbage, ,"])
def test_a_tag_that_does_not_match_gets_the_body(api, job, header):
    response = api.client.get(api.url("j1", "status"), headers={"If-None-Match": header})
    assert response.status_code == 200 and response.json["name"] == "j1"


@pytest.mark.parametrize("headers", [
    {"If-Match": "*"}, {"If-Match": '"zz"'}, {"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"},
    {"Range": "bytes=0-3"},
])
def test_reads_answer_no_other_precondition(api, job, headers):
    response = api.client.get(api.url("j1", "status"), headers=headers)
    assert response.status_code == 200 and response.json["name"] == "j1"


def test_any_tag_means_unchanged_too(api, job):
    response = api.client.get(api.url("j1", "status"), headers={"If-None-Match": "*"})
    assert response.status_code == 304 and "Content-Type" not in response.headers


def test_writes_keep_their_db_version_etag(api, job):
    response = api.put_task("j1", "train", "w0", {"status": "active"})
    assert response.headers["ETag"] == '"1"'


@pytest.mark.parametrize("query, expected", [
    ("filter[job]=j1", {("j1", "prep"), ("j1", "train")}),
    ("filter[job]=j1,j2", {("j1", "prep"), ("j1", "train"), ("j2", "eval")}),
    ("filter[job]=j1&filter[job]=j2", {("j1", "prep"), ("j1", "train"), ("j2", "eval")}),
    ("filter[job]=nope", set()),
])
def test_steps_of_several_jobs_at_once(api, job, query, expected):
    response = api.client.get(api.url("-", "steps") + "?" + query)
    assert {(s["job"], s["name"]) for s in response.json["data"]} == expected
