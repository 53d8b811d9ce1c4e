"""Big jobs: a step's tasks in pages, task counts on steps, tags that need no tree, gzip."""

import gzip
import random

import pytest

STATUSES = ["pending", "active", "completed", "error"]


@pytest.fixture
def seeded(api):
    """Job j1: step `big` with 60 tasks in shuffled order and mixed statuses, beside `small`."""
    api.create_job("j1", steps=("small", "big"))
    rng = random.Random(7)
    names = [f"t{i:03d}" for i in range(60)]
    rng.shuffle(names)
    tasks = {}
    for name in names:
        status = rng.choice(STATUSES)
        assert api.put_task("j1", "big", name, {"status": "active"} if status != "pending"
                            else {}).status_code == 200
        if status in ("completed", "error"):
            assert api.put_task("j1", "big", name, {"status": status}).status_code == 200
        tasks[name] = status
    api.put_task("j1", "small", "only", {})
    return {"arrival": names, "status": tasks}


def tasks_url(api, step="big"):
    return api.url("j1", "steps", step, "tasks")


def get(api, url, **query):
    response = api.client.get(url, query_string=query)
    assert response.status_code == 200, response.json
    return response


def test_no_query_answers_every_task_in_arrival_order_as_before(api, seeded):
    body = get(api, tasks_url(api)).json
    assert list(body) == ["data"]
    assert [t["name"] for t in body["data"]] == seeded["arrival"]
    assert set(body["data"][0]) == {
        "name", "workspace", "project", "step_id", "status", "status_details",
        "error_details", "error_stack", "id", "created_at", "created_by", "updated_at",
        "updated_by", "entity_id", "parent", "db_version"}


def expected_rows(api, seeded, status=None, like=None):
    rows = get(api, tasks_url(api)).json["data"]  # the unpaged list, read independently
    if status:
        rows = [r for r in rows if r["status"] in status]
    if like is not None:
        rows = [r for r in rows if r["name"].startswith(like)]
    return rows


@pytest.mark.parametrize("sort", ["name", "-name", "created_at", "-created_at",
                                  "updated_at", "-updated_at"])
def test_pages_walk_every_task_once_in_the_sort_order(api, seeded, sort):
    rows = expected_rows(api, seeded)
    key = sort.lstrip("-")
    # Ties (same instant) keep arrival order, whichever the direction.
    arrival = {r["name"]: i for i, r in enumerate(rows)}
    want = sorted(rows, key=lambda r: arrival[r["name"]])
    want = sorted(want, key=lambda r: r[key], reverse=sort.startswith("-"))
    if sort.startswith("-"):  # a stable reverse sort keeps ties in arrival order
        want = sorted(rows, key=lambda r: arrival[r["name"]])
        want.sort(key=lambda r: r[key], reverse=True)
    seen = []
    for page in range(1, 5):
        body = get(api, tasks_url(api), page=page, page_size=17, sort=sort).json
        assert body["pagination"] == {"page": page, "page_size": 17,
                                      "current_page_size": min(17, 60 - 17 * (page - 1)),
                                      "total_pages": 4, "total_results": 60}
        assert body["sort"] == sort and body["filter"] == {}
        seen += [r["name"] for r in body["data"]]
    assert seen == [r["name"] for r in want]


def test_the_default_page_is_ten_by_name(api, seeded):
    body = get(api, tasks_url(api), page=1).json
    assert [r["name"] for r in body["data"]] == sorted(seeded["arrival"])[:10]
    assert body["sort"] == "name" and body["pagination"]["page_size"] == 10


@pytest.mark.parametrize("status", [["active"], ["completed", "error"], ["cancelled"]])
def test_filter_by_status_then_name(api, seeded, status):
    want = sorted(r["name"] for r in expected_rows(api, seeded, status=status))
    body = get(api, tasks_url(api), **{"filter[status]": ",".join(status), "page_size": 100}).json
    assert [r["name"] for r in body["data"]] == want
    assert body["pagination"]["total_results"] == len(want)
    assert body["filter"] == {"status": status}


def test_filter_by_name_like_and_status(api, seeded):
    want = sorted(r["name"] for r in expected_rows(api, seeded, status=["active"], like="t01"))
    body = get(api, tasks_url(api), **{"filter[name][$like]": "t01%", "sort": "-name",
                                       "filter[status]": "active"}).json
    assert [r["name"] for r in body["data"]] == want[::-1]
    assert body["filter"] == {"status": ["active"], "name": {"$like": "t01%"}}
    assert get(api, tasks_url(api), **{"filter[name][$like]": "T01%"}).json["data"] == []


def test_the_other_steps_tasks_never_mix_in(api, seeded):
    body = get(api, tasks_url(api, "small"), page_size=100).json
    assert [r["name"] for r in body["data"]] == ["only"]


@pytest.mark.parametrize("qs,loc", [
    ("page=0", ["query", "page"]), ("page=x", ["query", "page"]),
    ("page_size=0", ["query", "page_size"]), ("page_size=1001", ["query", "page_size"]),
    ("sort=size", ["query", "sort"]), ("sort=source", ["query", "sort"]),
    ("filter[status]=running", ["query", "filter[status]", 0]),
    ("filter[color]=red", ["query", "filter[color]"]),
    ("filter[name][$like]=a%5C", ["query", "filter[name][$like]"]),
    ("filter[name][$gt]=a", ["query", "filter[name][$gt]"]),
])
def test_bad_queries_are_the_job_lists_422s(api, seeded, qs, loc, query_db):
    before = query_db()
    response = api.client.get(f"{tasks_url(api)}?{qs}")
    assert response.status_code == 422 and response.is_json, response.data
    assert loc in [e["loc"] for e in response.json["detail"]]
    shape = lambda r: [(e["type"], e["loc"], e["input"]) for e in r.json["detail"]]
    if qs != "sort=source":  # jobs may be sorted by source; tasks have none
        assert shape(response) == shape(api.client.get(f"{api.url()}?{qs}"))
    assert query_db() == before


@pytest.fixture
def query_db(query):
    return lambda: [query(f"SELECT count(*), sum(db_version) FROM {t}")
                    for t in ("jobs", "steps", "tasks")]
