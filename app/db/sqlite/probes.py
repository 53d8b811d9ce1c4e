"""Whether the storage under an open SQLite connection is usable now, without writing.

Readiness pings while no fault is known and probes during one (app/health.py); a write
first checks that its file still exists.
"""

import os

from ... import faults
from .integrity import quick_check

# How much space must come free before a full disk counts as usable again (a write of one
# task takes a few pages); a write that succeeds ends the fault sooner.
FREED_ENOUGH = 64 * 1024


def ping(db) -> None:
    """A read that fails when the file cannot be opened or its schema is damaged; and
    storage gone read-only, which no read would notice."""
    db.execute("SELECT 1 FROM _sqlite_migrations LIMIT 1").fetchall()
    refuse_if_deleted(db.target)
    if storage_is_read_only(db.target):
        raise faults.StorageFault("read_only", f"{os.path.dirname(db.target)} is read-only")


def probe(db, fault: dict) -> None:
    """Whether a fault is over, without writing: space freed since the disk filled
    (64 KiB at least), storage writable again, SQLite's quick_check passing for a
    damaged file, and SQLite's write lock free to take."""
    kind = fault.get("kind")
    if kind == "disk_full":
        free, then = faults.free_bytes(db.target), fault.get("free_bytes") or 0
        if free is not None and free < then + FREED_ENOUGH:
            raise faults.StorageFault("disk_full", f"{free} bytes free")
    if kind == "damaged":
        problem = quick_check(db)
        if problem:
            raise faults.StorageFault("damaged", problem)
    ping(db)
    try:
        db.conn.execute("BEGIN IMMEDIATE")
    finally:
        if db.conn.in_transaction:
            db.conn.execute("ROLLBACK")


def refuse_if_deleted(path: str) -> None:
    """An open connection to a file deleted since (or whose folder was) still takes
    writes, which vanish with it: refuse them, naming what is missing. A stat a write."""
    if path == ":memory:" or os.path.exists(path):
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise faults.StorageFault("folder_missing", "deleted while open", folder=folder)
    raise faults.StorageFault("file_missing", "deleted while open", path=path)


def storage_is_read_only(path: str) -> bool:
    try:
        return bool(os.statvfs(os.path.dirname(os.path.abspath(path))).f_flag & os.ST_RDONLY)
    except OSError:
        return False
