"""SQLite connections for a worker: one per thread of each process at a time.

A connection is opened on first use after gunicorn forks, never before. A thread keeps its
connection until it gives it back (a request, at teardown); the next thread to ask takes the
one given back last. With many threads (gthread, where each waiting watcher holds one), the
requests then share a few warm connections, with their statement caches, instead of each
thread opening and warming its own.
"""

import os
import threading

from ...config import DEFAULT_SQLITE_SYNCHRONOUS
from .connection import BUSY_TIMEOUT_MS, Database, connect
from .migration import is_current, migrate


class ConnectionPool:
    """Hands each thread of each process its own connection to one database file."""

    def __init__(self, path: str, timeout_ms: int = BUSY_TIMEOUT_MS,
                 synchronous: str = DEFAULT_SQLITE_SYNCHRONOUS):
        self.path, self.timeout_ms, self.synchronous = path, timeout_ms, synchronous
        self._local = threading.local()
        self._checked_pid: int | None = None
        self._lock = threading.Lock()
        self._idle: list[Database] = []  # given back, the last one on top
        self._idle_pid: int | None = None

    def get(self) -> Database:
        pid = os.getpid()
        db = getattr(self._local, "db", None)
        if db is not None and self._local.pid == pid:
            return db
        with self._lock:
            if self._idle_pid != pid:  # a parent's connections are not a child's to use
                self._idle, self._idle_pid = [], pid
            db = self._idle.pop() if self._idle else None
        if db is None:
            db = connect(self.path, self.timeout_ms, self.synchronous)
            self._ensure_schema(pid, db)
        self._local.db, self._local.pid = db, pid
        return db

    def release(self, db: Database) -> None:
        """The thread's connection goes back for the next thread; one left inside a
        transaction stays with its thread."""
        if getattr(self._local, "db", None) is not db or db.conn.in_transaction:
            return
        self._local.db = None
        with self._lock:
            if self._idle_pid == os.getpid():
                self._idle.append(db)

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()

    def _ensure_schema(self, pid: int, db: Database) -> None:
        # Normally gunicorn's on_starting hook (or `flask init-db`) has migrated already;
        # this makes a bare `gunicorn wsgi:app` or the dev server safe too. The check is a
        # read: only a database that needs migrating waits for the write lock.
        with self._lock:
            if self._checked_pid != pid:
                if not is_current(db):
                    migrate(self.path)
                self._checked_pid = pid
