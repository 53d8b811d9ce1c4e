"""Many jobs at once: counts by status, bulk actions by filter, filters on custom fields.

Each bulk answer is checked against what the job's own endpoint answers for a twin of the
job, in a workspace of its own, rather than against a written-out expectation.
"""

import collections

import pytest

from app import store
from app.db import connect
from app.db.dialect import PostgreSQL, SQLite
from app.db.schema import JOB_FIELDS_STATUS_FILL

from .conftest import API, Api

# name -> (how it is brought to its status, custom_fields)
MIXED = {
    "created-1": ([], {"sweep": "s1", "team": "red"}),
    "active-1": ([("step", "active")], {"sweep": "s1", "team": "blue"}),
    "completed-1": ([("step", "active"), ("step", "completed")], {"sweep": "s1"}),
    "error-1": ([("step", "active"), ("step", "error")], {"sweep": "s1", "team": "red"}),
    "cancelled-1": ([("act", "cancel")], {"sweep": "s1", "team": 7}),
    "paused-1": ([("act", "pause")], {"sweep": "s1", "team": "red-2"}),
    "pausing-1": ([("step", "active"), ("act", "pause")], {"sweep": "s1", "team": "Red"}),
    "other-sweep": ([], {"sweep": "s2", "team": "red"}),
}


def make(api, name, moves, custom_fields, project="p1", source="sdk"):
    api.create_job(name, steps=("train",), custom_fields=custom_fields, project=project,
                   source=source)
    for kind, what in moves:
        if kind == "step":
            response = api.client.patch(api.url(name, "steps", "train", "status"),
                                        json={"status": what})
        else:
            response = api.client.post(api.url(name, what))
        assert response.status_code == 200, response.json


@pytest.fixture
def mixed(client):
    """The same jobs in `ws` (for bulk actions) and `twin` (for their own endpoints)."""
    apis = Api(client, "ws"), Api(client, "twin")
    for api in apis:
        for name, (moves, fields) in MIXED.items():
            make(api, name, moves, fields)
    return apis


def listing(api, query=""):
    response = api.client.get(api.url() + f"?page_size=1000&{query}")
    assert response.status_code == 200, response.json
    return response.json["data"]


def own_endpoint(api, name, action):
    """What the job's own endpoint does, as a bulk result would say it."""
    before = api.client.get(api.url(name)).json
    if action == "delete":
        response = api.client.delete(api.url(name))
    else:
        response = api.client.post(api.url(name, action))
    if response.status_code in (200, 204):
        after = response.json if action != "delete" else before
        changed = action == "delete" or after["db_version"] != before["db_version"]
        return {"name": name, "status": after["status"],
                "outcome": "done" if changed else "unchanged", "msg": None}
    assert response.status_code == 422, response.json
    return {"name": name, "status": before["status"], "outcome": "refused",
            "msg": response.json["detail"][0]["msg"]}


def bulk(api, action, query, status=200):
    response = api.client.post(api.url("-", action) + "?" + query)
    assert response.status_code == status, response.json
    return response.json


@pytest.mark.parametrize("action", ["cancel", "pause", "resume", "delete"])
def test_each_job_gets_what_its_own_endpoint_would_give(mixed, action):
    ws, twin = mixed
    answer = bulk(ws, action, "filter[custom_fields.sweep]=s1")
    names = sorted(n for n, (_, f) in MIXED.items() if f["sweep"] == "s1")
    assert answer["matched"] == len(names)
    assert sorted(r["name"] for r in answer["results"]) == names  # the oldest first: all of them
    for result in answer["results"]:
        assert result == own_endpoint(twin, result["name"], action)
    # Afterwards both workspaces hold the same jobs in the same statuses.
    statuses = [{j["name"]: j["status"] for j in listing(api)} for api in mixed]
    assert statuses[0] == statuses[1]
    assert ("other-sweep" in statuses[0]) and statuses[0]["other-sweep"] == "created"


