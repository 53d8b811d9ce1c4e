"""The database layer: migrations under concurrent start, settings, connection ownership."""

import multiprocessing

import pytest
import sqlite3
import threading

from app import create_app
from app.db.sqlite import ConnectionPool, connect, migrate, migrations


def test_several_processes_migrating_a_new_file_at_once_apply_each_migration_once(tmp_path):
    path = str(tmp_path / "new.db")
    with multiprocessing.get_context("spawn").Pool(8) as pool:
        results = pool.map(migrate, [path] * 8)
    applied = [name for result in results for name in result]
    assert sorted(applied) == sorted(m.name for m in migrations.pending(connect(":memory:")))
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM _sqlite_migrations").fetchall()
        assert len(rows) == len(applied)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_connection_settings(tmp_path):
    path = str(tmp_path / "x.db")
    migrate(path)
    db = connect(path)
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] == 50  # a try; writers retry
    assert db.timeout_ms == 10_000
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_lookups_use_indexes(tmp_path):
    path = str(tmp_path / "x.db")
    migrate(path)
    db = connect(path)
    for sql in ["SELECT * FROM jobs WHERE workspace = 'w' AND name = 'n'",
                "SELECT * FROM steps WHERE attempt_id = 'a' AND name = 'n'",
                "SELECT * FROM tasks WHERE step_id = 's' AND name = 'n'",
                "SELECT * FROM tasks WHERE step_id = 's' ORDER BY seq"]:
        plan = " ".join(str(row[-1]) for row in db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (sql, plan)


def test_the_factory_opens_no_connection(tmp_path):
    path = tmp_path / "lazy.db"
    create_app({"JOBS_DB": str(path)})
    assert not path.exists()


def test_each_thread_gets_its_own_connection(tmp_path):
    pool = ConnectionPool(str(tmp_path / "x.db"))
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(pool.get())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(db.conn) for db in seen}) == 3
    assert pool.get() is pool.get()


@pytest.mark.parametrize("sort", ["created_at", "-created_at", "updated_at", "-updated_at",
                                  "name", "-name", "source", "-source"])
def test_a_job_page_is_picked_from_an_index_without_sorting(tmp_path, sort):
    from app.store.lists import page_ids_sql

    path = str(tmp_path / "x.db")
    migrate(path)
    sql = page_ids_sql("jobs j", "j.workspace = ?", "j", sort)
    plan = " | ".join(str(r[-1]) for r in connect(path).execute(
        "EXPLAIN QUERY PLAN " + sql, ["w", 10, 100]))
    assert "INDEX" in plan and "TEMP B-TREE" not in plan, plan


def test_a_failed_commit_leaves_no_transaction_open(tmp_path):
    path = str(tmp_path / "x.db")
    migrate(path)
    db = connect(path)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    db.execute("CREATE TABLE child (pid INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)")
    with pytest.raises(sqlite3.IntegrityError):
        with db.transaction():
            db.execute("INSERT INTO child VALUES (42)")  # checked only at COMMIT
    assert not db.conn.in_transaction
    with db.transaction():  # the next transaction starts normally
        db.execute("INSERT INTO parent VALUES (1)")
    assert db.execute("SELECT count(*) FROM parent").fetchone() == (1,)


def test_wal_is_capped_once_it_wraps(tmp_path):
    path = str(tmp_path / "x.db")
    migrate(path)
    assert connect(path).execute("PRAGMA journal_size_limit").fetchone()[0] == 64 * 1024 * 1024


@pytest.mark.parametrize("setting,expected", [("full", 2), ("normal", 1), ("NORMAL", 1)])
def test_sqlite_synchronous_setting(tmp_path, monkeypatch, setting, expected):
    monkeypatch.setenv("JOBS_SQLITE_SYNCHRONOUS", setting)
    app = create_app({"JOBS_DB": str(tmp_path / "x.db")})
    with app.app_context():
        from app.http import db
        assert db().execute("PRAGMA synchronous").fetchone()[0] == expected


