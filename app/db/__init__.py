"""Where the state lives: an SQLite file (the default) or a PostgreSQL server.

`JOBS_DB` chooses: a `postgresql://` or `postgres://` URL means PostgreSQL, anything else is
an SQLite path. Both backends hand the store a connection with the same small interface:
`execute(sql, params)` in SQLite's spelling, `transaction(job=...)`, `after_commit`, and
`dialect` for the few things spelled differently (app/db/dialect.py).
"""

from ..config import DEFAULT_DB_POOL_SIZE, DEFAULT_DB_TIMEOUT_MS
from . import postgres, sqlite


def is_postgres(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_pool(target: str, pool_size: int = DEFAULT_DB_POOL_SIZE,
              timeout_ms: int = DEFAULT_DB_TIMEOUT_MS,
              sqlite_synchronous: str = "full"):
    """A pool that opens nothing until first used, so it is safe to make before a fork."""
    if is_postgres(target):
        return postgres.ConnectionPool(target, pool_size, timeout_ms)
    return sqlite.ConnectionPool(target, timeout_ms, sqlite_synchronous)


def connect(target: str):
    """One connection of its own, for command-line tasks; close it when done."""
    return postgres.connect(target) if is_postgres(target) else sqlite.connect(target)


def migrate(target: str) -> list[str]:
    """Apply pending migrations once, however many processes or hosts try at once."""
    return postgres.migrate(target) if is_postgres(target) else sqlite.migrate(target)


def check_at_start(target: str) -> str | None:
    """What stops a server from starting on this database, in one line (None: nothing).
    PostgreSQL is never refused: while it cannot be reached, requests get 503."""
    return None if is_postgres(target) else sqlite.check_at_start(target)


def missing(target: str, creating: bool = False) -> str | None:
    """Why a command cannot work on `target`, in one line (None: it can). An SQLite file must
    exist, or with `creating` at least its folder; a PostgreSQL URL is always tried."""
    if is_postgres(target):
        return None
    return sqlite.missing_folder(target) if creating else sqlite.missing(target)


def backup(target: str, destination: str) -> int:
    """A consistent copy of a live SQLite database (PostgreSQL has pg_dump for that)."""
    if is_postgres(target):
        raise ValueError("backups of PostgreSQL are pg_dump's job (or your provider's)")
    return sqlite.backup(target, destination)


def transaction(db, job: tuple[str, str] | None = None):
    """A write transaction; `job` = (workspace, name) is the job whose tree it changes."""
    return db.transaction(job)


def describe(target: str) -> str:
    """The target for logs, without a password."""
    if is_postgres(target):
        from psycopg.conninfo import conninfo_to_dict
        info = conninfo_to_dict(target)
        return f"postgresql://{info.get('user', '')}@{info.get('host', '')}:" \
               f"{info.get('port', 5432)}/{info.get('dbname', '')}"
    return target


def init_app(app) -> None:
    """As flaskr's db.init_app: the pool, its teardown and the database commands on `app`.
    The Flask side is app/db/web.py, imported only here: the store and the backends can be
    imported (and used by a script) without Flask."""
    from . import web

    web.init_app(app)
