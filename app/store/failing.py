"""Failing a step on the service's own decision (a deadline passed, its workers went quiet):
the step and its unfinished tasks move to `error` with one message, and the job follows.

The caller decided from rows read outside any transaction; here the step and its tasks are
read again under the job's write lock, and `still` must hold of them, so a report that
arrived in between wins.
"""

from statemachine import TERMINAL, Status, is_legal

from ..db import transaction
from ..errors import MoveRefused
from . import events
from .history import record
from .rows import all_rows, dumps, now, one
from .steps import roll_up, set_step_status


def fail_step(db, seen: dict, message: str, still) -> bool:
    """Move the step `seen` (a row read earlier) to `error` if it is unchanged and
    `still(step, tasks, at)` holds, `at` the time the lock was taken; True when it moved."""
    details = {"message": message}
    with transaction(db, job=(seen["workspace"], seen["job"])):
        at = now()
        job = one(db, "SELECT * FROM jobs WHERE id = ?", (seen["job_id"],))
        step = one(db, "SELECT * FROM steps WHERE seq = ?", (seen["seq"],))
        if (job is None or step is None or step["db_version"] != seen["db_version"]
                or step["attempt_id"] != job["attempt_id"]):
            return False  # moved, rerun or deleted since we looked
        tasks = all_rows(db, "SELECT * FROM tasks WHERE step_id = ? ORDER BY seq", (step["id"],))
        if not still(step, tasks, at):
            return False  # a task reported meanwhile
        for task in tasks:
            if task["status"] not in TERMINAL and is_legal(task["status"], Status.ERROR):
                _fail_task(db, task, job, step["name"], details, at)
        set_step_status(db, step, Status.ERROR.value, at, None, details, details)
        try:
            with transaction(db):  # a savepoint: a refused roll-up keeps the step's move
                roll_up(db, job, at, None, f"the failure of step '{step['name']}'")
        except MoveRefused:
            # As upstream, a job the table will not move to `error` (a `paused` one) keeps
            # its status; its step has failed all the same.
            return True
        if job["status"] != Status.ERROR.value:
            # Upstream gives an attempt that fails its step's error_details.
            db.execute("UPDATE jobs SET error_details = ? WHERE seq = ? AND status = 'error'",
                       (dumps(details), job["seq"]))
    return True


def _fail_task(db, task: dict, job: dict, step: str, details: dict, at: str) -> None:
    status_details = {**(task["status_details"] or {}), **details}
    db.execute("""UPDATE tasks SET status = 'error', status_details = ?, error_details = ?,
                      updated_at = ?, updated_by = NULL, db_version = db_version + 1
                  WHERE seq = ?""", (dumps(status_details), dumps(details), at, task["seq"]))
    record(db, "task", task, job["id"], task["status"], Status.ERROR.value, at, None,
           task["db_version"] + 1)
    events.task_changed(db, one(db, "SELECT * FROM tasks WHERE seq = ?", (task["seq"],)),
                        job["name"], job["id"], step, "updated", task["status"], at, None)
