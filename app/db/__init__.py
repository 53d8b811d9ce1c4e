"""Where the state lives: an SQLite file (the default) or a PostgreSQL server.

`JOBS_DB` chooses: a `postgresql://` or `postgres://` URL means PostgreSQL, anything else is
an SQLite path. `backend_for` makes that choice, the one place it is made. Both backends
implement app/db/interface.py: the connection the store uses (`execute(sql, params)` in
SQLite's spelling, `transaction(job=..., shared=...)`, `after_commit`, `dialect` for the few things
spelled differently, app/db/dialect.py), and the backend the app uses (pools, migrations,
checks, backups). What both do around a commit is app/db/commit.py.
"""

from ..config import DEFAULT_DB_POOL_SIZE, DEFAULT_DB_TIMEOUT_MS, DEFAULT_SQLITE_SYNCHRONOUS
from . import postgres, sqlite
from .interface import Backend, Connection, Pool

__all__ = ["Backend", "Connection", "Pool", "backend_for", "backup", "check_at_start", "connect",
           "describe", "init_app", "is_postgres", "lease", "migrate", "missing", "open_pool",
           "transaction"]


def is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def backend_for(target: str) -> Backend:
    """The backend that serves JOBS_DB=`target`."""
    return postgres if is_postgres(target) else sqlite


def open_pool(target: str, pool_size: int = DEFAULT_DB_POOL_SIZE,
              timeout_ms: int = DEFAULT_DB_TIMEOUT_MS,
              sqlite_synchronous: str = DEFAULT_SQLITE_SYNCHRONOUS) -> Pool:
    """A pool that opens nothing until first used, so it is safe to make before a fork."""
    return backend_for(target).open_pool(target, pool_size, timeout_ms, sqlite_synchronous)


def connect(target: str) -> Connection:
    """One connection of its own, for command-line tasks; close it when done."""
    return backend_for(target).connect(target)


def migrate(target: str) -> list[str]:
    """Apply pending migrations once, however many processes or hosts try at once."""
    return backend_for(target).migrate(target)


def check_at_start(target: str) -> str | None:
    """What stops a server from starting on this database, in one line (None: nothing).
    PostgreSQL is never refused: while it cannot be reached, requests get 503."""
    return backend_for(target).check_at_start(target)


def missing(target: str, creating: bool = False) -> str | None:
    """Why a command cannot work on `target`, in one line (None: it can). An SQLite file must
    exist, or with `creating` at least its folder; a PostgreSQL URL is always tried."""
    return backend_for(target).missing(target, creating)


def lease(target: str):
    """The reconciler's lease on this database, not yet held (`acquire()`, `release()`)."""
    return backend_for(target).lease(target)


def backup(target: str, destination: str) -> int:
    """A consistent copy of a live SQLite database (PostgreSQL has pg_dump for that)."""
    return backend_for(target).backup(target, destination)


def transaction(db: Connection, job: tuple[str, str] | None = None, shared: bool = False):
    """A write transaction; `job` = (workspace, name) is the job whose tree it changes.
    `shared`: a task's report, which shares the job with other tasks' reports and locks its
    own rows (app/store/tasks.py); every other write of a job has it to itself."""
    return db.transaction(job, shared)


def describe(target: str) -> str:
    """The target for logs, without a password."""
    return backend_for(target).describe(target)


def init_app(app) -> None:
    """As flaskr's db.init_app: the pool, its teardown and the database commands on `app`.
    The Flask side is app/db/web.py, imported only here: the store and the backends can be
    imported (and used by a script) without Flask."""
    from . import web

    web.init_app(app)
