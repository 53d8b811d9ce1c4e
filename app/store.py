"""Reads and check-and-set writes of jobs, steps and tasks.

Every write runs in one BEGIN IMMEDIATE transaction: the rows a decision depends on are
read after the write lock is taken, so no other writer can change them before the write.
Queries go through `execute` with fixed SQL; sqlite-utils' convenience methods inspect the
schema on each call and are kept for migrations.
"""

import json
import sqlite3
import uuid
from datetime import datetime, timezone

import sqlite_utils

from statemachine import IllegalTransition, Status, allowed_targets, check_move

from .db import immediate
from .errors import Conflict, MoveRefused, NotFound, PreconditionFailed

JSON_COLUMNS = frozenset({
    "spec", "platform_spec", "status_details", "error_details", "ownership",
    "custom_fields", "step_spec",
})
# Under a step in one of these, a task may only end (or stay where it is).
CLOSED_STEP = frozenset({Status.COMPLETED, Status.ERROR, Status.CANCELLING, Status.CANCELLED})
ENDINGS = (Status.CANCELLED, Status.ERROR, Status.COMPLETED)


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


def _dumps(value) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _row(cursor: sqlite3.Cursor, values) -> dict:
    return {
        col[0]: json.loads(v) if col[0] in JSON_COLUMNS and v is not None else v
        for col, v in zip(cursor.description, values)
    }


def _one(db: sqlite_utils.Database, sql: str, params) -> dict | None:
    cursor = db.execute(sql, params)
    values = cursor.fetchone()
    return None if values is None else _row(cursor, values)


def _all(db: sqlite_utils.Database, sql: str, params) -> list[dict]:
    cursor = db.execute(sql, params)
    return [_row(cursor, values) for values in cursor.fetchall()]


def _check_version(kind: str, current: int | None, if_match) -> None:
    """If-Match: None (absent), "*" (any existing version) or the version it names."""
    if if_match is None:
        return
    if current is None:
        raise PreconditionFailed(f"If-Match cannot hold: the {kind} does not exist yet.")
    if if_match != "*" and if_match != current:
        raise PreconditionFailed(
            f"If-Match does not hold: the {kind} is at version {current}, not {if_match}."
        )


# ---- not-found texts -------------------------------------------------------------------

def _job_missing(workspace, job):
    return NotFound(f"Job '{job}' not found in workspace '{workspace}'.")


def _step_missing(workspace, job, step):
    return NotFound(f"Step '{step}' for job '{job}' not found in workspace '{workspace}'.")


def _task_missing(workspace, job, step, task):
    return NotFound(
        f"Task '{task}' for step '{step}' of job '{job}' not found in workspace '{workspace}'."
    )


# ---- jobs --------------------------------------------------------------------------------

def create_job(db: sqlite_utils.Database, workspace: str, data: dict, by: str | None) -> dict:
    name = data.get("name") or f"job-{uuid.uuid4().hex[:12]}"
    at = now()
    job = {
        "id": new_id("job"), "workspace": workspace, "name": name,
        "project": data["project"], "description": data["description"],
        "source": data["source"], "spec": data["spec"], "platform_spec": data["platform_spec"],
        "attempt_id": new_id("attempt"), "fileset": name, "status": Status.CREATED.value,
        "status_details": {}, "error_details": {},
        "ownership": data["ownership"], "custom_fields": data["custom_fields"],
        "created_at": at, "created_by": by, "updated_at": at, "updated_by": by, "db_version": 1,
    }
    with immediate(db):
        if db.execute("SELECT 1 FROM jobs WHERE workspace = ? AND name = ?",
                      (workspace, name)).fetchone():
            raise Conflict(f"Job '{name}' already exists in workspace '{workspace}'.")
        _insert(db, "jobs", job)
        _insert_steps(db, job, at, by)
    return job


def _insert(db: sqlite_utils.Database, table: str, row: dict) -> None:
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    values = [_dumps(v) if k in JSON_COLUMNS and v is not None else v for k, v in row.items()]
    db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", values)


def _insert_steps(db: sqlite_utils.Database, job: dict, at: str, by: str | None) -> None:
    # Inserted in spec order: `seq` then lists them in that order.
    for spec in job["platform_spec"]["steps"]:
        _insert(db, "steps", {
            "id": new_id("step"), "job_id": job["id"], "attempt_id": job["attempt_id"],
            "workspace": job["workspace"], "project": job["project"], "name": spec["name"],
            "step_spec": spec, "status": Status.CREATED.value,
            "status_details": {}, "error_details": {},
            "created_at": at, "created_by": by, "updated_at": at, "updated_by": by,
            "db_version": 1,
        })


def get_job(db: sqlite_utils.Database, workspace: str, name: str) -> dict:
    job = _one(db, "SELECT * FROM jobs WHERE workspace = ? AND name = ?", (workspace, name))
    if job is None:
        raise _job_missing(workspace, name)
    return job


# ---- steps -------------------------------------------------------------------------------

def get_step(db: sqlite_utils.Database, workspace: str, job: str, name: str) -> dict:
    """The step `name` of the job's current attempt."""
    row = _one(db, """
        SELECT j.seq AS job_seq, s.* FROM jobs j
        LEFT JOIN steps s ON s.attempt_id = j.attempt_id AND s.name = ?
        WHERE j.workspace = ? AND j.name = ?""", (name, workspace, job))
    if row is None:
        raise _job_missing(workspace, job)
    if row["id"] is None:
        raise _step_missing(workspace, job, name)
    del row["job_seq"]
    return with_config(row)


