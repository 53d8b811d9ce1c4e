"""An SQLite connection and its write transaction, locked against every other writer.

A connection belongs to one thread of one process (app/db/sqlite/pool.py hands them out).
"""

import fcntl
import os
import sqlite3
import threading
import time
from contextlib import contextmanager

import sqlite_utils

from ...config import DEFAULT_DB_TIMEOUT_MS as BUSY_TIMEOUT_MS  # JOBS_DB_TIMEOUT_MS's default
from ...config import DEFAULT_SQLITE_SYNCHRONOUS
from ..commit import nested, outermost
from ..dialect import SQLite
from . import probes

# SQLite's own busy timeout: readers in WAL mode never wait on writers, and a writer retries
# in short tries (Database._begin_immediate) up to BUSY_TIMEOUT_MS or JOBS_DB_TIMEOUT_MS.
TRY_LOCK_MS = 50
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}
WAL_SIZE_LIMIT = 64 * 1024 * 1024


class Database(sqlite_utils.Database):
    """sqlite-utils' Database, plus the writer lock file that every writer shares.

    SQLite makes a writer that finds the database locked sleep and retry (1 ms, then 2, 5,
    10 ...), so under steady write load most time goes to sleeping. Writers here first queue
    on an flock() of `<db>.writer-lock`, which wakes the next one the moment the lock is
    released; SQLite's own lock is then contended only by other programs. Against those, a
    writer holding the flock asks SQLite's lock with a short busy timeout and, while another
    program holds it, lets go of the flock between tries: every writer waits at most its own
    `timeout_ms` and then gets a 503, instead of queueing behind the ones before it.
    """

    dialect = SQLite
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: str, timeout_ms: int = BUSY_TIMEOUT_MS,
                 synchronous: str = DEFAULT_SQLITE_SYNCHRONOUS):
        conn = sqlite3.connect(path, timeout=TRY_LOCK_MS / 1000, isolation_level=None,
                               check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {TRY_LOCK_MS}")
        # FULL: every commit waits for the WAL's fsync, so an acknowledged write survives a
        # power loss. NORMAL (JOBS_SQLITE_SYNCHRONOUS=normal) fsyncs at checkpoints only: it
        # survives a killed process, not a power loss.
        conn.execute(f"PRAGMA synchronous = {SYNCHRONOUS[synchronous]}")
        # A WAL that a long reader let grow is cut back to this once it wraps; below it, the
        # file keeps its size, so a commit's fsync does not have to grow it.
        conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA case_sensitive_like = ON")  # LIKE as PostgreSQL's: case matters
        super().__init__(conn, execute_plugins=False)
        self.target, self.timeout_ms = path, int(timeout_ms)
        # Callbacks for what a transaction announces once it has committed (app/db/commit.py).
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
    def transaction(self, job: tuple[str, str] | None = None, shared: bool = False):
        """One BEGIN IMMEDIATE transaction: the write lock is taken before the first read, so
        a check and the write it guards cannot interleave with another writer's. (`job`
        and `shared` name what a PostgreSQL writer would lock; here the whole database is.) Inside
        another transaction it is a savepoint: it commits with the outer one."""
        if self.conn.in_transaction:
            with savepoint(self):
                yield self
            return
        with outermost(self):
            self._begin_immediate()
            try:
                try:
                    probes.refuse_if_deleted(self.target)
                    yield self
                    self.conn.execute("COMMIT")
                except BaseException:
                    # Also when COMMIT itself fails (disk full, I/O error): never leave the
                    # connection inside a transaction for the next request to trip over.
                    if self.conn.in_transaction:
                        self.conn.execute("ROLLBACK")
                    raise
            finally:
                self._unlock()

    @contextmanager
    def snapshot(self):
        """One read transaction: every read in it sees the database as of its first."""
        self.conn.execute("BEGIN")
        try:
            yield self
        finally:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def _begin_immediate(self) -> None:
        """The flock, then SQLite's write lock; retried until `timeout_ms` while another
        program holds SQLite's lock, the flock let go between tries."""
        deadline = time.monotonic() + self.timeout_ms / 1000
        while True:
            if self.writer_lock is not None:
                _lock_exclusive(self.writer_lock)
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                self._unlock()
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(0.02)

    def _unlock(self) -> None:
        if self.writer_lock is not None:
            _unlock_exclusive(self.writer_lock)

    def ping(self) -> None:
        probes.ping(self)

    def probe(self, fault: dict) -> None:
        probes.probe(self, fault)


def _lock_exclusive(fd: int) -> None:
    """The writer's flock. First this process's own lock, so that the requests of one
    process (gevent's greenlets, gthread's threads) queue there, in turn: the flock then
    waits only for another process's commit, which always ends. A greenlet blocked on the
    flock itself while another of its process held it would stop them both for good."""
    _process_lock().acquire()
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        _process_lock().release()
        raise


def _unlock_exclusive(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    _process_lock().release()


_PROCESS_LOCKS: dict[int, threading.Lock] = {}


def _process_lock() -> threading.Lock:
    """Made in the process that uses it, after gunicorn forked and gevent patched: a lock
    made before would block the whole process instead of one greenlet."""
    pid = os.getpid()
    lock = _PROCESS_LOCKS.get(pid)
    if lock is None:
        lock = _PROCESS_LOCKS.setdefault(pid, threading.Lock())
    return lock


@contextmanager
def savepoint(db):
    """A savepoint inside the open transaction; its after-commit callbacks wait for the
    outer commit, and are dropped with the savepoint if it is undone."""
    with nested(db):
        db.conn.execute("SAVEPOINT inner")
        try:
            yield
        except BaseException:
            db.conn.execute("ROLLBACK TO inner")
            db.conn.execute("RELEASE inner")
            raise
        db.conn.execute("RELEASE inner")


def connect(path: str, timeout_ms: int = BUSY_TIMEOUT_MS, synchronous: str = DEFAULT_SQLITE_SYNCHRONOUS) -> Database:
    """Open a connection with the durability and locking settings every user needs."""
    return Database(path, timeout_ms, synchronous)
