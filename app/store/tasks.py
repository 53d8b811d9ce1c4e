"""Tasks: the workers' progress reports, created or updated by one PUT."""

import json

from statemachine import Status, allowed_targets, is_legal

from ..db import transaction
from ..errors import MoveRefused
from . import events, history, lists
from .history import record
from .rows import (check_version, dumps, job_missing, new_id, now, one, returning,
                   rows_sharing_json, step_missing, task_missing)
from .jobs import write_status_details

# Under a step in one of these, a task may only end (or stay where it is).
CLOSED_STEP = frozenset({Status.COMPLETED, Status.ERROR, Status.CANCELLING, Status.CANCELLED})
ENDINGS = (Status.CANCELLED, Status.ERROR, Status.COMPLETED)

# One read resolves job, current-attempt step and task, and tells which one is missing.
_LOCATE_TASK = """
    SELECT j.seq AS job_seq, j.id AS job_id, j.status_details AS job_status_details,
           s.id AS step_id, s.status AS step_status,
           t.seq AS task_seq, t.status AS task_status, t.status_details AS task_status_details,
           t.db_version AS task_version
    FROM jobs j
    LEFT JOIN steps s ON s.attempt_id = j.attempt_id AND s.name = ?
    LEFT JOIN tasks t ON t.step_id = s.id AND t.name = ?
    WHERE j.workspace = ? AND j.name = ?"""


def _locate_task(db, workspace, job, step, name) -> dict:
    found = one(db, _LOCATE_TASK, (step, name, workspace, job))
    if found is None:
        raise job_missing(workspace, job)
    if found["step_id"] is None:
        raise step_missing(workspace, job, step)
    return found


def list_tasks(db, step_id: str, query: dict | None = None):
    """Every task of the step in arrival order, or (`query`: a loaded page query) a page."""
    if query is not None:
        return lists.list_tasks(db, step_id, query)
    return rows_sharing_json(db, "SELECT * FROM tasks WHERE step_id = ? ORDER BY seq",
                                   (step_id,))


def get_task(db, workspace: str, job: str, step: str, name: str) -> dict:
    found = _locate_task(db, workspace, job, step, name)
    if found["task_seq"] is None:
        raise task_missing(workspace, job, step, name)
    return one(db, "SELECT * FROM tasks WHERE seq = ?", (found["task_seq"],))


def task_history(db, workspace: str, job: str, step: str, name: str, page_number: int,
                 size: int) -> dict:
    task = get_task(db, workspace, job, step, name)
    return history.page(db, "entity_id = ?", [task["id"]], page_number, size)


def _refuse_under_closed_step(name, step, step_status, current, target) -> None:
    """A task under a finished or cancelling step may only end, or stay where it is."""
    if step_status not in CLOSED_STEP or target in ENDINGS or target == current:
        return
    legal = set(allowed_targets(current)) if current else set(ENDINGS)
    allowed = [s.value for s in ENDINGS if s in legal]
    if current:
        message = (f"Cannot move task '{name}' from '{current}' to '{target}': its step "
                   f"'{step}' is '{step_status}', so its tasks may only become 'cancelled', "
                   f"'error' or 'completed'.")
    else:
        message = (f"Cannot create task '{name}' in '{target}': its step '{step}' is "
                   f"'{step_status}', so new tasks may only be 'cancelled', 'error' or "
                   f"'completed'.")
    raise MoveRefused("task", message, current or target, target, allowed)


