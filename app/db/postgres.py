"""PostgreSQL, for several service hosts over one database: a connection pool per worker
process, write transactions that lock their job, migrations under an advisory lock.

Connections run in autocommit; a write opens its own transaction and first takes the lock
of the job it changes (app/db/dialect.py): shared for a task's report, which then locks only
its task (its lock, its row; the job's row last, if it merges status_details), exclusive for
every other write of the job, which then locks the job's row. Writes to different jobs, and
reports of different tasks of one job, proceed in parallel; the rest queue, on every host
alike. Lock order, everywhere: the job's lock, the job's row, its steps, its tasks (a
report: its task's lock and row, then the job's row). A statement or lock wait longer than
the configured timeout is cancelled by the server, so a stuck lock never holds a worker
forever.
"""

import os
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timezone

import psycopg
from psycopg.pq import TransactionStatus

from .. import faults
from ..config import DEFAULT_DB_POOL_SIZE, DEFAULT_DB_TIMEOUT_MS, DEFAULT_SQLITE_SYNCHRONOUS
from .commit import nested, outermost
from .dialect import PostgreSQL
from .schema import MIGRATIONS, statements

# The advisory lock every host takes to migrate: one at a time, each migration once.
MIGRATION_LOCK = 0x6A6F6273  # "jobs"
# The reconciler's lease: a session advisory lock, held by one connection on any host.
RECONCILER_LOCK = 0x6A6F6272  # "jobr"
# How long a request waits for a connection another thread of its worker holds.
POOL_WAIT_SECONDS = 3.0
# libpq's least; a refused connection (the server down, restarting) fails at once anyway.
CONNECT_TIMEOUT_SECONDS = 2
# While the server refuses connections, how often a worker tries again.
RETRY_CONNECT_SECONDS = 0.2


def _session(timeout_ms: int) -> dict:
    return {
        "autocommit": True,
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "options": f"-c statement_timeout={int(timeout_ms)} -c lock_timeout={int(timeout_ms)}"
                   f" -c idle_in_transaction_session_timeout={int(timeout_ms) * 3}",
    }


class Database:
    """One pooled connection, with the interface the store uses on SQLite too."""

    dialect = PostgreSQL
    IntegrityError = psycopg.errors.IntegrityError

    def __init__(self, conn: psycopg.Connection, target: str):
        self.conn, self.target = conn, target
        self.after_commit: list = []

    def execute(self, sql: str, params=()) -> psycopg.Cursor:
        if not params:  # no placeholders to translate, and a `%` stays itself
            return self.conn.execute(sql)
        return self.conn.execute(PostgreSQL.sql(sql), params)

    @contextmanager
    def transaction(self, job: tuple[str, str] | None = None, shared: bool = False):
        """One transaction; with `job` = (workspace, name), that job's lock is taken first
        (app/db/dialect.py): exclusive, then the job's row; `shared` (a task's report), the
        lock alone, the caller locking the rows it writes. Inside another transaction it is
        a savepoint: it commits with the outer one."""
        inside = self.conn.info.transaction_status != TransactionStatus.IDLE
        # psycopg makes a nested transaction a savepoint.
        with (nested if inside else outermost)(self), self.conn.transaction():
            if job is not None and shared:
                self.execute(PostgreSQL.lock_job_shared, job)
            elif job is not None:
                self.execute(PostgreSQL.lock_job_exclusive, job)
                self.execute(PostgreSQL.lock_job, job)
            yield self

    @contextmanager
    def snapshot(self):
        """One read transaction: every read in it sees the database as of its first."""
        with self.conn.transaction():
            self.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield self

    def ping(self) -> None:
        """Reachable, migrated, and writable (a standby in recovery takes no writes)."""
        self.execute("SELECT 1 FROM schema_migrations LIMIT 1").fetchall()
        if self.execute("SELECT pg_is_in_recovery()").fetchone()[0]:
            raise faults.StorageFault("read_only", "the server is a standby in recovery")

    def probe(self, fault: dict) -> None:
        """Whether a fault is over: the ping, and a transaction that commits."""
        self.ping()
        with self.transaction():
            self.execute("SELECT 1")

    def close(self) -> None:
        self.conn.close()


