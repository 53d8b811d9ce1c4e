"""The change feed (docs/api.md, "Watching for changes"), on both backends, in process."""

import hashlib
import json
import threading
import time

import pytest

from app import create_app
from app.db import connect, transaction
from app import store

from .conftest import API, Api, platform_spec


def feed(client, workspace="ws", **query):
    response = client.get(f"{API}/{workspace}/events", query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def everything(client, workspace="ws", **query):
    """Every event from the oldest kept, page by page with after=next."""
    got, after = [], "0"
    while True:
        page = feed(client, workspace, after=after, limit=3, **query)
        got += page["data"]
        if not page["data"]:
            return got, page["next"]
        after = page["next"]


def summary(events):
    return [(e["kind"], e["type"], e["step"], e["task"], e["from"], e["to"]) for e in events]


def test_each_accepted_write_appends_its_events_in_order(client, api):
    api.create_job("job-1", steps=("s-a", "s-b"))
    assert api.put_task("job-1", "s-a", "task-1", {"status": "active"}).status_code == 200
    assert api.put_task("job-1", "s-a", "task-1", {"status_details": {"p": 1}}).status_code == 200
    assert client.post(api.url("job-1", "cancel")).status_code == 200
    assert client.delete(api.url("job-1")).status_code == 204
    events, _ = everything(client)
    assert summary(events) == [
        ("job", "created", None, None, None, "created"),
        ("step", "created", "s-a", None, None, "created"),
        ("step", "created", "s-b", None, None, "created"),
        ("task", "created", "s-a", "task-1", None, "active"),
        # Its status_details merge into the job's too, but a write appends one event for
        # what it wrote to; a roll-up that moves a step or the job appends theirs.
        ("task", "updated", "s-a", "task-1", "active", "active"),
        ("step", "updated", "s-a", None, "created", "cancelled"),
        ("step", "updated", "s-b", None, "created", "cancelled"),
        ("job", "updated", None, None, "created", "cancelled"),
        ("job", "deleted", None, None, "cancelled", None),
    ]
    # object: the entity as its GET answered it after that write; absent on delete.
    assert events[4]["object"]["status_details"] == {"p": 1}
    assert events[7]["object"]["status"] == "cancelled" and "object" not in events[8]
    assert {e["workspace"] for e in events} == {"ws"} and {e["job"] for e in events} == {"job-1"}
    assert all(e["at"].endswith("Z") and len(e["at"]) == 27 for e in events)
    assert len({e["id"] for e in events}) == len(events)


def test_refused_writes_append_nothing(client, api):
    api.create_job("job-1")
    before, cursor = everything(client)
    assert api.put_task("job-1", "train", "task-1", {"status": "completed"}).status_code == 200
    assert api.put_task("job-1", "train", "task-1", {"status": "active"}).status_code in (409, 422)
    assert client.post(api.url("job-1", "rerun")).status_code in (409, 422)
    assert client.post(api.url(), json={"name": "job-1", "platform_spec": {"steps": []}}
                       ).status_code in (409, 422)
    assert client.delete(api.url("job-1"), headers={"If-Match": '"99"'}).status_code == 412
    after = feed(client, after=cursor)["data"]
    assert summary(after) == [("task", "created", "train", "task-1", None, "completed")]


def test_filters_by_job_and_kind_and_the_job_feed(client, api):
    api.create_job("job-1")
    api.create_job("job-2")
    api.put_task("job-2", "train", "task-2", {"status": "active"})
    assert {e["job"] for e in feed(client, after="0", job="job-2")["data"]} == {"job-2"}
    assert [e["kind"] for e in feed(client, after="0", kind="job")["data"]] == ["job", "job"]
    assert {e["kind"] for e in feed(client, after="0", kind="step,task")["data"]} == {
        "step", "task"}
    only = client.get(api.url("job-2", "events"), query_string={"after": "0"}).json["data"]
    assert [e["kind"] for e in only] == ["job", "step", "task"]


def test_absent_after_means_from_now(client, api):
    api.create_job("job-1")
    page = feed(client)
    assert page["data"] == []
    api.create_job("job-2")
    assert [e["job"] for e in feed(client, after=page["next"])["data"]] == ["job-2", "job-2"]


@pytest.mark.parametrize("after", ["garbage", "MQ.AAAAAAAAAAAAAAAA", "Mg", "x" * 300])
def test_a_cursor_not_ours_is_422(client, after):
    response = client.get(f"{API}/ws/events", query_string={"after": after})
    assert response.status_code == 422
    assert response.json["detail"][0]["loc"] == ["query", "after"]
    if len(after) < 256:
        assert response.json["detail"][0]["type"] == "invalid_cursor"


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 1001}, {"wait": 61}, {"kind": "x"},
                                   {"job": ",".join(f"j{i}" for i in range(101))}])