def test_a_mixed_cancel_answers_each_outcome(mixed):
    ws, _ = mixed
    answer = bulk(ws, "cancel", "filter[custom_fields.sweep]=s1")
    results = {r["name"]: r for r in answer["results"]}
    assert {n: (r["status"], r["outcome"]) for n, r in results.items()} == {
        "created-1": ("cancelled", "done"), "active-1": ("cancelling", "done"),
        "completed-1": ("completed", "refused"), "error-1": ("error", "refused"),
        "cancelled-1": ("cancelled", "unchanged"), "paused-1": ("cancelling", "done"),
        "pausing-1": ("pausing", "refused")}
    assert "terminal" in results["completed-1"]["msg"]
    assert results["created-1"]["msg"] is None


def test_a_dry_run_answers_what_would_happen_and_changes_nothing(mixed):
    ws, twin = mixed
    before = listing(ws)
    dry = bulk(ws, "cancel", "filter[custom_fields.sweep]=s1&dry_run=true")
    assert listing(ws) == before
    assert bulk(twin, "cancel", "filter[custom_fields.sweep]=s1") == dry
    dry_delete = bulk(ws, "delete", "filter[status]=cancelled&dry_run=1")
    assert [r["outcome"] for r in dry_delete["results"]] == ["done"]
    assert listing(ws) == before


def test_limit_takes_the_oldest_and_matched_counts_them_all(mixed):
    ws, _ = mixed
    answer = bulk(ws, "cancel", "filter[custom_fields.sweep]=s1&limit=2")
    assert answer["matched"] == 7
    assert [r["name"] for r in answer["results"]] == ["created-1", "active-1"]
    assert {j["name"]: j["status"] for j in listing(ws)}["completed-1"] == "completed"


def test_a_job_created_during_the_action_is_untouched_unless_it_matched(
        client, db_target, monkeypatch):
    api = Api(client)
    for name in ("first", "second"):
        api.create_job(name, custom_fields={"sweep": "s1"})
    taken = store.bulk.matching_names

    def meanwhile(db, *args):
        """Right after the names are taken, another client creates a matching job and
        deletes one that matched."""
        found = taken(db, *args)
        other = connect(db_target)
        try:
            store.create_job(other, "ws", {"name": "late", "project": None, "description": None,
                                           "source": None, "spec": {}, "platform_spec": {
                                               "steps": [{"name": "train"}]},
                                           "ownership": {}, "custom_fields": {"sweep": "s1"}},
                             None)
            store.delete_job(other, "ws", "second")
        finally:
            other.close()
        return found

    monkeypatch.setattr(store.bulk, "matching_names", meanwhile)
    answer = bulk(api, "cancel", "filter[custom_fields.sweep]=s1")
    assert answer["matched"] == 2
    assert [(r["name"], r["status"], r["outcome"]) for r in answer["results"]] == [
        ("first", "cancelled", "done"), ("second", None, "refused")]
    assert "not found" in answer["results"][1]["msg"]
    assert api.client.get(api.url("late")).json["status"] == "created"
    monkeypatch.undo()
    again = bulk(api, "cancel", "filter[custom_fields.sweep]=s1")
    assert [(r["name"], r["outcome"]) for r in again["results"]] == [
        ("first", "unchanged"), ("late", "done")]


FILTERS = [
    "", "filter[status]=created", "filter[status]=created,cancelled,paused",
    "filter[project]=p2", "filter[source]=cli&filter[project]=p1",
    "filter[name][$like]=%25-1", "filter[name][$in]=created-1,active-1",
    "filter[name][$nin]=created-1", "filter[custom_fields.sweep]=s1",
    "filter[custom_fields.team]=red", "filter[custom_fields.team][$in]=red,blue",
    "filter[custom_fields.team][$like]=red%25", "filter[custom_fields.team][$like]=Red",
    "filter[custom_fields.team]=7", "filter[custom_fields.team]=red&filter[status]=error",
    "filter[custom_fields.sweep]=s1&filter[status]=created,error,paused",
    "filter[custom_fields.sweep]=s1&filter[custom_fields.team]=red",
    "filter[custom_fields.nothing]=x", "filter[created_at][$gte]=2000-01-01T00:00:00Z",
    "filter[workspace]=ws", "filter[workspace]=twin",
]