def connect(url: str, timeout_ms: int = DEFAULT_DB_TIMEOUT_MS) -> Database:
    """A connection of its own, outside any pool (command-line tasks)."""
    return Database(psycopg.connect(url, **_session(timeout_ms)), url)


def migrate(url: str) -> list[str]:
    """Apply pending migrations, all in one transaction under the advisory lock, so hosts
    starting together apply each exactly once; return the names applied here."""
    with psycopg.connect(url, **_session(60_000)) as conn:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                         "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            applied = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
            pending = [(name, m) for name, m in MIGRATIONS if name not in applied]
            for name, migration in pending:
                for statement in statements(migration, PostgreSQL):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_migrations (name, applied_at) VALUES (%s, %s)",
                             (name, datetime.now(timezone.utc).isoformat()))
    return [name for name, _ in pending]


def _is_current(db: Database) -> bool:
    try:
        applied = {row[0] for row in db.execute("SELECT name FROM schema_migrations")}
    except psycopg.errors.UndefinedTable:
        return False
    return all(name in applied for name, _ in MIGRATIONS)


class ConnectionPool:
    """Up to `size` connections per worker process, opened on first use (after gunicorn forks).

    A connection is checked as it is handed out (one round trip), so one the server dropped
    (a restart, a failover) is replaced then, not met by the request: once the server is
    back, answers, not 503s. A missing connection is opened by the request that needs it,
    with no backoff: writes resume as soon as the server accepts connections again. While it
    refuses them, a worker tries at most every RETRY_CONNECT_SECONDS and requests in between
    get their 503 at once, so an outage is said at once and the server is not hammered.
    """

    def __init__(self, url: str, size: int = DEFAULT_DB_POOL_SIZE,
                 timeout_ms: int = DEFAULT_DB_TIMEOUT_MS):
        self.url, self.size, self.timeout_ms = url, size, timeout_ms
        self._pid: int | None = None
        self._forked()

    def _forked(self) -> None:
        """This process's own, empty pool (a parent's connections are not a child's to use)."""
        pid = os.getpid()
        if self._pid != pid:
            self._idle: list[psycopg.Connection] = []
            self._slots = 0  # connections idle, handed out or being opened
            self._cond = threading.Condition()
            self._failed: tuple[str, str] | None = None  # the last connect's (kind, cause)
            self._failed_at = 0.0
            self._schema_checked = False
            self._pid = pid

    def get(self) -> Database:
        self._forked()
        db = Database(self._take(), self.url)
        if not self._schema_checked:
            # Normally gunicorn's on_starting hook (or `flask init-db`) has migrated already.
            try:
                if not _is_current(db):
                    migrate(self.url)
            except BaseException:
                self.release(db)  # the caller never gets it, so it could never give it back
                raise
            self._schema_checked = True
        return db

    def _take(self) -> psycopg.Connection:
        deadline = time.monotonic() + POOL_WAIT_SECONDS
        with self._cond:
            while not self._idle and self._slots >= self.size:
                # Every connection is in use by another thread of this worker.
                if not self._cond.wait(deadline - time.monotonic()):
                    raise faults.StorageFault(
                        "unreachable", f"no pooled connection free after {POOL_WAIT_SECONDS} s")
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                self._slots += 1
        if conn is not None:
            try:
                conn.execute("")  # the check: a dropped connection fails here
                return conn
            except psycopg.Error:
                conn.close()  # and a new one takes its slot
        try:
            return self._connect()
        except BaseException:
            self._free_slot()
            raise

    def _connect(self) -> psycopg.Connection:
        failed = self._failed
        if failed is not None and time.monotonic() - self._failed_at < RETRY_CONNECT_SECONDS:
            raise faults.StorageFault(*failed)  # a new one: a raised one keeps its frames
        try:
            conn = psycopg.connect(self.url, **_session(self.timeout_ms))
        except psycopg.Error as exc:
            # Whatever stops a connection (refused, auth, too many clients) is a storage fault.
            fault = faults.classify(exc) or faults.StorageFault(
                "unreachable", (str(exc).strip().splitlines() or [""])[0])
            self._failed, self._failed_at = (fault.kind, fault.cause), time.monotonic()
            raise fault from None
        self._failed = None
        return conn

    def _free_slot(self) -> None:
        with self._cond:
            self._slots -= 1
            self._cond.notify()

    def release(self, db: Database) -> None:
        if self._pid != os.getpid():
            return
        conn = db.conn
        status = conn.info.transaction_status
        if status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
            try:
                conn.rollback()  # a transaction left open by an error: end it here
            except psycopg.Error:
                pass
            status = conn.info.transaction_status
        if status != TransactionStatus.IDLE:  # lost, or a query still running
            conn.close()
            self._free_slot()
            return
        with self._cond:
            self._idle.append(conn)
            self._cond.notify()

    def close(self) -> None:
        if self._pid != os.getpid():
            return
        with self._cond:
            idle, self._idle = self._idle, []
            self._slots -= len(idle)
        for conn in idle:
            conn.close()


