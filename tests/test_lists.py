"""Paged, sorted and filtered lists of jobs and steps."""

import pytest


@pytest.fixture
def jobs(api):
    specs = [("alpha", "p1", "sdk"), ("bravo", "p2", "cli"), ("charlie", "p1", "cli"),
             ("delta", "p2", "sdk"), ("echo", "p1", "sdk")]
    for name, project, source in specs:
        api.create_job(name, steps=("prep", "train"), project=project, source=source)
    api.client.patch(api.url("bravo", "steps", "prep", "status"), json={"status": "active"})
    api.client.patch(api.url("delta", "steps", "prep", "status"), json={"status": "error"})
    return [s[0] for s in specs]


def names(response):
    assert response.status_code == 200, response.json
    return [item["name"] for item in response.json["data"]]


def test_default_page_is_newest_first_with_the_envelope(api, jobs):
    response = api.client.get(api.url())
    assert names(response) == list(reversed(jobs))
    assert response.json["pagination"] == {"page": 1, "page_size": 10, "current_page_size": 5,
                                           "total_pages": 1, "total_results": 5}
    assert response.json["sort"] == "-created_at" and response.json["filter"] == {}


def test_pages_cover_every_job_once(api, jobs):
    seen = []
    for page in (1, 2, 3):
        response = api.client.get(api.url() + f"?page={page}&page_size=2&sort=name")
        seen += names(response)
        assert response.json["pagination"]["total_pages"] == 3
    assert seen == sorted(jobs)
    past = api.client.get(api.url() + "?page=9&page_size=2")
    assert names(past) == [] and past.json["pagination"]["current_page_size"] == 0


@pytest.mark.parametrize("sort,expected", [
    ("name", ["alpha", "bravo", "charlie", "delta", "echo"]),
    ("-name", ["echo", "delta", "charlie", "bravo", "alpha"]),
    ("created_at", ["alpha", "bravo", "charlie", "delta", "echo"]),
    ("-updated_at", ["delta", "bravo", "echo", "charlie", "alpha"]),
])
def test_sorts(api, jobs, sort, expected):
    assert names(api.client.get(api.url() + f"?sort={sort}")) == expected


@pytest.mark.parametrize("query,expected", [
    ("filter[status]=active", ["bravo"]),
    ("filter[status]=active&filter[status]=error", ["bravo", "delta"]),
    ("filter[status]=active,error", ["bravo", "delta"]),
    ("filter[project]=p1", ["alpha", "charlie", "echo"]),
    ("filter[source]=cli&filter[project]=p2", ["bravo"]),
    ("filter[name]=echo", ["echo"]),
    ("filter[name]=zulu", []),
])
def test_filters(api, jobs, query, expected):
    response = api.client.get(api.url() + f"?sort=name&{query}")
    assert names(response) == expected
    assert response.json["pagination"]["total_results"] == len(expected)


def test_workspaces_do_not_mix(api, jobs, client):
    assert names(client.get("/apis/jobs/v2/workspaces/other/jobs")) == []


@pytest.mark.parametrize("query,loc", [
    ("page=0", ["query", "page"]), ("page=x", ["query", "page"]),
    ("page_size=0", ["query", "page_size"]), ("page_size=1001", ["query", "page_size"]),
    ("sort=size", ["query", "sort"]), ("filter[status]=running", ["query", "filter[status]", 0]),
    ("filter[color]=red", ["query", "filter[color]"]),
])
def test_bad_queries_are_422(api, jobs, query, loc):
    for url in (api.url(), api.url("-", "steps"), api.url("alpha", "steps")):
        response = api.client.get(f"{url}?{query}")
        assert response.status_code == 422, (url, response.json)
        assert loc in [e["loc"] for e in response.json["detail"]]


def test_steps_of_one_job_list_in_spec_order(api, jobs):
    response = api.client.get(api.url("bravo", "steps"))
    assert names(response) == ["prep", "train"]
    listed = response.json["data"][0]
    assert set(listed) == {"id", "job", "attempt_id", "fileset", "name", "workspace",
                           "step_spec", "status", "status_details", "error_details",
                           "created_at", "updated_at"}
    assert listed["job"] == "bravo" and listed["status"] == "active"
    assert listed["step_spec"] == {"name": "prep"}
    assert response.json["sort"] == "created_at"


def test_steps_across_jobs(api, jobs):
    response = api.client.get(api.url("-", "steps") + "?page_size=100")
    assert len(response.json["data"]) == 10
    assert [s["job"] for s in response.json["data"][:2]] == ["alpha", "alpha"]
    errored = api.client.get(api.url("-", "steps") + "?filter[status]=error").json["data"]
    assert [(s["job"], s["name"]) for s in errored] == [("delta", "prep")]
    by_job = api.client.get(api.url("-", "steps") + "?filter[job]=echo").json["data"]
    assert {s["job"] for s in by_job} == {"echo"}


def test_steps_list_only_the_current_attempt(api, jobs):
    api.client.post(api.url("alpha", "cancel"))
    api.client.post(api.url("alpha", "rerun"))
    listed = api.client.get(api.url("alpha", "steps")).json["data"]
    assert [s["status"] for s in listed] == ["created", "created"]


def test_steps_of_an_unknown_job_are_404(api, jobs):
    assert api.client.get(api.url("zulu", "steps")).status_code == 404