def test_counts_equal_the_full_listings_tally_under_every_filter(client):
    api = Api(client)
    for name, (moves, fields) in MIXED.items():
        make(api, name, moves, fields, project="p2" if "1" in name else "p1",
             source="cli" if "a" in name else "sdk")
    Api(client, "twin").create_job("created-1", custom_fields={"sweep": "s1", "team": "red"})
    # A rerun moves the job back to created: the counts of its labels follow it.
    assert client.post(api.url("error-1", "rerun")).status_code == 200
    for query in FILTERS:  # one seeding for all: each filter only reads
        response = client.get(api.url("-", "counts") + "?" + query)
        assert response.status_code == 200, (query, response.json)
        tally = collections.Counter(job["status"] for job in listing(api, query))
        assert response.json == {"total": sum(tally.values()), "by_status": dict(tally)}, query
        assert all(response.json["by_status"].values())  # only statuses some job has
        assert list(response.json["by_status"]) == sorted(tally), query


def test_custom_field_filters_keep_exactly_the_string_values(client):
    api = Api(client)
    for name, (moves, fields) in MIXED.items():
        make(api, name, moves, fields)
    api.create_job("long-value", custom_fields={"team": "r" * 256, "nested": {"team": "red"}})
    names = lambda q: sorted(j["name"] for j in listing(api, q))  # noqa: E731
    assert names("filter[custom_fields.team]=red") == ["created-1", "error-1", "other-sweep"]
    assert names("filter[custom_fields.team]=7") == []  # a number is no string
    assert names("filter[custom_fields.team][$like]=r%25") == [
        "created-1", "error-1", "other-sweep", "paused-1"]  # case counts; 256 chars never match
    assert names("filter[custom_fields.nested]=red") == []
    response = client.get(api.url() + "?filter[custom_fields.team][$in]=red,blue"
                          "&filter[custom_fields.sweep]=s1")
    assert response.json["filter"] == {"custom_fields.team": {"$in": ["red", "blue"]},
                                       "custom_fields.sweep": "s1"}


def test_isolation_another_workspaces_jobs_are_never_counted_or_touched(mixed, client):
    ws, twin = mixed
    before = listing(twin)
    bulk(ws, "delete", "filter[custom_fields.sweep]=s1")
    assert listing(twin) == before
    assert client.get(ws.url("-", "counts")).json == {"total": 1, "by_status": {"created": 1}}
    assert client.get(Api(client, "empty").url("-", "counts")).json == {
        "total": 0, "by_status": {}}


@pytest.mark.parametrize("path,query,loc", [
    ("-/cancel", "", ["query"]),
    ("-/delete", "limit=5&dry_run=false", ["query"]),
    ("-/delete", "filter[workspace]=ws", ["query"]),
    ("-/cancel", "filter[status]=created&limit=0", ["query", "limit"]),
    ("-/cancel", "filter[status]=created&limit=1001", ["query", "limit"]),
    ("-/cancel", "filter[status]=created&limit=x", ["query", "limit"]),
    ("-/pause", "filter[status]=created&dry_run=perhaps", ["query", "dry_run"]),
    ("-/cancel", "filter[custom_fields.Team]=red", ["query", "filter[custom_fields.Team]"]),
    ("-/cancel", "filter[custom_fields.]=red", ["query", "filter[custom_fields.]"]),
    ("-/cancel", "filter[custom_fields.a%20b]=red", ["query", "filter[custom_fields.a b]"]),
    ("-/cancel", "filter[custom_fields.team][$nin]=red",
     ["query", "filter[custom_fields.team][$nin]"]),
    ("-/cancel", "filter[custom_fields.team]=" + "r" * 256,
     ["query", "filter[custom_fields.team]"]),
    ("-/cancel", "filter[custom_fields.team][$like]=r\\",
     ["query", "filter[custom_fields.team][$like]"]),
    ("-/cancel", "filter[colour]=red", ["query", "filter[colour]"]),
    ("-/rerun", "filter[status]=created", ["path", "name"]),
])
def test_bad_inputs_are_422_and_change_nothing(client, path, query, loc):
    ws = Api(client)
    for name in ("created-1", "active-1"):
        make(ws, name, *MIXED[name])
    before = listing(ws)
    response = ws.client.post(ws.url(path) + "?" + query)
    assert response.status_code == 422 and response.mimetype == "application/json"
    assert response.json["detail"][0]["loc"] == loc, response.json
    assert listing(ws) == before
    if "custom_fields" in query or "colour" in query:  # the list and counts refuse them too
        for url in (ws.url(), ws.url("-", "counts")):
            assert ws.client.get(url + "?" + query).json["detail"][0]["loc"] == loc


