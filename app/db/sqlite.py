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

from .. import faults
from ..config import DEFAULT_DB_TIMEOUT_MS as BUSY_TIMEOUT_MS  # JOBS_DB_TIMEOUT_MS's default
from .dialect import SQLite
from .schema import MIGRATIONS, statements

# SQLite's own busy timeout: readers in WAL mode never wait on writers, and a writer retries
# in short tries (Database._begin_immediate) up to BUSY_TIMEOUT_MS or JOBS_DB_TIMEOUT_MS.
TRY_LOCK_MS = 50
SYNCHRONOUS = {"full": "FULL", "normal": "NORMAL"}
WAL_SIZE_LIMIT = 64 * 1024 * 1024
# How much space must come free before a full disk counts as usable again (a write of one
# task takes a few pages); a write that succeeds ends the fault sooner.
FREED_ENOUGH = 64 * 1024

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
    released; SQLite's own lock is then contended only by other programs. Against those, a
    writer holding the flock asks SQLite's lock with a short busy timeout and, while another
    program holds it, lets go of the flock between tries: every writer waits at most its own
    `timeout_ms` and then gets a 503, instead of queueing behind the ones before it.
    """

    dialect = SQLite
    IntegrityError = sqlite3.IntegrityError

    def __init__(self, path: str, timeout_ms: int = BUSY_TIMEOUT_MS,
                 synchronous: str = "full"):
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
        names what a PostgreSQL writer would lock; here the whole database is.) Inside
        another transaction it is a savepoint: it commits with the outer one."""
        if self.conn.in_transaction:
            with savepoint(self):
                yield self
            return
        self._begin_immediate()
        self.after_commit.clear()
        try:
            try:
                self._refuse_if_deleted()
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
            self._unlock()
        faults.write_succeeded(self.target)
        callbacks, self.after_commit = self.after_commit, []
        for callback in callbacks:
            callback()

    def _begin_immediate(self) -> None:
        """The flock, then SQLite's write lock; retried until `timeout_ms` while another
        program holds SQLite's lock, the flock let go between tries."""
        deadline = time.monotonic() + self.timeout_ms / 1000
        while True:
            if self.writer_lock is not None:
                fcntl.flock(self.writer_lock, fcntl.LOCK_EX)
            try:
                self.conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                self._unlock()
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
            time.sleep(0.02)

    def _refuse_if_deleted(self) -> None:
        """An open connection to a file deleted since (or whose folder was) still takes
        writes, which vanish with it: refuse them, naming what is missing. A stat a write."""
        if self.target == ":memory:" or os.path.exists(self.target):
            return
        folder = os.path.dirname(os.path.abspath(self.target))
        if not os.path.isdir(folder):
            raise faults.StorageFault("folder_missing", "deleted while open", folder=folder)
        raise faults.StorageFault("file_missing", "deleted while open", path=self.target)

    def _unlock(self) -> None:
        if self.writer_lock is not None:
            fcntl.flock(self.writer_lock, fcntl.LOCK_UN)

    def ping(self) -> None:
        """A read that fails when the file cannot be opened or its schema is damaged; and
        storage gone read-only, which no read would notice."""
        self.execute("SELECT 1 FROM _sqlite_migrations LIMIT 1").fetchall()
        self._refuse_if_deleted()
        if storage_is_read_only(self.target):
            raise faults.StorageFault("read_only", f"{os.path.dirname(self.target)} is read-only")

    def probe(self, fault: dict) -> None:
        """Whether a fault is over, without writing: space freed since the disk filled
        (64 KiB at least), storage writable again, SQLite's quick_check passing for a
        damaged file, and SQLite's write lock free to take."""
        kind = fault.get("kind")
        if kind == "disk_full":
            free, then = faults.free_bytes(self.target), fault.get("free_bytes") or 0
            if free is not None and free < then + FREED_ENOUGH:
                raise faults.StorageFault("disk_full", f"{free} bytes free")
        if kind == "damaged":
            problem = quick_check(self)
            if problem:
                raise faults.StorageFault("damaged", problem)
        self.ping()
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        finally:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")


