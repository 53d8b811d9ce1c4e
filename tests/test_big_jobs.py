"""Big jobs: a step's tasks in pages, task counts on steps, tags that need no tree, gzip."""

import gzip
import json
import random
import threading
import time

import pytest

from app.db import connect

from .conftest import Api

STATUSES = ["pending", "active", "completed", "error"]


@pytest.fixture
def seeded(api, db_target):
    """Job j1: step `big` with 60 tasks in shuffled name order and mixed statuses, written
    straight into the table (as many workers' reports would have left them; some share an
    instant, so sorts by time need their tie-break), beside step `small` with one task."""
    api.create_job("j1", steps=("small", "big"))
    assert api.client.patch(api.url("j1", "steps", "big", "status"),
                            json={"status": "active"}).status_code == 200
    api.put_task("j1", "small", "only", {})
    rng = random.Random(7)
    names = [f"t{i:03d}" for i in range(60)]
    rng.shuffle(names)
    statuses = {name: rng.choice(STATUSES) for name in names}
    db = connect(db_target)
    try:
        with db.transaction():
            step = db.execute("SELECT id, workspace, project FROM steps WHERE name = 'big'"
                              ).fetchone()
            for i, name in enumerate(names):
                created = f"2026-01-01T00:00:{i // 3:02d}.000000Z"
                updated = f"2026-01-01T00:01:{rng.randrange(20):02d}.000000Z"
                db.execute(
                    "INSERT INTO tasks (id, step_id, workspace, project, name, status, "
                    "status_details, error_details, error_stack, created_at, updated_at, "
                    "db_version) VALUES (?, ?, ?, ?, ?, ?, '{}', '{}', '', ?, ?, ?)",
                    (f"task-{i}", step[0], step[1], step[2], name, statuses[name], created,
                     updated, 1 + i % 3))
    finally:
        db.close()
    return {"arrival": names, "status": statuses}


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
    rows = expected_rows(api, seeded)  # in arrival order
    # Ties (same instant) keep arrival order, whichever the direction: a stable sort.
    want = sorted(rows, key=lambda r: r[sort.lstrip("-")], reverse=sort.startswith("-"))
    assert len({r["created_at"] for r in rows}) < len(rows)  # there are ties to break
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


def tree(api, **query):
    return get(api, api.url("j1", "status"), **query)


def test_task_counts_are_exact_after_moves(api, seeded, query):
    def counted():
        want = {}
        for (status,) in query("SELECT t.status FROM tasks t JOIN steps s ON s.id = t.step_id "
                               "WHERE s.name = 'big'"):
            want[status] = want.get(status, 0) + 1
        return dict(sorted(want.items()))

    for move in ({"status": "completed"}, {"status": "error"}):
        active = next(n for n, s in seeded["status"].items() if s == "active")
        api.put_task("j1", "big", active, move)
        seeded["status"][active] = move["status"]
        steps = {s["name"]: s for s in tree(api).json["steps"]}
        assert steps["big"]["task_counts"] == counted()
        assert sum(counted().values()) == 60 and steps["small"]["task_counts"] == {"pending": 1}
        assert get(api, api.url("j1", "steps", "big")).json["task_counts"] == counted()
        listed = get(api, api.url("j1", "steps")).json["data"]
        assert [s["task_counts"] for s in listed] == [{"pending": 1}, counted()]


def test_a_step_without_tasks_counts_nothing(api):
    api.create_job("j1", steps=("empty",))
    assert tree(api).json["steps"][0]["task_counts"] == {}
    assert get(api, api.url("j1", "steps", "empty")).json["task_counts"] == {}


def test_tasks_none_leaves_the_tasks_out_and_keeps_the_rest(api, seeded):
    full, bare = tree(api).json, tree(api, tasks="none").json
    assert all("tasks" not in step for step in bare["steps"])
    for step in full["steps"]:
        del step["tasks"]
    assert bare == full


@pytest.mark.parametrize("value", ["all", "", "None", "tasks"])
def test_tasks_takes_only_none(api, seeded, value):
    response = api.client.get(api.url("j1", "status"), query_string={"tasks": value})
    assert response.status_code == 422 and response.is_json
    assert [e["loc"] for e in response.json["detail"]] == [["query", "tasks"]]


def test_the_fast_tree_dump_is_the_schemas(api, seeded):
    from app import jobs, store
    from app.http import db
    with api.client.application.app_context():
        head = store.tree_head(db(), "ws", "j1")
        for with_tasks in (True, False):
            built = store.status_tree(db(), head, with_tasks)
            assert jobs.dump_tree(built) == jobs._status.dump(built)


