"""Idempotency-Key on every POST: the same key and request get the first answer again, on
both backends; another request under the key is a 422; principals and workspaces each have
their own keys; an answer older than 24 hours no longer holds its key."""

import contextlib
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from app import create_app
from app.idempotency import PURGE_BATCH
from schemas.fields import utc_text

from .conftest import API, Api, platform_spec
from .test_auth import FILE, HEADERS, METHODS

JOB = {"name": "j1", "platform_spec": platform_spec("train")}


def key(value: str, **headers) -> dict:
    return {"Idempotency-Key": value, **headers}


def count(query, table: str) -> int:
    return query(f"SELECT COUNT(*) FROM {table}")[0][0]


def test_a_retried_create_gets_the_first_answer_and_makes_one_job(api, client, query):
    first = client.post(api.url(), json=JOB, headers=key("create-1"))
    again = client.post(api.url(), json=JOB, headers=key("create-1"))
    assert first.status_code == again.status_code == 201
    assert again.data == first.data  # byte for byte: same id, attempt and timestamps
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert count(query, "jobs") == 1 and count(query, "steps") == 1
    assert count(query, "history") == 2  # the job's and its step's creation, once each


def test_a_retried_action_is_done_once(api, client, query):
    api.create_job("j1", steps=("train",))
    api.put_task("j1", "train", "t0", {"status": "active"})
    history = count(query, "history")
    first = client.post(api.url("j1", "pause"), headers=key("pause-1"))
    assert first.status_code == 200 and first.json["status"] == "paused", first.json
    moved = count(query, "history")
    assert moved > history
    again = client.post(api.url("j1", "pause"), headers=key("pause-1"))
    assert (again.status_code, again.data, again.headers["ETag"]) == (
        200, first.data, first.headers["ETag"])
    assert count(query, "history") == moved
    assert client.get(api.url("j1")).headers["ETag"] == first.headers["ETag"]