@contextmanager
def savepoint(db):
    """A savepoint inside the open transaction; its after-commit callbacks wait for the
    outer commit, and are dropped with the savepoint if it is undone."""
    waiting = len(db.after_commit)
    db.conn.execute("SAVEPOINT inner")
    try:
        yield
    except BaseException:
        db.conn.execute("ROLLBACK TO inner")
        db.conn.execute("RELEASE inner")
        del db.after_commit[waiting:]
        raise
    db.conn.execute("RELEASE inner")


def connect(path: str, timeout_ms: int = BUSY_TIMEOUT_MS, synchronous: str = "full") -> Database:
    """Open a connection with the durability and locking settings every user needs."""
    return Database(path, timeout_ms, synchronous)


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


def storage_is_read_only(path: str) -> bool:
    try:
        return bool(os.statvfs(os.path.dirname(os.path.abspath(path))).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _complaints(db: Database, check: str) -> list[str]:
    """What SQLite's `check` pragma finds, each on one line; [] when the file is whole."""
    try:
        rows = [r[0] for r in db.execute(f"PRAGMA {check}").fetchall()]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    return [] if rows == ["ok"] else [" ".join(row.split()) for row in rows]


def quick_check(db: Database) -> str | None:
    """SQLite's quick_check: None when the file is whole, else its complaints in one line."""
    return "; ".join(_complaints(db, "quick_check(5)")) or None


def integrity_check(path: str) -> list[str]:
    """SQLite's full integrity check: [] when the file is whole, else its complaints."""
    try:
        db = connect(path)
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    try:
        return _complaints(db, "integrity_check(20)")
    finally:
        db.close()


def missing_folder(path: str) -> str | None:
    """Why `path` cannot even be created, in one line: its folder does not exist (a mistyped
    JOBS_DB, most likely); None when it can."""
    folder = os.path.dirname(os.path.abspath(path))
    if path == ":memory:" or os.path.isdir(folder):
        return None
    return f"JOBS_DB={path}: the folder {folder} does not exist: create it, or correct JOBS_DB"


def missing(path: str) -> str | None:
    """Why `path` is no database to work on, in one line; None when it is one. Commands
    other than init-db refuse a file that does not exist rather than create an empty one."""
    problem = missing_folder(path)
    if problem or path == ":memory:" or os.path.isfile(path):
        return problem
    return (f"JOBS_DB={path}: no such database file: correct JOBS_DB, or create the database "
            "with `flask --app wsgi init-db`")


def check_at_start(path: str) -> str | None:
    """What stops a server from starting on this file, in one line; None when nothing does.
    A missing folder, read-only storage and a damaged file are refused here rather than
    served; a missing file in a folder that exists is created (the first start)."""
    folder = os.path.dirname(os.path.abspath(path))
    problem = missing_folder(path)
    if problem:
        return problem
    if storage_is_read_only(path) or (os.path.isdir(folder) and not os.access(folder, os.W_OK)):
        return (f"the storage of the database {path} ({folder}) is read-only: make it "
                "writable, then start again")
    if not os.path.exists(path):
        return None
    try:
        db = connect(path)
        try:
            problem = quick_check(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem:
        return (f"the database file {path} is damaged ({problem}): run `flask --app wsgi "
                "check-db`, and restore it from a backup")
    return None


def backup(path: str, destination: str) -> int:
    """A consistent copy of a live database, by SQLite's online backup API; its page count."""
    source = sqlite3.connect(path)
    target = sqlite3.connect(destination)
    try:
        source.backup(target)
        return target.execute("PRAGMA page_count").fetchone()[0]
    finally:
        target.close()
        source.close()


def migrate(path: str) -> list[str]:
    """Apply pending migrations to the database at `path`; return the names applied. A
    database already current is only read, so this never waits on another writer."""
    db = connect(path)
    try:
        if _is_current(db):
            return []
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

    def __init__(self, path: str, timeout_ms: int = BUSY_TIMEOUT_MS, synchronous: str = "full"):
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
                if not _is_current(db):
                    migrate(self.path)
                self._checked_pid = pid