# Conditional reads: (name, url, extra query)
READS = [
    ("tree", lambda api: api.url("j1", "status"), {}),
    ("tree-bare", lambda api: api.url("j1", "status"), {"tasks": "none"}),
    ("tasks", lambda api: tasks_url(api), {}),
    ("task-page", lambda api: tasks_url(api), {"filter[status]": "active", "page_size": 5}),
    ("step", lambda api: api.url("j1", "steps", "big"), {}),
]


def new_task(api):
    assert api.put_task("j1", "big", "zz-new", {}).status_code == 200


def task_write(api):  # a write that leaves every count as it was
    assert api.put_task("j1", "big", "t000", {"status_details": {"n": 1}}).status_code == 200


def step_write(api):
    assert api.client.patch(api.url("j1", "steps", "big", "status"),
                            json={"status": "active"}).status_code == 200


def rerun(api):
    for step in ("small", "big"):
        api.client.patch(api.url("j1", "steps", step, "status"), json={"status": "cancelled"})
    assert api.client.post(api.url("j1", "rerun")).status_code == 200


@pytest.mark.parametrize("write", [new_task, task_write, step_write, rerun])
@pytest.mark.parametrize("what,url,extra", READS, ids=[r[0] for r in READS])
def test_304_while_unchanged_and_200_after_a_write(api, seeded, what, url, extra, write):
    first = get(api, url(api), **extra)
    tag = first.headers["ETag"]
    again = api.client.get(url(api), query_string=extra, headers={"If-None-Match": tag})
    assert (again.status_code, again.data, again.headers["ETag"]) == (304, b"", tag)
    assert "Content-Type" not in again.headers
    write(api)
    if what.startswith("task") and write is step_write:
        return  # a step's move changes no task: a 200 or a 304 are both right
    changed = api.client.get(url(api), query_string=extra, headers={"If-None-Match": tag})
    if write is rerun and what == "task-page":
        assert changed.status_code == 200 and changed.json["data"] == []
    assert changed.status_code == 200 and changed.headers["ETag"] != tag, what
    assert changed.json == get(api, url(api), **extra).json


def test_the_query_is_part_of_the_tag(api, seeded):
    tags = {get(api, tasks_url(api), **q).headers["ETag"] for q in (
        {}, {"page": 1}, {"page": 2}, {"sort": "-name"}, {"filter[status]": "active"})}
    assert len(tags) == 5
    bare = get(api, api.url("j1", "status"), tasks="none").headers["ETag"]
    assert bare != get(api, api.url("j1", "status")).headers["ETag"]


def test_if_match_on_a_step_takes_its_tag_or_its_version(api, seeded):
    url = api.url("j1", "steps", "big")  # active, at version 2
    move = lambda status, header: api.client.patch(url + "/status", json={"status": status},
                                                  headers={"If-Match": header})
    old = get(api, url).headers["ETag"]
    assert old.startswith('"2.')
    new_task(api)  # the step's tag moves with its tasks; its version does not
    current = get(api, url).headers["ETag"]
    assert current != old and current.startswith('"2.')
    moved = move("pausing", old)  # the version is what If-Match compares
    assert moved.status_code == 200, moved.json
    # The answer's tag revalidates what it shows: a 304, or (PostgreSQL, whose mark taken in
    # the write's own transaction is not yet settled, app/store/events.py) the same body.
    again = api.client.get(url, headers={"If-None-Match": moved.headers["ETag"]})
    assert again.status_code == 304 or (again.status_code == 200 and again.json == moved.json)
    if not api.client.application.config["JOBS_DB"].startswith("postgresql"):
        assert again.status_code == 304
    assert moved.headers["ETag"].startswith('"3.') and moved.json["db_version"] == 3
    assert move("paused", f'"9", {moved.headers["ETag"]}').status_code == 200
    assert move("resuming", '"4"').status_code == 200  # the bare quoted version
    stale = move("active", moved.headers["ETag"])
    assert stale.status_code == 412 and stale.json["detail"].endswith(
        'the step is at version 5 (ETag "5"), not "3".')
    weak = move("active", "W/" + get(api, url).headers["ETag"])
    assert weak.status_code == 412 and "weak" in weak.json["detail"]
    assert move("active", '"5.xyz"').status_code == 412  # not a tag of ours: no version


GZIP = {"Accept-Encoding": "gzip"}


