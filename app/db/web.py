"""The database's side of the Flask app: the pool, its teardown, this request's connection
and the commands that work on the database itself (init-db, check-db, backup).

The rest of app/db knows nothing of Flask; this module is reached only through
`app.db.init_app`, as flaskr's db.init_app.
"""

import functools
import os
import sqlite3

import click
from flask import Flask, current_app, g
from flask.cli import with_appcontext

from .. import faults
from . import backend_for, backup, describe, migrate, missing, open_pool


def init_app(app: Flask) -> None:
    # Connections open lazily, per thread and per process: nothing is opened here.
    app.extensions["jobs_db"] = open_pool(app.config["JOBS_DB"], app.config["JOBS_DB_POOL_SIZE"],
                                          app.config["JOBS_DB_TIMEOUT_MS"],
                                          app.config["JOBS_SQLITE_SYNCHRONOUS"])
    app.teardown_appcontext(release_db)
    for command in (init_db, check_db, backup_db):
        app.cli.add_command(command)


def db():
    """This request's connection: taken from the pool on first use, given back at teardown."""
    found = g.get("db")
    if found is None:
        found = g.db = current_app.extensions["jobs_db"].get()
    return found


def release_db(_exc=None) -> None:
    found = g.pop("db", None)
    if found is not None:
        current_app.extensions["jobs_db"].release(found)


def database_command(creating: bool = False):
    """For a command working on JOBS_DB: refuse, in one line, an SQLite file that does not
    exist (a mistyped JOBS_DB must not become a new empty database: only init-db, with
    `creating`, and the server's first start make one), and say a storage fault (unreachable,
    read-only, ...) in one line instead of a traceback."""
    def wrap(command):
        @functools.wraps(command)
        def run(*args, **kwargs):
            target = current_app.config["JOBS_DB"]
            problem = missing(target, creating)
            if problem:
                raise click.ClickException(problem)
            try:
                return command(*args, **kwargs)
            except Exception as exc:
                fault = faults.classify(exc, target)
                if fault is None:
                    raise
                raise click.ClickException(f"{describe(target)}: {fault.detail}"
                                           + (f" ({fault.cause})" if fault.cause else "")
                                           ) from None
        return with_appcontext(run)
    return wrap


@click.command("init-db")
@database_command(creating=True)
def init_db() -> None:
    """Create the database file if needed and apply pending migrations."""
    applied = migrate(current_app.config["JOBS_DB"])
    click.echo(f"{describe(current_app.config['JOBS_DB'])}: applied {len(applied)} migration(s)"
               + (f": {', '.join(applied)}" if applied else ""))


@click.command("check-db")
@database_command()
def check_db() -> None:
    """Run SQLite's integrity check on the database and say what to do if it fails."""
    target = current_app.config["JOBS_DB"]
    backend = backend_for(target)
    problems = backend.check(target)  # PostgreSQL's are faults, said by database_command
    if not problems:
        click.echo(backend.checked(target))
        return
    click.echo(f"{target}: DAMAGED — {len(problems)} problem(s), first: {problems[0]}", err=True)
    click.echo(
        "What to do: stop the service; restore the latest backup (`flask --app wsgi backup` "
        "makes them) by copying it over this file and deleting any -wal/-shm files beside it; "
        f"or salvage what is readable with `sqlite3 {target} .recover | sqlite3 recovered.db` "
        "and point JOBS_DB at recovered.db after checking it.", err=True)
    raise SystemExit(1)


@click.command("backup")
@click.argument("destination", type=click.Path(dir_okay=False))
@database_command()
def backup_db(destination: str) -> None:
    """Copy the live database, consistently, to DESTINATION (SQLite's online backup API)."""
    target = current_app.config["JOBS_DB"]
    _check_destination(target, destination)
    try:
        pages = backup(target, destination)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except sqlite3.DatabaseError as exc:  # the destination: the source was opened first
        raise click.ClickException(f"DESTINATION {destination}: cannot write a database "
                                   f"there: {exc}") from None
    click.echo(f"{target} -> {destination}: {pages} pages, consistent as of now. To restore: "
               f"stop the service, copy {destination} over {target}, delete {target}-wal and "
               f"{target}-shm if present, start the service.")


def _check_destination(target: str, destination: str) -> None:
    folder = os.path.dirname(os.path.abspath(destination))
    if not os.path.isdir(folder):
        raise click.ClickException(f"DESTINATION {destination}: the folder {folder} does not "
                                   "exist: create it, or choose another destination")
    if os.path.exists(destination) and os.path.samefile(destination, target):
        raise click.ClickException(f"DESTINATION {destination}: is the live database itself: "
                                   "choose another file")
