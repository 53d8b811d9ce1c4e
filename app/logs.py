"""A job's log lines: workers append them, readers page through them with cursors."""

import click
from flask import Blueprint, Flask, current_app, jsonify

from schemas.logs import LogAppendedSchema, LogAppendSchema, LogPageSchema, LogQuerySchema

from . import metrics, store
from .api import OPAQUE, answers, arguments, body, operation
from .cli import database_command
from .db import connect, migrate
from .http import conditional, db

bp = Blueprint("logs", __name__)
_append = LogAppendSchema()
_appended = LogAppendedSchema()
_query = LogQuerySchema()
_page = LogPageSchema()


def _key() -> bytes:
    """The database's cursor key, read once per app."""
    key = current_app.extensions.get("jobs_cursor_key")
    if key is None:
        key = current_app.extensions["jobs_cursor_key"] = store.cursor_key(db())
    return key


@bp.post("/workspaces/<workspace>/jobs/<name>/logs")
@operation("Append log lines")
@body(_append)
@answers(201, _appended, "Every line was stored")
def append_logs(workspace, name, body):
    accepted = store.append_logs(db(), workspace, name, body["data"],
                                 current_app.config["JOBS_LOG_RETENTION_DAYS"])
    metrics.LOG_LINES.inc(accepted)
    return jsonify(_appended.dump({"accepted": accepted})), 201


@bp.get("/workspaces/<workspace>/jobs/<name>/logs")
@operation("List a job's log lines, in timestamp order")
@arguments(_query)
@answers(200, _page, "A page", etag=OPAQUE)
@answers(304)
def read_logs(workspace, name, query):
    page = store.read_logs(db(), workspace, name, query, _key(),
                           current_app.config["JOBS_LOG_RETENTION_DAYS"])
    return conditional(jsonify(_page.dump(page)))  # pollers ask again with If-None-Match


@click.command("prune-logs")
@database_command()
def prune_logs() -> None:
    """Delete log lines older than JOBS_LOG_RETENTION_DAYS (appends also do, a batch at a time)."""
    path, days = current_app.config["JOBS_DB"], current_app.config["JOBS_LOG_RETENTION_DAYS"]
    migrate(path)
    database = connect(path)
    try:
        deleted = store.prune_logs(database, days)
    finally:
        database.close()
    click.echo(f"{deleted} expired log line(s) deleted"
               + (f" (older than {days} days)" if days > 0 else " (retention is off)"))


def init_app(app: Flask) -> None:
    app.cli.add_command(prune_logs)