def put_task(db, workspace: str, job: str, step: str, name: str,
             update: dict, if_match=None, by: str | None = None) -> dict:
    """Create or update a task under the rules of docs/api.md; returns the stored task.

    The job is shared with other tasks' reports (app/db/dialect.py): its steps cannot move
    meanwhile, so the step status read here holds to the commit. The task's row is the first
    row locked, and the job's row, when status_details merge into it, the last."""
    at = now()
    with transaction(db, job=(workspace, job), shared=True):
        found = _locate_task(db, workspace, job, step, name)
        looked_at = found["task_version"]
        found.update(_lock_task(db, found["step_id"], name))
        current = found["task_status"]
        check_version("task", found["task_version"], if_match)
        target = update.get("status") or current or Status.PENDING.value
        _refuse_under_closed_step(name, step, found["step_status"], current, target)
        if current is None:
            task = _create_task(db, found, name, target, update, at, by)
        else:
            if not is_legal(current, target):
                raise MoveRefused.for_move("task", name, current, target)
            task = _update_task(db, found, target, update, at, by)
        record(db, "task", task, found["job_id"], current, target, at, by, task["db_version"])
        events.task_changed(db, task, job, found["job_id"], step,
                            "created" if current is None else "updated", current, at, by)
        if update.get("status_details"):
            # The job's details as first read are still those the task's last write left
            # when no write of the task came in between.
            _merge_job_status_details(db, found, update["status_details"], at, by,
                                      found["task_version"] == looked_at)
        return task


_LOCK_TASK = """SELECT seq AS task_seq, status AS task_status,
                       status_details AS task_status_details, db_version AS task_version
                FROM tasks WHERE step_id = ? AND name = ?"""
_NO_TASK = {"task_seq": None, "task_status": None, "task_status_details": None,
            "task_version": None}


def _lock_task(db, step_id: str, name: str) -> dict:
    """What the lookup read of the task, read again and locked (the lookup's outer join
    cannot lock it), once the task's own lock is held (app/db/dialect.py): the task's
    writers queue there, creators too, so the second finds the first's row. Nothing on
    SQLite, where no other writer can have come in between."""
    if not db.dialect.lock_task:  # SQLite: the lookup read under the write lock already
        return {}
    db.execute(db.dialect.lock_task, (step_id, name))
    return one(db, _LOCK_TASK + " FOR UPDATE", (step_id, name)) or _NO_TASK


def _create_task(db, found, name, status, update, at, by) -> dict:
    return returning(
        db,
        """INSERT INTO tasks (id, step_id, workspace, project, name, status, status_details,
               error_details, error_stack, created_at, created_by, updated_at, updated_by,
               db_version)
           SELECT ?, s.id, s.workspace, s.project, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1
           FROM steps s WHERE s.id = ? RETURNING *""",
        (new_id("task"), name, status, dumps(update.get("status_details", {})),
         dumps(update.get("error_details", {})), update.get("error_stack", ""),
         at, by, at, by, found["step_id"]),
    )


def _update_task(db, found, status, update, at, by) -> dict:
    details = json.loads(found["task_status_details"] or "{}")
    details.update(update.get("status_details", {}))
    error_details = update.get("error_details")
    return returning(
        db,
        """UPDATE tasks SET status = ?, status_details = ?,
               error_details = COALESCE(?, error_details),
               error_stack = COALESCE(?, error_stack),
               updated_at = ?, updated_by = ?, db_version = db_version + 1
           WHERE seq = ? RETURNING *""",
        (status, dumps(details), None if error_details is None else dumps(error_details),
         update.get("error_stack"), at, by, found["task_seq"]),
    )


def _merge_job_status_details(db, found, details: dict, at, by, seen_is_current) -> None:
    """The report's only write to the job's row, last, so that the row's lock is held for
    this and the commit alone. Details the job already had (as `found` read them, when
    `seen_is_current`) change nothing: no write."""
    seen = json.loads(found["job_status_details"] or "{}")
    if seen_is_current and {**seen, **details} == seen:  # a repeated report
        return
    if db.dialect.merge_job_details:  # one statement: the row's lock is taken and used at once
        text = dumps(details)
        db.execute(db.dialect.merge_job_details, (text, text, at, by, found["job_seq"], text))
    elif {**seen, **details} != seen:  # under the write lock, what `found` read is current
        write_status_details(db, found["job_seq"], {**seen, **details}, at, by)
