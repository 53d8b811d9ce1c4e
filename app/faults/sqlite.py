"""Which SQLite errors are storage faults, and of which kind."""

import sqlite3

from .fault import StorageFault

# SQLite says what went wrong only in its message (the extended codes arrive in 3.11's
# sqlite_errorname, kept as a fallback for messages that change between versions).
_MESSAGES = [
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
_NAMES = [("SQLITE_FULL", "disk_full"), ("SQLITE_READONLY", "read_only"),
          ("SQLITE_BUSY", "locked"), ("SQLITE_LOCKED", "locked"),
          ("SQLITE_CORRUPT", "damaged"), ("SQLITE_NOTADB", "damaged"),
          ("SQLITE_IOERR", "io_error"), ("SQLITE_CANTOPEN", "unreachable")]


def classify(exc: BaseException) -> StorageFault | None:
    """The fault an sqlite3 error is; None for anything else (a constraint, a bug)."""
    if not isinstance(exc, sqlite3.DatabaseError) or isinstance(exc, sqlite3.IntegrityError):
        return None
    text = str(exc).lower()
    name = getattr(exc, "sqlite_errorname", "") or ""
    for fragment, kind in _MESSAGES:
        if fragment in text:
            return StorageFault(kind, str(exc))
    for prefix, kind in _NAMES:
        if name.startswith(prefix):
            return StorageFault(kind, str(exc))
    return None
