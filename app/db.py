"""SQLite connections and the schema's migrations.

A connection belongs to one thread of one process: it is opened on first use after
gunicorn forks, never before, and reused for that thread's later requests. Migrations run
under an immediate (write) lock, so several processes starting at once against a new file
apply them exactly once; the others wait on the busy timeout and find nothing to do.
"""

import fcntl
import os
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager

import sqlite_utils
from sqlite_utils.db import DescIndex
from sqlite_utils.migrations import Migrations

BUSY_TIMEOUT_MS = 10_000

migrations = Migrations("jobs")


@migrations()
def m001_jobs_steps_tasks(db: sqlite_utils.Database) -> None:
    db["jobs"].create(
        {
            "seq": int, "id": str, "workspace": str, "name": str, "project": str,
            "description": str, "source": str, "spec": str, "platform_spec": str,
            "attempt_id": str, "fileset": str, "status": str, "status_details": str,
            "error_details": str, "ownership": str, "custom_fields": str,
            "created_at": str, "created_by": str, "updated_at": str, "updated_by": str,
            "db_version": int,
        },
        pk="seq",
        not_null={"id", "workspace", "name", "status", "attempt_id", "db_version"},
    )
    db["jobs"].create_index(["id"], unique=True)
    db["jobs"].create_index(["workspace", "name"], unique=True)
    db["jobs"].create_index(["workspace", "created_at"])
    db["jobs"].create_index(["workspace", "updated_at"])

    db["steps"].create(
        {
            "seq": int, "id": str, "job_id": str, "attempt_id": str, "workspace": str,
            "project": str, "name": str, "step_spec": str, "status": str,
            "status_details": str, "error_details": str,
            "created_at": str, "created_by": str, "updated_at": str, "updated_by": str,
            "db_version": int,
        },
        pk="seq",
        not_null={"id", "job_id", "attempt_id", "workspace", "name", "status", "db_version"},
    )
    db["steps"].create_index(["id"], unique=True)
    db["steps"].create_index(["attempt_id", "name"], unique=True)
    db["steps"].create_index(["job_id"])

    db["tasks"].create(
        {
            "seq": int, "id": str, "step_id": str, "workspace": str, "project": str,
            "name": str, "status": str, "status_details": str, "error_details": str,
            "error_stack": str,
            "created_at": str, "created_by": str, "updated_at": str, "updated_by": str,
            "db_version": int,
        },
        pk="seq",
        not_null={"id", "step_id", "workspace", "name", "status", "db_version"},
    )
    db["tasks"].create_index(["id"], unique=True)
    db["tasks"].create_index(["step_id", "name"], unique=True)


@migrations()
def m002_list_and_join_indexes(db: sqlite_utils.Database) -> None:
    db["jobs"].create_index(["attempt_id"], unique=True)
    db["jobs"].create_index(["workspace", "status"])
    db["steps"].create_index(["workspace", "created_at"])


@migrations()
def m003_descending_list_indexes(db: sqlite_utils.Database) -> None:
    # Lists order by (column DESC, seq ASC) for "-column": ties keep creation order. Only
    # an index with the column descending serves that order without sorting every row.
    for column in ("created_at", "updated_at", "name"):
        db["jobs"].create_index(["workspace", DescIndex(column)],
                                index_name=f"idx_jobs_workspace_{column}_desc")


@migrations()
def m004_history(db: sqlite_utils.Database) -> None:
    db["history"].create(
        {
            "seq": int, "workspace": str, "job_id": str, "entity_kind": str,
            "entity_id": str, "entity_name": str, "from_status": str, "to_status": str,
            "at": str, "by": str, "db_version": int,
        },
        pk="seq",
        not_null={"workspace", "job_id", "entity_kind", "entity_id", "to_status", "at"},
    )
    db["history"].create_index(["entity_id", "seq"])
    db["history"].create_index(["job_id", "seq"])


