"""Paged, sorted and filtered lists of jobs and steps."""

import pytest

from .conftest import EXECUTOR


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
                           "created_at", "updated_at", "task_counts"}
    assert listed["job"] == "bravo" and listed["status"] == "active"
    assert listed["step_spec"] == {"name": "prep", "executor": EXECUTOR, "config": {},
                                   "lifecycle": {"staleness_timeout_seconds": 0}}
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


# Upstream's list grammar: operator forms, time ranges, the workspace filter, sort by source.
@pytest.mark.parametrize("query,expected", [
    ("filter[name][$eq]=echo", ["echo"]),
    ("filter[name][$in]=alpha,delta,zulu", ["alpha", "delta"]),
    ("filter[name][$in]=alpha&filter[name][$in]=echo", ["alpha", "echo"]),
    ("filter[name][$nin]=alpha,bravo", ["charlie", "delta", "echo"]),
    ("filter[name][$like]=%25a", ["alpha", "delta"]),
    ("filter[name][$like]=_r%25", ["bravo"]),
    ("filter[name][$like]=A%25", []),  # case-sensitive, as on PostgreSQL
    ("filter[source][$eq]=cli", ["bravo", "charlie"]),
    ("filter[source][$in]=cli,nope", ["bravo", "charlie"]),
    ("filter[source][$nin]=cli", ["alpha", "delta", "echo"]),
    ("filter[source][$like]=s%25", ["alpha", "delta", "echo"]),
    ("filter[source][$like]=s%25&filter[name][$nin]=delta&filter[project]=p1", ["alpha", "echo"]),
    ("filter[workspace]=ws", ["alpha", "bravo", "charlie", "delta", "echo"]),
    ("filter[workspace]=other", []),
])
def test_operator_filters(api, jobs, query, expected):
    response = api.client.get(api.url() + f"?sort=name&{query}")
    assert names(response) == expected
    assert response.json["pagination"]["total_results"] == len(expected)


def test_like_escapes_wildcards_with_a_backslash(api):
    for name, source in (("j1", "a%b"), ("j2", "axb"), ("j3", "a_b")):
        api.create_job(name, source=source)
    like = lambda pattern: names(api.client.get(api.url(), query_string={
        "sort": "name", "filter[source][$like]": pattern}))
    assert like("a%b") == ["j1", "j2", "j3"]
    assert like("a\\%b") == ["j1"]
    assert like("a\\_b") == ["j3"]
    lone = api.client.get(api.url(), query_string={"filter[source][$like]": "a\\"})
    assert lone.status_code == 422


def test_time_ranges(api, jobs):
    listed = api.client.get(api.url() + "?sort=created_at").json["data"]
    created = [job["created_at"] for job in listed]
    between = api.client.get(api.url(), query_string={
        "sort": "created_at", "filter[created_at][$gte]": created[1],
        "filter[created_at][$lte]": created[3]})
    assert names(between) == ["bravo", "charlie", "delta"]
    # Any offset; the bound is the same instant.
    same_instant = created[4][:-1] + "+00:00"
    assert names(api.client.get(api.url(), query_string={
        "filter[created_at][$gte]": same_instant})) == ["echo"]
    updated = api.client.get(api.url("delta")).json["updated_at"]
    assert names(api.client.get(api.url(), query_string={
        "sort": "name", "filter[updated_at][$gte]": updated})) == ["delta"]
    assert names(api.client.get(api.url(), query_string={
        "filter[updated_at][$lte]": "2000-01-01T00:00:00Z"})) == []


@pytest.mark.parametrize("sort,expected", [
    ("source", ["bravo", "charlie", "alpha", "delta", "echo"]),
    ("-source", ["alpha", "delta", "echo", "bravo", "charlie"]),
])
def test_sort_by_source_keeps_ties_in_creation_order(api, jobs, sort, expected):
    assert names(api.client.get(api.url() + f"?sort={sort}")) == expected


def test_the_answer_repeats_the_filters(api, jobs):
    response = api.client.get(api.url(), query_string={
        "filter[name][$in]": "alpha,bravo", "filter[source]": "cli",
        "filter[source][$like]": "c%", "filter[created_at][$gte]": "2020-01-01T00:00:00Z",
        "filter[workspace]": "ws"})
    assert response.json["filter"] == {
        "name": {"$in": ["alpha", "bravo"]}, "source": {"$eq": "cli", "$like": "c%"},
        "created_at": {"$gte": "2020-01-01T00:00:00.000000Z"}, "workspace": "ws"}


def test_steps_take_the_same_grammar(api, jobs):
    listed = lambda q: [(s["job"], s["name"]) for s in
                        api.client.get(api.url("-", "steps") + "?page_size=100&" + q).json["data"]]
    assert listed("filter[name][$eq]=prep&filter[source][$in]=cli") == [
        ("bravo", "prep"), ("charlie", "prep")]
    assert listed("filter[name][$like]=tr%25&filter[workspace]=ws")[:1] == [("alpha", "train")]
    assert listed("filter[workspace]=other") == []
    assert api.client.get(api.url("-", "steps") + "?sort=source").status_code == 422


@pytest.mark.parametrize("query,loc", [
    ("filter[name][$gt]=a", ["query", "filter[name][$gt]"]),
    ("filter[name][eq]=a", ["query", "filter[name][eq]"]),
    ("filter[status][$in]=active", ["query", "filter[status][$in]"]),
    ("filter[project][$like]=p%25", ["query", "filter[project][$like]"]),
    ("filter[created_at][$eq]=2026-01-01T00:00:00Z", ["query", "filter[created_at][$eq]"]),
    ("filter[created_at][$gte]=2026-01-01", ["query", "filter[created_at][$gte]"]),
    ("filter[created_at]=2026-01-01T00:00:00Z", ["query", "filter[created_at]"]),
    ("filter[updated_at][$lte]=soon", ["query", "filter[updated_at][$lte]"]),
    ("filter[name][$in]=" + ",".join("x" * 101), ["query", "filter[name][$in]"]),
    ("filter[source][$like]=a%5C", ["query", "filter[source][$like]"]),
])
def test_unknown_operators_and_bad_operands_are_422(api, jobs, query, loc):
    for url in (api.url(), api.url("-", "steps")):
        response = api.client.get(f"{url}?{query}")
        assert response.status_code == 422, (url, response.json)
        assert loc in [e["loc"] for e in response.json["detail"]]
