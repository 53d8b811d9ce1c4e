"""A consistent copy of a live SQLite database."""

import sqlite3


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
