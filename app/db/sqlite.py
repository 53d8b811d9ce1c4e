"""SQLite, the embedded default: connections, write transactions and migrations.

A connection belongs to one thread of one process: it is opened on first use after gunicorn
forks, never before, and reused for that thread's later requests. Migrations run under the
write lock, so several processes starting at once against a new file apply them exactly once;
the others wait on the busy timeout and find nothing to do.
"""

import fcntl
import os
import sqlite3
import threading
import time
from contextlib import contextmanager

import sqlite_utils
from sqlite_utils.migrations import Migrations

from .dialect import SQLite
from .schema import MIGRATIONS, statements

BUSY_TIMEOUT_MS = 10_000

migrations = Migrations("jobs")


def _register(name: str, migration: list[str]) -> None:
    def apply(db: sqlite_utils.Database) -> None:
        for statement in statements(migration, SQLite):
            db.execute(statement)
    apply.__name__ = name
    migrations(name=name)(apply)


for _name, _migration in MIGRATIONS:
    _register(_name, _migration)


class Database(sqlite_utils.Database):
    """sqlite-utils' Database, plus the writer lock file that every writer shares.

    SQLite makes a writer that finds the database locked sleep and retry (1 ms, then 2, 5,
    10 ...), so under steady write load most time goes to sleeping. Writers here first queue
    on an flock() of `<db>.writer-lock`, which wakes the next one the moment the lock is
    released; SQLite's own lock is then almost never contended. The busy timeout stays as
    the safety net for other programs writing the same file.
    """

    dialect = SQLite
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: str, timeout_ms: int = BUSY_TIMEOUT_MS):
        conn = sqlite3.connect(path, timeout=timeout_ms / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
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

    @contextmanager
    def transaction(self, job: tuple[str, str] | None = None):
        """One BEGIN IMMEDIATE transaction: the write lock is taken before the first read, so
        a check and the write it guards cannot interleave with another writer's. (`job`
        names what a PostgreSQL writer would lock; here the whole database is.)"""
        if self.writer_lock is not None:
            fcntl.flock(self.writer_lock, fcntl.LOCK_EX)
        self.after_commit.clear()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
                self.conn.execute("COMMIT")
            except BaseException:
                # Also when COMMIT itself fails (disk full, I/O error): never leave the
                # connection inside a transaction for the next request to trip over.
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                self.after_commit.clear()
                raise
        finally:
            if self.writer_lock is not None:
                fcntl.flock(self.writer_lock, fcntl.LOCK_UN)
        callbacks, self.after_commit = self.after_commit, []
        for callback in callbacks:
            callback()

    def ping(self) -> None:
        self.execute("SELECT 1 FROM _sqlite_migrations LIMIT 1").fetchall()


def connect(path: str, timeout_ms: int = BUSY_TIMEOUT_MS) -> Database:
    """Open a connection with the durability and locking settings every user needs."""
    return Database(path, timeout_ms)


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
        with db.transaction():
            pending = [m.name for m in migrations.pending(db)]
            migrations.apply(db)
        return pending
    finally:
        db.close()


def _is_current(db: Database) -> bool:
    """Whether every migration is applied: a read, so it never waits on the write lock."""
    try:
        return not migrations.pending(db)
    except sqlite3.OperationalError:
        return False


class ConnectionPool:
    """Hands each thread of each process its own connection to one database file."""

    def __init__(self, path: str, timeout_ms: int = BUSY_TIMEOUT_MS):
        self.path, self.timeout_ms = path, timeout_ms
        self._local = threading.local()
        self._checked_pid: int | None = None
        self._lock = threading.Lock()

    def get(self) -> Database:
        pid = os.getpid()
        db = getattr(self._local, "db", None)
        if db is not None and self._local.pid == pid:
            return db
        db = connect(self.path, self.timeout_ms)
        self._ensure_schema(pid, db)
        self._local.db, self._local.pid = db, pid
        return db

    def release(self, db: Database) -> None:
        """Connections stay with their thread; nothing to give back."""

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _ensure_schema(self, pid: int, db: Database) -> None:
        # Normally gunicorn's on_starting hook (or `flask init-db`) has migrated already;
        # this makes a bare `gunicorn wsgi:app` or the dev server safe too. The check is a
        # read: only a database that needs migrating waits for the write lock.
        with self._lock:
            if self._checked_pid != pid:
                if not _is_current(db):
                    migrate(self.path)
                self._checked_pid = pid
