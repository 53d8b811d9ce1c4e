"""SQLite, the embedded default: the backend (app/db/interface.py's Backend) for a file.

- connection.py: a connection, and its write transaction locked against other writers;
- migration.py: the schema's migrations, applied once however many processes start;
- probes.py: whether the storage under an open connection is usable now (readiness);
- integrity.py: SQLite's own checks of its pages;
- preflight.py: whether a path can be served or worked on, before anything uses it;
- backups.py: a consistent copy of the live file;
- pool.py: one connection per thread of each worker process;
- lease.py: the reconciler's lease, a lock on a file beside the database.
"""

from ...config import DEFAULT_DB_POOL_SIZE, DEFAULT_SQLITE_SYNCHRONOUS
from .backups import backup
from .connection import BUSY_TIMEOUT_MS, Database, connect, savepoint
from .integrity import quick_check
from .lease import lease
from .migration import migrate, migrations
from .pool import ConnectionPool
from .preflight import check_at_start, integrity_check, missing_folder
from .preflight import missing as _missing
from .probes import storage_is_read_only

__all__ = ["BUSY_TIMEOUT_MS", "ConnectionPool", "Database", "backup", "check", "check_at_start",
           "checked", "connect", "describe", "integrity_check", "lease", "migrate", "migrations",
           "missing", "missing_folder", "open_pool", "quick_check", "savepoint",
           "storage_is_read_only"]


def open_pool(target: str, pool_size: int = DEFAULT_DB_POOL_SIZE,
              timeout_ms: int = BUSY_TIMEOUT_MS,
              sqlite_synchronous: str = DEFAULT_SQLITE_SYNCHRONOUS) -> ConnectionPool:
    """One connection per thread, so `pool_size` does not apply."""
    return ConnectionPool(target, timeout_ms, sqlite_synchronous)


def missing(target: str, creating: bool = False) -> str | None:
    """The file must exist, or with `creating` at least its folder."""
    return missing_folder(target) if creating else _missing(target)


def check(target: str) -> list[str]:
    return integrity_check(target)


def checked(target: str) -> str:
    return f"{target}: ok (PRAGMA integrity_check)"


def describe(target: str) -> str:
    return target