@migrations()
def m005_results_and_logs(db: sqlite_utils.Database) -> None:
    # Plain DDL that PostgreSQL runs as it is: JSON as TEXT, timestamps as TEXT in
    # rows.now()'s format (fixed width, so text order is time order).
    db.execute("""CREATE TABLE results (
        seq INTEGER PRIMARY KEY, job_id TEXT NOT NULL, workspace TEXT NOT NULL,
        project TEXT NOT NULL, name TEXT NOT NULL, artifact_storage_type TEXT NOT NULL,
        artifact_url TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT,
        updated_at TEXT NOT NULL, updated_by TEXT)""")
    db.execute("CREATE UNIQUE INDEX idx_results_job_id_name ON results (job_id, name)")
    db.execute("CREATE INDEX idx_results_job_id_created_at ON results (job_id, created_at)")
    db.execute("CREATE INDEX idx_results_job_id_updated_at ON results (job_id, updated_at)")

    # `attempt` is the attempt's number (1, 2 after one rerun, ...), as readers ask for it;
    # `at` is the line's own timestamp (a column named `timestamp` would be a keyword).
    db.execute("""CREATE TABLE logs (
        seq INTEGER PRIMARY KEY, job_id TEXT NOT NULL, attempt INTEGER NOT NULL,
        job_step TEXT NOT NULL, job_task TEXT NOT NULL, message TEXT NOT NULL,
        at TEXT NOT NULL, received_at TEXT NOT NULL)""")
    # A page is a range of one of these, already in (at, seq) order: a job's lines, one
    # step's, or one task's. received_at serves retention.
    db.execute("CREATE INDEX idx_logs_job ON logs (job_id, attempt, at, seq)")
    db.execute("CREATE INDEX idx_logs_step ON logs (job_id, attempt, job_step, at, seq)")
    db.execute("CREATE INDEX idx_logs_task ON logs (job_id, attempt, job_task, at, seq)")
    db.execute("CREATE INDEX idx_logs_received_at ON logs (received_at)")

    # Keys the service makes for itself, one per database: every host sharing the
    # database signs and checks log cursors with the same key.
    db.execute("""CREATE TABLE service_keys (
        seq INTEGER PRIMARY KEY, name TEXT NOT NULL, value TEXT NOT NULL)""")
    db.execute("CREATE UNIQUE INDEX idx_service_keys_name ON service_keys (name)")
    db.execute("INSERT INTO service_keys (name, value) VALUES (?, ?)",
               ("log-cursor", secrets.token_hex(32)))

    # Lists sorted by source (ascending and descending, ties in creation order).
    db.execute("CREATE INDEX idx_jobs_workspace_source ON jobs (workspace, source)")
    db.execute("CREATE INDEX idx_jobs_workspace_source_desc ON jobs (workspace, source DESC)")


class Database(sqlite_utils.Database):
    """sqlite-utils' Database, plus the writer lock file that every writer shares.

    SQLite makes a writer that finds the database locked sleep and retry (1 ms, then 2, 5,
    10 ...), so under steady write load most time goes to sleeping. Writers here first queue
    on an flock() of `<db>.writer-lock`, which wakes the next one the moment the lock is
    released; SQLite's own lock is then almost never contended. The busy timeout stays as
    the safety net for other programs writing the same file.
    """

    def __init__(self, path: str):
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA case_sensitive_like = ON")  # LIKE as PostgreSQL's: case matters
        super().__init__(conn, execute_plugins=False)
        # Callbacks for what a transaction announces once it has committed.
        self.after_commit: list = []
        self.writer_lock = None
        if path != ":memory:":
            self.writer_lock = os.open(path + ".writer-lock", os.O_RDWR | os.O_CREAT, 0o600)

    def close(self) -> None:
        super().close()
        if self.writer_lock is not None:
            os.close(self.writer_lock)
            self.writer_lock = None


def connect(path: str) -> Database:
    """Open a connection with the durability and locking settings every user needs."""
    return Database(path)


@contextmanager
def immediate(db: Database):
    """One BEGIN IMMEDIATE transaction: the write lock is taken before the first read, so a
    check and the write it guards cannot interleave with another writer's."""
    if db.writer_lock is not None:
        fcntl.flock(db.writer_lock, fcntl.LOCK_EX)
    db.after_commit.clear()
    try:
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.conn.execute("COMMIT")
        except BaseException:
            # Also when COMMIT itself fails (disk full, I/O error): never leave the
            # connection inside a transaction for the next request to trip over.
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            db.after_commit.clear()
            raise
    finally:
        if db.writer_lock is not None:
            fcntl.flock(db.writer_lock, fcntl.LOCK_UN)
    callbacks, db.after_commit = db.after_commit, []
    for callback in callbacks:
        callback()


def _enable_wal(db: sqlite_utils.Database) -> None:
    # Switching to WAL needs a moment of exclusive access; a sibling process opening the
    # same new file can hold it, and this pragma does not wait on the busy handler.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            mode = db.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode == "wal":
                return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def migrate(path: str) -> list[str]:
    """Apply pending migrations to the database at `path`; return the names applied."""
    db = connect(path)
    try:
        _enable_wal(db)
        with immediate(db):
            pending = [m.name for m in migrations.pending(db)]
            migrations.apply(db)
        return pending
    finally:
        db.close()


class ConnectionPool:
    """Hands each thread of each process its own connection to one database file."""

    def __init__(self, path: str):
        self.path = path
        self._local = threading.local()
        self._migrated_pid: int | None = None
        self._lock = threading.Lock()

    def get(self) -> sqlite_utils.Database:
        pid = os.getpid()
        db = getattr(self._local, "db", None)
        if db is not None and self._local.pid == pid:
            return db
        self._ensure_schema(pid)
        db = connect(self.path)
        self._local.db, self._local.pid = db, pid
        return db

    def _ensure_schema(self, pid: int) -> None:
        # Normally gunicorn's on_starting hook (or `flask init-db`) has migrated already;
        # this check makes a bare `gunicorn wsgi:app` or the dev server safe too.
        with self._lock:
            if self._migrated_pid != pid:
                migrate(self.path)
                self._migrated_pid = pid