class AdvisoryLease:
    """The reconciler's lease: pg_try_advisory_lock on a connection of its own. The server
    lets go when that session ends, so a host killed (or cut off) loses it and another
    takes it at its next try."""

    def __init__(self, url: str):
        self.url = url
        self._conn: psycopg.Connection | None = None

    def acquire(self) -> bool:
        """Hold the lease, without waiting; True while this process holds it. A held lease
        is checked (one round trip): a session the server lost has lost the lock too."""
        if self._conn is not None:
            try:
                self._conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                self.release()
        session = _session(DEFAULT_DB_TIMEOUT_MS)
        # The server probes an idle peer, so a host cut off (not just killed, whose socket
        # the kernel closes) lets go of the lock within about half a minute.
        session["options"] += (" -c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5"
                               " -c tcp_keepalives_count=3")
        conn = psycopg.connect(self.url, **session)
        try:
            held = conn.execute("SELECT pg_try_advisory_lock(%s)", (RECONCILER_LOCK,)).fetchone()[0]
        except BaseException:
            conn.close()
            raise
        if not held:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()  # ends the session, and the lock with it
            finally:
                self._conn = None


# ---- the rest of the backend (app/db/interface.py's Backend) -----------------------------


def lease(target: str) -> AdvisoryLease:
    return AdvisoryLease(target)



def open_pool(target: str, pool_size: int = DEFAULT_DB_POOL_SIZE,
              timeout_ms: int = DEFAULT_DB_TIMEOUT_MS,
              sqlite_synchronous: str = DEFAULT_SQLITE_SYNCHRONOUS) -> ConnectionPool:
    """`sqlite_synchronous` is SQLite's; PostgreSQL's durability is the server's to set."""
    return ConnectionPool(target, pool_size, timeout_ms)


def check_at_start(target: str) -> str | None:
    """Never refused: while the server cannot be reached, requests get 503."""
    return None


def missing(target: str, creating: bool = False) -> str | None:
    """A URL is always tried: the server says what is wrong with it."""
    return None


def check(target: str) -> list[str]:
    """Reachable and migrated (a fault raises); PostgreSQL checks its own pages."""
    db = connect(target)
    try:
        db.ping()
    finally:
        db.close()
    return []


def checked(target: str) -> str:
    return (f"{describe(target)}: reachable and migrated. PostgreSQL checks its own pages; "
            "use pg_amcheck for a deeper check.")


def backup(target: str, destination: str) -> int:
    raise ValueError("backups of PostgreSQL are pg_dump's job (or your provider's)")


def describe(target: str) -> str:
    """The URL without its password."""
    from psycopg.conninfo import conninfo_to_dict
    info = conninfo_to_dict(target)
    return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:" \
           f"{info.get('port', 5432)}/{info.get('dbname', '')}"