def test_dash_is_never_a_jobs_name(client):
    api = Api(client)
    assert client.get(api.url("-")).status_code == 422
    assert client.post(api.url(), json={"name": "-", "platform_spec": {"steps": [
        {"name": "train", "executor": {"provider": "cpu"}}]}}).status_code == 422
    assert client.get(api.url("-", "counts")).status_code == 200


def test_counts_answer_304_while_nothing_changed(client):
    api = Api(client)
    api.create_job("one")
    first = client.get(api.url("-", "counts"))
    again = client.get(api.url("-", "counts"), headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    api.create_job("two")
    assert client.get(api.url("-", "counts"), headers={
        "If-None-Match": first.headers["ETag"]}).json["total"] == 2


def test_the_stored_custom_fields_are_indexed_by_the_migration(client, db_target, query):
    """Jobs stored before the index existed are found once the migration's backfill ran."""
    api = Api(client)
    for name, (moves, fields) in MIXED.items():
        make(api, name, moves, fields)
    indexed = sorted(query("SELECT job_seq, key, value, status FROM job_fields"))
    query("DELETE FROM job_fields")
    assert listing(api, "filter[custom_fields.sweep]=s1") == []
    dialect = PostgreSQL if db_target.startswith("postgresql") else SQLite
    query(dialect.job_fields_backfill)
    query(JOB_FIELDS_STATUS_FILL)
    assert sorted(query("SELECT job_seq, key, value, status FROM job_fields")) == indexed
    assert len(listing(api, "filter[custom_fields.sweep]=s1")) == 7
    api.client.delete(api.url("created-1"))  # a deleted job takes its rows along
    assert len(query("SELECT 1 FROM job_fields")) == len(indexed) - 2


class Recording:
    """A connection that keeps the statements the store runs on it."""

    def __init__(self, db):
        self.db, self.dialect, self.seen = db, db.dialect, []

    def execute(self, sql, params=()):
        self.seen.append((sql, params))
        return self.db.execute(sql, params)


@pytest.mark.parametrize("filters,index", [
    ({}, "COVERING INDEX idx_jobs_workspace_status (workspace=? AND status=?)"),
    ({"status": ["error", "active"]}, "COVERING INDEX idx_jobs_workspace_status"),
    ({"custom_fields": [("team", "eq", "red")]}, "COVERING INDEX idx_job_fields_counts"),
    ({"custom_fields": [("team", "like", "r%")]}, "COVERING INDEX idx_job_fields_counts"),
    ({"custom_fields": [("team", "in", ["a", "b"])], "status": ["error"]},
     "COVERING INDEX idx_job_fields_counts"),
    ({"custom_fields": [("team", "eq", "red")], "project": "p"},
     "COVERING INDEX idx_job_fields_lookup"),
])
def test_sqlite_counts_read_indexes_only(migrated_sqlite, filters, index):
    """(PostgreSQL plans by its statistics: bench/many_jobs.py prints its plans at scale.)"""
    db = connect(str(migrated_sqlite))
    try:
        recording = Recording(db)
        store.count_jobs(recording, "ws", filters)
        [(sql, params)] = recording.seen
        plan = [r[-1] for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()]
        assert any(index in step for step in plan), plan
        assert not any(step.startswith("SCAN") and step != "SCAN CONSTANT ROW"
                       for step in plan), plan  # no table or index read whole
    finally:
        db.close()


def test_the_document_has_the_new_operations(client):
    paths = client.get("/openapi.json").json["paths"]
    base = API + "/{workspace}/jobs/-/"
    assert set(paths[base + "counts"]) == {"get"}
    for action in ("cancel", "pause", "resume", "delete"):
        operation = paths[base + action]["post"]
        names = {p["name"] for p in operation["parameters"]}
        assert {"limit", "dry_run", "filter[status]"} <= names
        assert "custom_fields" in operation["description"]
