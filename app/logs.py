"""A job's log lines: workers append them, readers page through them with cursors."""

import click
from flask import Blueprint, Flask, current_app, jsonify

from schemas.logs import (LogAppendedSchema, LogAppendSchema, LogLineInSchema, LogLineSchema,
                          LogPageSchema, LogQuerySchema)

from . import metrics, store
from .cli import database_command
from .db import connect, migrate
from .docs import (BODY_ERRORS, ERRORS, IF_NONE_MATCH, UNCHANGED, components, documented,
                   json_answer, polled_answer)
from .http import check_names, conditional, db, json_body, load, query_args

bp = Blueprint("logs", __name__)
_append = LogAppendSchema()
_appended = LogAppendedSchema()
_query = LogQuerySchema()
_page = LogPageSchema()
components({"PlatformJobLogLineCreate": LogLineInSchema, "PlatformJobLogAppend": LogAppendSchema})
components({"PlatformJobLog": LogLineSchema, "PlatformJobLogPage": LogPageSchema,
            "PlatformJobLogAppended": LogAppendedSchema}, answers=True)
QUERY = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                 "maximum": 1000, "default": 100}},
    {"name": "page_cursor", "in": "query", "schema": {"type": "string", "maxLength": 1024},
     "description": "next_page or prev_page of an earlier answer (same job and filters)"},
    {"name": "step_id", "in": "query", "schema": {"type": "string", "pattern":
                                                   _query.fields["step_id"].metadata["pattern"]},
     "description": "Only this step's lines (a step name)"},
    {"name": "task_id", "in": "query", "schema": {"type": "string", "pattern":
                                                   _query.fields["task_id"].metadata["pattern"]},
     "description": "Only this task's lines (a task name)"},
    {"name": "attempt_id", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                      "maximum": 1_000_000},
     "description": "1 for the first attempt, 2 after one rerun, ...; default the current"},
]


def _key() -> bytes:
    """The database's cursor key, read once per app."""
    key = current_app.extensions.get("jobs_cursor_key")
    if key is None:
        key = current_app.extensions["jobs_cursor_key"] = store.cursor_key(db())
    return key


@documented(bp, "post", "/workspaces/<workspace>/jobs/<name>/logs", "Append log lines",
            ok=("201", json_answer("PlatformJobLogAppended", "Every line was stored")),
            body="PlatformJobLogAppend", errors=BODY_ERRORS)
def append_logs(workspace, name):
    check_names(workspace=workspace, name=name)
    lines = load(_append, json_body())["data"]
    accepted = store.append_logs(db(), workspace, name, lines,
                                 current_app.config["JOBS_LOG_RETENTION_DAYS"])
    metrics.LOG_LINES.inc(accepted)
    return jsonify(_appended.dump({"accepted": accepted})), 201


@documented(bp, "get", "/workspaces/<workspace>/jobs/<name>/logs",
            "List a job's log lines, in timestamp order",
            ok=("200", polled_answer("PlatformJobLogPage", "A page")), query=QUERY,
            errors={**ERRORS, **UNCHANGED}, headers=[IF_NONE_MATCH])
def read_logs(workspace, name):
    check_names(workspace=workspace, name=name)
    query = query_args(_query)
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
