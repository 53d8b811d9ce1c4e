"""Storage faults: the one place that turns a failure of the database into an answer.

Whatever the backend, a failure of the storage itself (not of the request) becomes a
`StorageFault` of a named kind, which the app answers with 503, `Retry-After` and a detail
an operator can act on. Nothing is written by a request that meets one: SQLite rolls its
transaction back, PostgreSQL aborts it.
"""

import sqlite3

import psycopg
from psycopg_pool import PoolTimeout

# kind -> what the operator reads in the 503 and the log.
DETAILS = {
    "disk_full": "The database's disk is full: free space on it. Nothing was written.",
    "read_only": "The database's storage is read-only: make it writable. Nothing was written.",
    "locked": "The database stayed locked by another writer past the lock timeout: find what "
              "holds it. Nothing was written.",
    "damaged": "The database file is damaged: stop the service, run `flask --app wsgi "
               "check-db`, and restore from a backup.",
    "io_error": "The database's storage reports an I/O error: check the disk. Nothing was "
                "written.",
    "unreachable": "The database cannot be reached: check that it is running and reachable.",
    "overloaded": "The database is out of resources (connections or memory): try again later.",
}
RETRY_AFTER_SECONDS = {"locked": 1, "unreachable": 2}


class StorageFault(Exception):
    def __init__(self, kind: str, cause: str = ""):
        super().__init__(DETAILS[kind])
        self.kind, self.detail, self.cause = kind, DETAILS[kind], cause

    @property
    def retry_after(self) -> int:
        return RETRY_AFTER_SECONDS.get(self.kind, 5)


# SQLite says what went wrong only in its message (the extended codes arrive in 3.11's
# sqlite_errorname, kept as a fallback for messages that change between versions).
_SQLITE_MESSAGES = [
    ("database or disk is full", "disk_full"),
    ("readonly database", "read_only"),
    ("read-only", "read_only"),
    ("database is locked", "locked"),
    ("database table is locked", "locked"),
    ("malformed", "damaged"),
    ("file is not a database", "damaged"),
    ("disk i/o error", "io_error"),
    ("unable to open database file", "unreachable"),
]
_SQLITE_NAMES = [("SQLITE_FULL", "disk_full"), ("SQLITE_READONLY", "read_only"),
                 ("SQLITE_BUSY", "locked"), ("SQLITE_LOCKED", "locked"),
                 ("SQLITE_CORRUPT", "damaged"), ("SQLITE_NOTADB", "damaged"),
                 ("SQLITE_IOERR", "io_error"), ("SQLITE_CANTOPEN", "unreachable")]

# PostgreSQL's SQLSTATE classes and codes.
_PG_CODES = {"25006": "read_only", "53100": "disk_full", "55P03": "locked", "57014": "locked",
             "XX001": "damaged", "XX002": "damaged", "58030": "io_error"}
_PG_CLASSES = {"08": "unreachable", "57": "unreachable", "53": "overloaded"}


def classify(exc: BaseException) -> StorageFault | None:
    """The storage fault `exc` is, or None when it is not one (a bug, say)."""
    if isinstance(exc, StorageFault):
        return exc
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        text = str(exc).lower()
        name = getattr(exc, "sqlite_errorname", "") or ""
        for fragment, kind in _SQLITE_MESSAGES:
            if fragment in text:
                return StorageFault(kind, str(exc))
        for prefix, kind in _SQLITE_NAMES:
            if name.startswith(prefix):
                return StorageFault(kind, str(exc))
        return None
    if isinstance(exc, PoolTimeout):
        return StorageFault("unreachable", str(exc))
    if isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.errors.IntegrityError):
        code = exc.sqlstate or ""
        kind = _PG_CODES.get(code) or _PG_CLASSES.get(code[:2])
        if kind is None and isinstance(exc, psycopg.OperationalError) and not code:
            kind = "unreachable"  # the connection itself failed or was lost
        return StorageFault(kind, str(exc).strip().splitlines()[0] if str(exc) else "") \
            if kind else None
    return None
