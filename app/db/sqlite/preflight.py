"""Judging an SQLite path before a server or a command uses it: is it there, writable, whole.

Each answer is one line an operator can act on, or None when nothing is wrong.
"""

import os
import sqlite3

from .connection import connect
from .integrity import full_check, quick_check
from .probes import storage_is_read_only


def missing_folder(path: str) -> str | None:
    """Why `path` cannot even be created, in one line: its folder does not exist (a mistyped
    JOBS_DB, most likely); None when it can."""
    folder = os.path.dirname(os.path.abspath(path))
    if path == ":memory:" or os.path.isdir(folder):
        return None
    return f"JOBS_DB={path}: the folder {folder} does not exist: create it, or correct JOBS_DB"


def missing(path: str) -> str | None:
    """Why `path` is no database to work on, in one line; None when it is one. Commands
    other than init-db refuse a file that does not exist rather than create an empty one."""
    problem = missing_folder(path)
    if problem or path == ":memory:" or os.path.isfile(path):
        return problem
    return (f"JOBS_DB={path}: no such database file: correct JOBS_DB, or create the database "
            "with `flask --app wsgi init-db`")


def check_at_start(path: str) -> str | None:
    """What stops a server from starting on this file, in one line; None when nothing does.
    A missing folder, read-only storage and a damaged file are refused here rather than
    served; a missing file in a folder that exists is created (the first start)."""
    folder = os.path.dirname(os.path.abspath(path))
    problem = missing_folder(path)
    if problem:
        return problem
    if storage_is_read_only(path) or (os.path.isdir(folder) and not os.access(folder, os.W_OK)):
        return (f"the storage of the database {path} ({folder}) is read-only: make it "
                "writable, then start again")
    if not os.path.exists(path):
        return None
    try:
        db = connect(path)
        try:
            problem = quick_check(db)
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        problem = str(exc)
    if problem:
        return (f"the database file {path} is damaged ({problem}): run `flask --app wsgi "
                "check-db`, and restore it from a backup")
    return None


def integrity_check(path: str) -> list[str]:
    """SQLite's full integrity check of the file: [] when it is whole, else its complaints."""
    try:
        db = connect(path)
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    try:
        return full_check(db)
    finally:
        db.close()
