"""PostgreSQL's storage faults get the same answers as SQLite's: a lock held past the
timeout and a read-only database (as on a standby) are 503s that write nothing."""

import sqlite3

import psycopg
import pytest

from app import create_app
from app.db import migrate
from app.faults import StorageFault, classify

from .conftest import Api


@pytest.fixture
def pg_app(postgres, request):
    url = postgres.create_database("faults_" + request.node.name[-20:].strip("_").lower())
    migrate(url)
    app = create_app({"JOBS_DB": url, "TESTING": True, "JOBS_DB_TIMEOUT_MS": 500})
    yield app, url
    app.extensions["jobs_db"].close()


def test_a_row_lock_held_past_the_timeout_is_a_503(pg_app):
    app, url = pg_app
    api = Api(app.test_client())
    api.create_job("j1")
    with psycopg.connect(url) as other:  # another program holds the job's row
        other.execute("SELECT 1 FROM jobs WHERE name = 'j1' FOR UPDATE")
        # A report whose status_details merge into the job's must write that row.
        response = api.put_task("j1", "train", "t0", {"status": "active",
                                                      "status_details": {"progress": 1}})
        assert api.client.get(api.url("j1")).status_code == 200  # reads do not wait
    assert response.status_code == 503 and "locked" in response.json["detail"]
    assert response.headers["Retry-After"] == "1"
    assert api.get_task("j1", "train", "t0").status_code == 404  # nothing written
    assert api.put_task("j1", "train", "t0", {"status": "active"}).status_code == 200


def test_a_read_only_database_is_a_503_and_readiness_names_it(pg_app):
    app, url = pg_app
    api = Api(app.test_client())
    api.create_job("j1")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("ALTER DATABASE " + url.rsplit("/", 1)[1] +
                      " SET default_transaction_read_only = on")
    app.extensions["jobs_db"].close()  # new sessions pick the setting up
    response = api.put_task("j1", "train", "t0", {"status": "active"})
    assert response.status_code == 503 and "read-only" in response.json["detail"]
    assert api.client.get(api.url("j1")).status_code == 200


@pytest.mark.parametrize("exc,kind", [
    (__import__("sqlite3").OperationalError("database or disk is full"), "disk_full"),
    (__import__("sqlite3").OperationalError("attempt to write a readonly database"), "read_only"),
    (__import__("sqlite3").OperationalError("database is locked"), "locked"),
    (__import__("sqlite3").DatabaseError("database disk image is malformed"), "damaged"),
    (__import__("sqlite3").DatabaseError("file is not a database"), "damaged"),
    (__import__("sqlite3").OperationalError("disk I/O error"), "io_error"),
    (psycopg.errors.DiskFull("no space left on device"), "disk_full"),
    (psycopg.errors.ReadOnlySqlTransaction("read-only"), "read_only"),
    (psycopg.errors.LockNotAvailable("lock timeout"), "locked"),
    (psycopg.errors.QueryCanceled("statement timeout"), "locked"),
    (psycopg.errors.AdminShutdown("terminating"), "unreachable"),
    (psycopg.OperationalError("connection refused"), "unreachable"),
    (psycopg.errors.DataCorrupted("invalid page"), "damaged"),
])
def test_each_fault_is_named(exc, kind):
    assert classify(exc).kind == kind


@pytest.mark.parametrize("exc", [
    ValueError("a bug"), __import__("sqlite3").IntegrityError("UNIQUE constraint failed"),
    psycopg.errors.UniqueViolation("duplicate"), psycopg.errors.SyntaxError("a bug"),
    __import__("sqlite3").OperationalError("no such table: jobz"),
])
def test_bugs_are_not_storage_faults(exc):
    assert classify(exc) is None


def test_a_fault_says_what_to_do():
    assert "free space" in StorageFault("disk_full").detail


def test_a_request_refused_for_a_damaged_file_keeps_its_request_id(tmp_path):
    """Once a worker has met a damaged file it refuses every request before the view; that
    refusal is answered after the request id is taken, so the caller can still follow it."""
    path = tmp_path / "jobs.db"
    migrate(str(path))
    app = create_app({"JOBS_DB": str(path), "TESTING": True})
    api = Api(app.test_client())
    for i in range(30):
        api.create_job(f"j{i}")
    app.extensions["jobs_db"].close()
    # Every page but the first garbled, so any read meets the damage.
    with sqlite3.connect(path) as conn:
        header = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page into the file first
    with open(path, "r+b") as f:
        f.seek(header)
        f.write(bytes((i * 37 + 11) % 256 for i in range(path.stat().st_size - header)))

    met = api.client.get(api.url(), headers={"X-Request-ID": "met-1"})
    assert met.status_code == 503 and "damaged" in met.json["detail"]
    refused = api.client.get("/apis/jobs/v2/workspaces/ws/jobs/j0",
                             headers={"X-Request-ID": "refused-1"})
    assert refused.status_code == 503 and "damaged" in refused.json["detail"]
    assert refused.headers["X-Request-ID"] == "refused-1"