@pytest.mark.parametrize("what,url,extra", READS, ids=[r[0] for r in READS])
def test_gzip_on_and_off_are_the_same_json_under_the_same_tag(api, seeded, what, url, extra):
    plain = api.client.get(url(api), query_string=extra)
    packed = api.client.get(url(api), query_string=extra, headers=GZIP)
    assert "Content-Encoding" not in plain.headers
    assert "Accept-Encoding" in packed.headers["Vary"]
    if len(plain.data) > 1024:
        assert packed.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(packed.data) == plain.data and len(packed.data) < len(plain.data)
    else:
        assert packed.data == plain.data and "Content-Encoding" not in packed.headers
    assert packed.headers["ETag"] == plain.headers["ETag"]
    for headers in (GZIP, {}):  # a tag from either answer revalidates either way
        again = api.client.get(url(api), query_string=extra,
                               headers={**headers, "If-None-Match": packed.headers["ETag"]})
        assert again.status_code == 304 and again.data == b""
        assert "Content-Encoding" not in again.headers


def test_the_tree_is_compressed_and_a_small_answer_is_not(api, seeded):
    assert tree(api).content_length > 1024
    packed = api.client.get(api.url("j1", "status"), headers=GZIP)
    assert packed.headers["Content-Encoding"] == "gzip"
    task = api.client.get(tasks_url(api) + "/t000", headers=GZIP)
    assert task.content_length <= 1024 and "Content-Encoding" not in task.headers


def test_if_match_holds_with_tags_of_compressed_answers(api, seeded):
    """Every write's If-Match takes the tag its read gave, compressed or not."""
    api.client.patch(api.url("j1", "status-details"), json={"note": "x" * 2000})
    job = api.client.get(api.url("j1"), headers=GZIP)
    step = api.client.get(api.url("j1", "steps", "big"), headers=GZIP)
    task = api.client.get(tasks_url(api) + "/t000", headers=GZIP)
    assert job.headers["Content-Encoding"] == "gzip"
    writes = [  # the task's details reach the job: the job's write goes first
        ("PATCH", api.url("j1", "status-details"), {"y": 2}, job),
        ("PATCH", api.url("j1", "steps", "big", "status"), {"status": "active"}, step),
        ("PUT", tasks_url(api) + "/t000", {"status_details": {"x": 1}}, task),
    ]
    for method, url, body, read in writes:
        answer = api.client.open(url, method=method, json=body, headers={
            **GZIP, "If-Match": read.headers["ETag"]})
        assert answer.status_code == 200, (url, answer.data)
        assert ":gzip" not in answer.headers["ETag"]
        again = api.client.open(url, method=method, json=body, headers={
            **GZIP, "If-Match": read.headers["ETag"]})
        assert again.status_code == 412  # the tag is now stale, compressed or not
    fresh = api.client.get(api.url("j1"), headers=GZIP)
    assert fresh.headers["ETag"] == f'"{json.loads(gzip.decompress(fresh.data))["db_version"]}"'
    assert api.client.delete(api.url("j1"), headers={**GZIP, "If-Match": fresh.headers["ETag"]}
                             ).status_code == 204


def test_prefer_wait_answers_a_tag_of_a_compressed_answer(api, seeded):
    job = api.client.get(api.url("j1"), headers=GZIP)
    waited = api.client.get(api.url("j1"), headers={
        **GZIP, "If-None-Match": job.headers["ETag"], "Prefer": "wait=1"})
    assert waited.status_code == 304 and waited.headers["Preference-Applied"] == "wait=1"
    step = api.client.get(api.url("j1", "steps", "big"), headers=GZIP)

    def later():
        time.sleep(0.2)
        new_task(Api(api.client.application.test_client()))

    threading.Thread(target=later).start()  # a new task moves the step's tag: it answers
    woken = api.client.get(api.url("j1", "steps", "big"), headers={
        **GZIP, "If-None-Match": step.headers["ETag"], "Prefer": "wait=5"})
    assert woken.status_code == 200 and woken.headers["ETag"] != step.headers["ETag"]


def test_the_event_stream_is_never_compressed(api, seeded, client):
    response = client.get("/apis/jobs/v2/workspaces/ws/events", query_string={"after": "0"},
                          headers={**GZIP, "Accept": "text/event-stream"}, buffered=False)
    assert response.mimetype == "text/event-stream"
    assert "Content-Encoding" not in response.headers
    first = next(iter(response.response))
    response.close()
    assert first.startswith(b": the stream")