def test_a_retried_log_append_stores_its_lines_once(api, client, query):
    api.create_job("j1", steps=("train",))
    body = {"data": [{"job_step": "train", "job_task": "t0", "message": f"line {i}"}
                     for i in range(3)]}
    answers = [client.post(api.url("j1", "logs"), json=body, headers=key("logs-1"))
               for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert [a.json for a in answers] == [{"accepted": 3}] * 3
    assert count(query, "logs") == 3


def test_the_same_key_with_another_request_is_a_422_and_writes_nothing(api, client, query):
    client.post(api.url(), json=JOB, headers=key("k"))
    other = {**JOB, "name": "j2"}
    for url, body, extra in [(api.url(), other, {}),                        # another body
                             (api.url() + "?x=1", JOB, {}),                 # another query
                             (api.url("j1", "cancel"), None, {}),           # another path
                             (api.url(), JOB, {"If-Match": '"1"'})]:        # another If-Match
        response = client.post(url, json=body, headers=key("k", **extra))
        assert response.status_code == 422, response.json
        [entry] = response.json["detail"]
        assert entry["type"] == "idempotency_key_reused"
        assert entry["loc"] == ["header", "Idempotency-Key"]
    assert query("SELECT name, status FROM jobs") == [("j1", "created")]
    assert count(query, "idempotency_keys") == 1


def test_a_refusal_is_replayed_too(api, client, query):
    api.create_job("j1")
    refused = client.post(api.url(), json=JOB, headers=key("taken"))
    assert refused.status_code == 409 and refused.headers["x-should-retry"] == "false"
    assert client.delete(api.url("j1")).status_code == 204
    # The name is free now, but the key's answer was "taken": a retry is told the same.
    again = client.post(api.url(), json=JOB, headers=key("taken"))
    assert (again.status_code, again.data) == (409, refused.data)
    assert again.headers["x-should-retry"] == "false"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(query, "jobs") == 0


def test_without_a_key_nothing_changes(api, client, query):
    first = client.post(api.url(), json=JOB)
    second = client.post(api.url(), json=JOB)
    assert (first.status_code, second.status_code) == (201, 409)
    assert second.headers["x-should-retry"] == "false"
    assert not any("Idempotent-Replayed" in a.headers for a in (first, second))
    assert count(query, "idempotency_keys") == 0


def test_keys_are_per_workspace(client, query):
    answers = [client.post(f"{API}/{ws}/jobs", json=JOB, headers=key("shared"))
               for ws in ("ws-a", "ws-b")]
    assert [a.status_code for a in answers] == [201, 201]
    assert not any("Idempotent-Replayed" in a.headers for a in answers)
    assert answers[0].json["id"] != answers[1].json["id"]
    assert count(query, "jobs") == 2


@pytest.mark.parametrize("bad", ["", "x" * 256, "caf\u00e9", "tab\there"])
def test_a_malformed_key_is_a_422_naming_the_header(api, client, query, bad):
    response = client.post(api.url(), json=JOB, headers=key(bad))
    assert response.status_code == 422, response.json
    assert response.json["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert count(query, "jobs") == 0 and count(query, "idempotency_keys") == 0
    longest = client.post(api.url(), json=JOB, headers=key("~" * 255))
    assert longest.status_code == 201


def plant(query, scope: tuple, age: timedelta, fingerprint="0" * 64) -> None:
    at = utc_text(datetime.now(timezone.utc) - age)
    query("INSERT INTO idempotency_keys (workspace, principal, idem_key, fingerprint, "
          "created_at, status, headers, body) VALUES (?, ?, ?, ?, ?, 409, '{}', '{}')",
          (*scope, fingerprint, at))


def test_an_expired_answer_no_longer_holds_its_key(api, client, query):
    plant(query, ("ws", "", "old"), timedelta(hours=24, minutes=1))
    plant(query, ("ws", "", "young"), timedelta(hours=23, minutes=59))
    fresh = client.post(api.url(), json=JOB, headers=key("old"))
    assert fresh.status_code == 201 and "Idempotent-Replayed" not in fresh.headers
    held = client.post(api.url(), json={**JOB, "name": "j2"}, headers=key("young"))
    assert held.status_code == 422  # the planted answer is another request's, still live
    assert sorted(r[0] for r in query("SELECT idem_key FROM idempotency_keys")) == [
        "old", "young"]


def test_expired_answers_are_deleted_a_bounded_batch_at_a_time(api, client, query):
    for i in range(PURGE_BATCH + 20):
        plant(query, ("ws", "", f"stale-{i}"), timedelta(days=2))
    client.post(api.url(), json=JOB, headers=key("k1"))
    assert count(query, "idempotency_keys") == 20 + 1
    client.post(api.url(), json={**JOB, "name": "j2"}, headers=key("k2"))
    assert count(query, "idempotency_keys") == 2


@pytest.fixture
def secured(tmp_path, db_target):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(FILE))
    app = create_app({"JOBS_DB": db_target, "JOBS_AUTH_TOKENS": str(tokens),
                      "JOBS_ARTIFACTS_DIR": str(tmp_path / "artifacts")})
    yield app.test_client()
    app.extensions["jobs_db"].close()


def test_keys_are_per_principal(secured, query):
    url = f"{API}/team-a/jobs"
    bob = secured.post(url, json=JOB, headers=key("same", **HEADERS["writer-a"]))
    # Another principal's identical request is its own: it is not handed bob's answer.
    dan = secured.post(url, json=JOB, headers=key("same", **HEADERS["writer-all"]))
    assert (bob.status_code, dan.status_code) == (201, 409)
    assert "Idempotent-Replayed" not in dan.headers
    again = secured.post(url, json=JOB, headers=key("same", **HEADERS["writer-a"]))
    assert (again.status_code, again.data) == (201, bob.data)
    assert sorted(query("SELECT principal FROM idempotency_keys")) == [("bob",), ("dan",)]
    # A refused request never reaches the key: a reader's 403 is neither recorded nor replayed.
    refused = secured.post(url, json=JOB, headers=key("other", **HEADERS["reader-a"]))
    assert refused.status_code == 403
    assert count(query, "idempotency_keys") == 2


@pytest.mark.parametrize("name", [n for n, m in METHODS.items() if m[0] == "POST"])
def test_every_post_replays(secured, query, name):
    _, path, body, ok = METHODS[name]
    admin = HEADERS["writer-all"]
    base = f"{API}/team-a"
    secured.post(f"{base}/jobs", headers=admin, json={"name": "j1",
                                                       "platform_spec": platform_spec("s1")})
    body = body("team-a") if callable(body) else body
    first = secured.post(base + path, json=body, headers=key("every", **admin))
    again = secured.post(base + path, json=body, headers=key("every", **admin))
    assert first.status_code == ok, first.json
    assert (again.status_code, again.data) == (ok, first.data)
    assert again.headers["Idempotent-Replayed"] == "true"


def test_the_openapi_document_offers_the_header_on_every_post(client):
    paths = client.get("/openapi.json").json["paths"]
    posts = [op for ops in paths.values() for method, op in ops.items() if method == "post"]
    assert len(posts) >= 6
    for op in posts:
        assert "Idempotency-Key" in [p["name"] for p in op["parameters"]], op["summary"]


@pytest.fixture
def impatient(db_target):
    app = create_app({"JOBS_DB": db_target, "TESTING": True, "JOBS_DB_TIMEOUT_MS": 300})
    yield app.test_client()
    app.extensions["jobs_db"].close()


@contextlib.contextmanager
def another_writer(db_target: str):
    """Another program holding the job's row (PostgreSQL) or the write lock (SQLite)."""
    if db_target.startswith("postgresql://"):
        with psycopg.connect(db_target) as other:
            other.execute("SELECT 1 FROM jobs WHERE name = 'j1' FOR UPDATE")
            yield
    else:
        other = sqlite3.connect(db_target, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()


def test_a_503_is_not_recorded_so_the_retry_does_the_work(impatient, db_target, query):
    api = Api(impatient)
    api.create_job("j1")
    with another_writer(db_target):
        busy = impatient.post(api.url("j1", "cancel"), headers=key("cancel-1"))
    assert busy.status_code == 503 and "Retry-After" in busy.headers, busy.json
    assert count(query, "idempotency_keys") == 0
    done = impatient.post(api.url("j1", "cancel"), headers=key("cancel-1"))
    assert done.status_code == 200 and done.json["status"] == "cancelled", done.json
    assert "Idempotent-Replayed" not in done.headers
    assert query("SELECT status FROM idempotency_keys") == [(200,)]


def accepted_moves(client) -> float:
    text = client.get("/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("jobs_transitions_total{") and 'outcome="accepted"' in line)


def test_a_keyed_write_announces_its_moves_once_it_commits_and_a_replay_none(api, client):
    api.create_job("j1", steps=("train",))
    api.put_task("j1", "train", "t0", {"status": "active"})
    before = accepted_moves(client)
    assert client.post(api.url("j1", "pause"), headers=key("p")).status_code == 200
    after = accepted_moves(client)
    assert after - before == 2  # the step's move and the job's, announced at the commit
    client.post(api.url("j1", "pause"), headers=key("p"))
    assert accepted_moves(client) == after
