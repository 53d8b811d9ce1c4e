"""Migrations of an SQLite file, applied exactly once however many processes start at once.

They run under the write lock, so several processes starting together against a new file
apply them once; the others wait on the busy timeout and find nothing to do.
"""

import sqlite3
import time

import sqlite_utils
from sqlite_utils.migrations import Migrations

from ..dialect import SQLite
from ..schema import MIGRATIONS, statements
from .connection import BUSY_TIMEOUT_MS, connect

migrations = Migrations("jobs")


def _register(name: str, migration: list[str]) -> None:
    def apply(db: sqlite_utils.Database) -> None:
        for statement in statements(migration, SQLite):
            db.execute(statement)
    apply.__name__ = name
    migrations(name=name)(apply)


for _name, _migration in MIGRATIONS:
    _register(_name, _migration)


def migrate(path: str) -> list[str]:
    """Apply pending migrations to the database at `path`; return the names applied. A
    database already current is only read, so this never waits on another writer."""
    db = connect(path)
    try:
        if is_current(db):
            return []
        _enable_wal(db)
        with db.transaction():
            pending = [m.name for m in migrations.pending(db)]
            migrations.apply(db)
        return pending
    finally:
        db.close()


def is_current(db) -> bool:
    """Whether every migration is applied: a read, so it never waits on the write lock."""
    try:
        return not migrations.pending(db)
    except sqlite3.OperationalError:
        return False


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
