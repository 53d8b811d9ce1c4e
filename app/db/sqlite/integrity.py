"""What SQLite's own checks of its pages say about an open database."""

import sqlite3


def _complaints(db, check: str) -> list[str]:
    """What SQLite's `check` pragma finds, each on one line; [] when the file is whole."""
    try:
        rows = [r[0] for r in db.execute(f"PRAGMA {check}").fetchall()]
    except sqlite3.DatabaseError as exc:
        rows = [str(exc)]
    return [] if rows == ["ok"] else [" ".join(row.split()) for row in rows]


def quick_check(db) -> str | None:
    """SQLite's quick_check: None when the file is whole, else its complaints in one line."""
    return "; ".join(_complaints(db, "quick_check(5)")) or None


def full_check(db) -> list[str]:
    """SQLite's full integrity check: [] when the file is whole, else its complaints."""
    return _complaints(db, "integrity_check(20)")