def test_bad_query_is_422(client, query):
    assert client.get(f"{API}/ws/events", query_string=query).status_code == 422


def test_an_expired_cursor_is_410(client, api, app):
    api.create_job("job-1")
    old = feed(client, after="0")["data"][0]["id"]
    api.create_job("job-2")
    assert len(feed(client, after=old)["data"]) == 3  # read: on PostgreSQL, now numbered
    db = connect(app.config["JOBS_DB"])
    try:
        assert store.events.prune(db, "9999-01-01T00:00:00.000000Z") == 4
    finally:
        db.close()
    response = client.get(f"{API}/ws/events", query_string={"after": old})
    assert response.status_code == 410
    assert response.json["detail"][0]["type"] == "cursor_expired"
    assert response.json["detail"][0]["loc"] == ["query", "after"]
    assert feed(client, after="0")["data"] == []  # `0`: from the oldest kept, so no 410


def test_long_poll_answers_when_an_event_arrives(client, api, app):
    api.create_job("job-1")
    cursor = feed(client)["next"]

    def later():
        time.sleep(0.4)
        answer = Api(app.test_client()).put_task("job-1", "train", "task-1", {"status": "active"})
        assert answer.status_code == 200, answer.json

    threading.Thread(target=later).start()
    started = time.monotonic()
    page = feed(client, after=cursor, wait=10)
    assert 0.3 < time.monotonic() - started < 5
    assert summary(page["data"]) == [("task", "created", "train", "task-1", None, "active")]
    started = time.monotonic()
    assert feed(client, after=page["next"], wait=1)["data"] == []
    assert time.monotonic() - started >= 0.9


def test_another_workspaces_events_never_wake_or_reach_a_watcher(client, api, app):
    cursor = feed(client)["next"]
    Api(client, "other").create_job("job-1")
    started = time.monotonic()
    assert feed(client, after=cursor, wait=1)["data"] == []
    assert time.monotonic() - started >= 0.9


def test_events_cursor_of_a_read_yields_exactly_the_later_changes(client, api):
    api.create_job("job-1")
    api.put_task("job-1", "train", "task-1", {"status": "active"})
    for url in (api.url("job-1", "status"), api.url(), api.url("job-1", "steps", "train", "tasks")):
        response = client.get(url)
        assert response.status_code == 200 and response.headers["Events-Cursor"]
        api.put_task("job-1", "train", "task-1", {"status_details": {"n": url}})
        later = feed(client, after=response.headers["Events-Cursor"])["data"]
        assert [(e["kind"], e["object"]["status_details"]) for e in later] == [
            ("task", {"n": url})]
        assert feed(client, after=later[-1]["id"])["data"] == []


def test_prefer_wait_answers_when_the_entity_changes(client, api, app):
    job = api.create_job("job-1")
    url = api.url("job-1")
    headers = {"If-None-Match": f'"{job["db_version"]}"', "Prefer": "wait=1"}
    started = time.monotonic()
    unchanged = client.get(url, headers=headers)
    assert unchanged.status_code == 304 and time.monotonic() - started >= 0.9
    assert unchanged.headers["Preference-Applied"] == "wait=1"

    def later():
        time.sleep(0.3)
        app.test_client().patch(api.url("job-1", "status-details"), json={"x": 1})

    threading.Thread(target=later).start()
    changed = client.get(url, headers={**headers, "Prefer": "wait=10"})
    assert changed.status_code == 200 and changed.json["status_details"] == {"x": 1}
    assert changed.headers["Preference-Applied"] == "wait=10"
    # Without Prefer, If-None-Match on the job answers as before, at once.
    assert client.get(url, headers={"If-None-Match": '"1"'}).status_code == 200
    tree = client.get(api.url("job-1", "status"))
    assert client.get(api.url("job-1", "status"), headers={
        "If-None-Match": tree.headers["ETag"], "Prefer": "wait=1"}).status_code == 304