def with_config(step: dict) -> dict:
    step["config"] = (step.get("step_spec") or {}).get("config") or {}
    return step


# ---- tasks -------------------------------------------------------------------------------

_LOCATE_TASK = """
    SELECT j.seq AS job_seq, j.status_details AS job_status_details,
           s.id AS step_id, s.status AS step_status, s.project AS step_project,
           t.seq AS task_seq, t.status AS task_status, t.status_details AS task_status_details,
           t.db_version AS task_version
    FROM jobs j
    LEFT JOIN steps s ON s.attempt_id = j.attempt_id AND s.name = ?
    LEFT JOIN tasks t ON t.step_id = s.id AND t.name = ?
    WHERE j.workspace = ? AND j.name = ?"""


def _locate_task(db, workspace, job, step, name) -> dict:
    cursor = db.execute(_LOCATE_TASK, (step, name, workspace, job))
    values = cursor.fetchone()
    if values is None:
        raise _job_missing(workspace, job)
    row = dict(zip((c[0] for c in cursor.description), values))
    if row["step_id"] is None:
        raise _step_missing(workspace, job, step)
    return row


def list_tasks(db: sqlite_utils.Database, workspace: str, job: str, step: str) -> list[dict]:
    found = get_step(db, workspace, job, step)
    return _all(db, "SELECT * FROM tasks WHERE step_id = ? ORDER BY seq", (found["id"],))


def get_task(db: sqlite_utils.Database, workspace: str, job: str, step: str, name: str) -> dict:
    row = _locate_task(db, workspace, job, step, name)
    if row["task_seq"] is None:
        raise _task_missing(workspace, job, step, name)
    return _one(db, "SELECT * FROM tasks WHERE seq = ?", (row["task_seq"],))


def _refuse_under_closed_step(name, step, step_status, current, target) -> None:
    """A task under a finished or cancelling step may only end, or stay where it is."""
    if step_status not in CLOSED_STEP or target in ENDINGS or target == current:
        return
    legal = set(allowed_targets(current)) if current else set(ENDINGS)
    allowed = [s.value for s in ENDINGS if s in legal]
    source = current or target
    raise MoveRefused(
        f"Cannot move task '{name}' from '{source}' to '{target}': its step '{step}' is "
        f"'{step_status}', so its tasks may only become 'cancelled', 'error' or 'completed'."
        if current else
        f"Cannot create task '{name}' in '{target}': its step '{step}' is '{step_status}', "
        f"so new tasks may only be 'cancelled', 'error' or 'completed'.",
        source, target, allowed,
    )


def put_task(db: sqlite_utils.Database, workspace: str, job: str, step: str, name: str,
             update: dict, if_match=None, by: str | None = None) -> dict:
    """Create or update a task under the rules of API.md; returns the stored task."""
    at = now()
    with immediate(db):
        row = _locate_task(db, workspace, job, step, name)
        current = row["task_status"]
        _check_version("task", row["task_version"], if_match)
        target = update.get("status") or current or Status.PENDING.value
        _refuse_under_closed_step(name, step, row["step_status"], current, target)
        if current is None:
            task_seq = _create_task(db, row, name, target, update, at, by)
        else:
            try:
                check_move(current, target, f"task '{name}'")
            except IllegalTransition as exc:
                raise MoveRefused.from_illegal(exc) from None
            task_seq = row["task_seq"]
            _update_task(db, row, target, update, at, by)
        if update.get("status_details"):
            _merge_job_status_details(db, row, update["status_details"], at, by)
        return _one(db, "SELECT * FROM tasks WHERE seq = ?", (task_seq,))


def _create_task(db, row, name, status, update, at, by) -> int:
    cursor = db.execute(
        """INSERT INTO tasks (id, step_id, workspace, project, name, status, status_details,
               error_details, error_stack, created_at, created_by, updated_at, updated_by,
               db_version)
           SELECT ?, s.id, s.workspace, s.project, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1
           FROM steps s WHERE s.id = ?""",
        (new_id("task"), name, status, _dumps(update.get("status_details", {})),
         _dumps(update.get("error_details", {})), update.get("error_stack", ""),
         at, by, at, by, row["step_id"]),
    )
    return cursor.lastrowid


def _update_task(db, row, status, update, at, by) -> None:
    details = json.loads(row["task_status_details"] or "{}")
    details.update(update.get("status_details", {}))
    error_details = update.get("error_details")
    db.execute(
        """UPDATE tasks SET status = ?, status_details = ?,
               error_details = COALESCE(?, error_details),
               error_stack = COALESCE(?, error_stack),
               updated_at = ?, updated_by = ?, db_version = db_version + 1
           WHERE seq = ?""",
        (status, _dumps(details), None if error_details is None else _dumps(error_details),
         update.get("error_stack"), at, by, row["task_seq"]),
    )


def _merge_job_status_details(db, row, details: dict, at, by) -> None:
    merged = json.loads(row["job_status_details"] or "{}")
    merged.update(details)
    db.execute(
        """UPDATE jobs SET status_details = ?, updated_at = ?, updated_by = ?,
               db_version = db_version + 1 WHERE seq = ?""",
        (_dumps(merged), at, by, row["job_seq"]),
    )
