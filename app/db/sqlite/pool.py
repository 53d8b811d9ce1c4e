"""SQLite connections for a worker: one per thread of each process.

A connection is opened on first use after gunicorn forks, never before, and reused for that
thread's later requests.
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

    def get(self) -> Database:
        pid = os.getpid()
        db = getattr(self._local, "db", None)
        if db is not None and self._local.pid == pid:
            return db
        db = connect(self.path, self.timeout_ms, self.synchronous)
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
                if not is_current(db):
                    migrate(self.path)
                self._checked_pid = pid