def test_a_stream_sends_events_with_ids_and_resumes_from_last_event_id(client, api, app):
    api.create_job("job-1")
    response = client.get(f"{API}/ws/events", query_string={"after": "0"},
                          headers={"Accept": "text/event-stream"}, buffered=False)
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    text = ""
    while text.count("\n\n") < 3:  # the opening comment, then two events
        text += next(chunks).decode()
    response.close()
    frames = [f for f in text.split("\n\n") if f.startswith("id:")]
    first = dict(line.split(": ", 1) for line in frames[0].splitlines())
    assert first["event"] == "job" and json.loads(first["data"])["id"] == first["id"]
    resumed = client.get(f"{API}/ws/events", headers={"Accept": "text/event-stream",
                                                      "Last-Event-ID": first["id"]},
                         buffered=False)
    text = ""
    chunks = iter(resumed.response)
    while text.count("\n\n") < 2:
        text += next(chunks).decode()
    resumed.close()
    second = dict(line.split(": ", 1) for line in text.split("\n\n")[1].splitlines())
    assert second["event"] == "step"


TOKENS = {"reader-a": "tok-reader-a", "writer-b": "tok-writer-b"}


@pytest.fixture
def secured(tmp_path, migrated_sqlite):
    import shutil
    shutil.copyfile(migrated_sqlite, tmp_path / "a.db")
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [
        {"principal": "ann", "sha256": hashlib.sha256(b"tok-reader-a").hexdigest(),
         "workspaces": ["team-a"], "role": "reader"},
        {"principal": "bob", "sha256": hashlib.sha256(b"tok-writer-b").hexdigest(),
         "workspaces": ["team-b"], "role": "writer"}]}))
    app = create_app({"JOBS_DB": str(tmp_path / "a.db"), "JOBS_AUTH_TOKENS": str(tokens),
                      "TESTING": True})
    yield app.test_client()
    app.extensions["jobs_db"].close()


def test_watching_needs_read_access_to_that_workspace(secured):
    reader = {"Authorization": "Bearer tok-reader-a"}
    writer = {"Authorization": "Bearer tok-writer-b"}
    assert secured.post(f"{API}/team-b/jobs", headers=writer, json={
        "name": "job-1", "platform_spec": platform_spec("s-a")}).status_code == 201
    assert secured.get(f"{API}/team-a/events?after=0").status_code == 401
    assert secured.get(f"{API}/team-b/events?after=0", headers=reader).status_code == 403
    assert secured.get(f"{API}/team-b/jobs/j1/events?after=0", headers=reader).status_code == 403
    own = secured.get(f"{API}/team-a/events?after=0&job=j1", headers=reader)
    assert own.status_code == 200 and own.json["data"] == []
    assert len(secured.get(f"{API}/team-b/events?after=0", headers=writer).json["data"]) == 2


@pytest.fixture
def pg_app(postgres_url):
    """An app of its own on the suite's emptied PostgreSQL database."""
    from .pg import empty_tables
    empty_tables(postgres_url)
    app = create_app({"JOBS_DB": postgres_url, "TESTING": True})
    yield app
    app.extensions["jobs_db"].close()