@pytest.mark.slow
def test_a_bad_synchronous_setting_stops_gunicorn_with_one_line(tmp_path):
    import os
    import subprocess
    import sys

    from .server import ROOT, free_port

    env = {**os.environ, "JOBS_DB": str(tmp_path / "x.db"), "JOBS_SQLITE_SYNCHRONOUS": "off",
           "GUNICORN_BIND": f"127.0.0.1:{free_port()}"}
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot start: JOBS_SQLITE_SYNCHRONOUS='off': must be one of full, normal" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("where,params", [
    ("j.name = ?", ["a"]),
    ("j.name IN (?, ?)", ["a", "b"]),
    ("j.name NOT IN (?, ?)", ["a", "b"]),
    ("j.name LIKE ? ESCAPE '\\'", ["a%"]),
    ("j.source LIKE ? ESCAPE '\\'", ["%a"]),
    ("j.created_at >= ? AND j.created_at <= ?", ["a", "b"]),
    ("j.updated_at >= ?", ["a"]),
    ("j.workspace = ?", ["w"]),
])
@pytest.mark.parametrize("sort", ["-created_at", "name", "source"])
def test_filtered_job_pages_never_scan_the_table(tmp_path, where, params, sort):
    from app.store.lists import page_ids_sql

    path = str(tmp_path / "x.db")
    migrate(path)
    sql = page_ids_sql("jobs j", f"j.workspace = ? AND {where}", "j", sort)
    plan = " | ".join(str(r[-1]) for r in connect(path).execute(
        "EXPLAIN QUERY PLAN " + sql, ["w", *params, 10, 0]))
    # Every row read is one of the workspace's, found through an index (a range filter
    # may pick its own index and sort its matches: still no full scan).
    assert "SEARCH j USING" in plan and "SCAN j" not in plan, plan


@pytest.mark.parametrize("scope", [
    {"s": None, "t": None}, {"s": "train", "t": None}, {"s": None, "t": "t0"},
    {"s": "train", "t": "t0"}])
@pytest.mark.parametrize("backwards,from_cursor", [(False, False), (False, True), (True, True)])
def test_a_log_page_is_a_range_of_an_index_in_its_order(tmp_path, scope, backwards, from_cursor):
    from app.store.logs import page_sql, scope_where

    path = str(tmp_path / "x.db")
    migrate(path)
    condition, params = scope_where({"j": "job-1", "a": 1, **scope}, "2026-01-01T00:00:00Z")
    sql = page_sql(condition, backwards, from_cursor)
    bound = ["2026-01-02T00:00:00.000000Z", 5] if from_cursor else []
    plan = " | ".join(str(r[-1]) for r in connect(path).execute(
        "EXPLAIN QUERY PLAN " + sql, [*params, *bound, 101]))
    assert "USING INDEX idx_logs_" in plan and "TEMP B-TREE" not in plan, plan
    count = " | ".join(str(r[-1]) for r in connect(path).execute(
        f"EXPLAIN QUERY PLAN SELECT COUNT(*) FROM logs WHERE {condition}", params))
    assert "USING INDEX idx_logs_" in count, count


def test_results_and_expired_logs_are_found_through_indexes(tmp_path):
    path = str(tmp_path / "x.db")
    migrate(path)
    db = connect(path)
    for sql, params in [
            ("SELECT * FROM results WHERE job_id = ? AND name = ?", ["j", "r"]),
            ("SELECT * FROM results WHERE job_id = ? ORDER BY created_at DESC, seq", ["j"]),
            ("SELECT seq FROM logs WHERE received_at < ? ORDER BY received_at LIMIT ?", ["t", 9]),
            ("SELECT value FROM service_keys WHERE name = ?", ["log-cursor"])]:
        plan = " | ".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + sql, params))
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan, (sql, plan)


def test_like_is_case_sensitive_on_every_connection(tmp_path):
    db = connect(str(tmp_path / "x.db"))
    assert db.execute("SELECT 'Abc' LIKE 'a%', 'abc' LIKE 'a%'").fetchone() == (0, 1)


def test_each_database_gets_its_own_cursor_key(tmp_path):
    keys = set()
    for name in ("a.db", "b.db"):
        migrate(str(tmp_path / name))
        keys.add(connect(str(tmp_path / name)).execute(
            "SELECT value FROM service_keys WHERE name = 'log-cursor'").fetchone()[0])
    assert len(keys) == 2 and all(len(k) == 64 for k in keys)