def test_a_reader_never_passes_an_event_whose_transaction_commits_later(pg_app, postgres_url):
    """On PostgreSQL `seq` is taken at insert: a slow transaction holds a smaller one than a
    write that begins after it and commits first. A reader must not pass the slow one: it
    waits at it, and then gets both events exactly once."""
    client, api = pg_app.test_client(), Api(pg_app.test_client())
    api.create_job("job-a")
    api.create_job("job-b")
    cursor = feed(client)["next"]
    slow = connect(postgres_url)
    try:
        with transaction(slow, job=("ws", "job-a")):  # held open across a later commit
            store.put_task(slow, "ws", "job-a", "train", "slow", {"status": "active"})
            assert api.put_task("job-b", "train", "fast", {"status": "active"}
                                ).status_code == 200
            held = feed(client, after=cursor)
            assert held["data"] == [] and held["next"] == cursor
            started = time.monotonic()
            waited = feed(client, after=cursor, wait=1)
            assert waited["data"] == [] and time.monotonic() - started >= 0.9
    finally:
        slow.close()
    reader = connect(postgres_url)
    seqs = dict(reader.execute("SELECT task, seq FROM events WHERE kind = 'task'").fetchall())
    reader.close()
    assert seqs["slow"] < seqs["fast"]  # insertion order is not commit order
    page = feed(client, after=cursor)
    assert sorted(e["task"] for e in page["data"]) == ["fast", "slow"]
    assert feed(client, after=page["next"])["data"] == []
    assert [e["task"] for e in everything(client, kind="task")[0]] == [
        e["task"] for e in page["data"]]


def test_a_reads_events_cursor_skips_what_it_showed_while_a_transaction_was_open(pg_app,
                                                                                   postgres_url):
    """A write that commits while an older transaction is still open is shown by a read;
    the read's Events-Cursor must not give it again, and must give the older one."""
    client, api = pg_app.test_client(), Api(pg_app.test_client())
    api.create_job("job-a")
    api.create_job("job-b")
    slow = connect(postgres_url)
    try:
        with transaction(slow, job=("ws", "job-a")):
            store.put_task(slow, "ws", "job-a", "train", "slow", {"status": "active"})
            api.put_task("job-b", "train", "fast", {"status": "active"})
            listing = client.get(api.url("job-b", "steps", "train", "tasks"))
            assert [t["name"] for t in listing.json["data"]] == ["fast"]
            cursor = listing.headers["Events-Cursor"]
    finally:
        slow.close()
    api.put_task("job-b", "train", "fast", {"status": "completed"})
    later = [(e["job"], e["task"], e["to"]) for e in feed(client, after=cursor)["data"]]
    # Not ("job-b", "fast", "active"): the listing showed it. Two jobs' events come in
    # transaction-id order, which here is the slow one first.
    assert later == [("job-a", "slow", "active"), ("job-b", "fast", "completed")]


def test_a_tag_read_while_an_older_transaction_is_open_moves_when_it_commits(pg_app,
                                                                             postgres_url):
    """The tree's tag is the job's newest event (app/store/events.py `job_mark`). A
    transaction open before that event may still commit one below it: the tag read meanwhile
    must not answer 304 once it has."""
    client, api = pg_app.test_client(), Api(pg_app.test_client())
    api.create_job("job-a")
    api.create_job("job-b")
    url = api.url("job-a", "status")
    slow = connect(postgres_url)
    try:
        with transaction(slow, job=("ws", "job-b")):  # its transaction id comes first
            store.put_task(slow, "ws", "job-b", "train", "first", {"status": "active"})
            api.put_task("job-a", "train", "fast", {"status": "active"})
            tag = client.get(url).headers["ETag"]
            assert client.get(url, headers={"If-None-Match": tag}).status_code == 304
            store.put_task(slow, "ws", "job-a", "train", "slow", {"status": "active"})
    finally:
        slow.close()
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 200
    assert sorted(t["name"] for t in again.json["steps"][0]["tasks"]) == ["fast", "slow"]
    reader = connect(postgres_url)
    (slow_txid, fast_txid), = reader.execute(
        "SELECT min(txid) FILTER (WHERE task = 'slow'), min(txid) FILTER (WHERE task = 'fast') "
        "FROM events WHERE job = 'job-a'").fetchall()
    reader.close()
    assert slow_txid < fast_txid  # below the newest event the tag was read at
    settled = client.get(url).headers["ETag"]
    assert client.get(url, headers={"If-None-Match": settled}).status_code == 304
