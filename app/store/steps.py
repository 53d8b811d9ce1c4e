"""Steps: reading them, moving them, and keeping their job's status in step with them."""

from statemachine import allowed_targets, is_legal, job_status

from ..db import transaction
from ..errors import MoveRefused
from . import events
from .fields import status_moved
from .history import record
from .rows import all_rows, check_version, dumps, job_missing, now, one, step_missing


def with_config(step: dict) -> dict:
    """A step as the API shows it: its spec's `config` lifted to the top."""
    step["config"] = (step.get("step_spec") or {}).get("config") or {}
    return step


def find_step(db, workspace: str, job: str, name: str) -> tuple[dict, dict]:
    """The job and its current attempt's step `name`."""
    found = one(db, "SELECT * FROM jobs WHERE workspace = ? AND name = ?", (workspace, job))
    if found is None:
        raise job_missing(workspace, job)
    step = one(db, "SELECT * FROM steps WHERE attempt_id = ? AND name = ?",
               (found["attempt_id"], name))
    if step is None:
        raise step_missing(workspace, job, name)
    return found, with_config(step)


def get_step(db, workspace: str, job: str, name: str) -> dict:
    return find_step(db, workspace, job, name)[1]


def attempt_steps(db, attempt_id: str) -> list[dict]:
    """The attempt's steps in spec order."""
    return [with_config(s) for s in
            all_rows(db, "SELECT * FROM steps WHERE attempt_id = ? ORDER BY seq", (attempt_id,))]


def set_step_status(db, step: dict, status: str, at: str, by, status_details=None,
                    error_details=None) -> None:
    details = {**step["status_details"], **(status_details or {})}
    record(db, "step", step, step["job_id"], step["status"], status, at, by,
           step["db_version"] + 1)
    db.execute(
        """UPDATE steps SET status = ?, status_details = ?,
               error_details = COALESCE(?, error_details),
               updated_at = ?, updated_by = ?, db_version = db_version + 1
           WHERE seq = ?""",
        (status, dumps(details), None if error_details is None else dumps(error_details),
         at, by, step["seq"]),
    )
    events.step_changed_at(db, step["seq"], step["status"], at, by)


def roll_up(db, job: dict, at: str, by, cause: str) -> None:
    """Give the job the status its current steps imply, if the table allows the move.

    `cause` names what moved the steps, for the refusal message; a refusal undoes the
    whole transaction, steps included.
    """
    statuses = [r[0] for r in db.execute("SELECT status FROM steps WHERE attempt_id = ?",
                                         (job["attempt_id"],))]
    target = job_status(statuses).value
    if target == job["status"]:
        return
    if not is_legal(job["status"], target):
        raise MoveRefused(
            "job", f"Cannot apply {cause}: job '{job['name']}' would move from '{job['status']}' to "
            f"'{target}', which the table forbids.",
            job["status"], target, [s.value for s in allowed_targets(job["status"])],
        )
    db.execute(
        """UPDATE jobs SET status = ?, updated_at = ?, updated_by = ?,
               db_version = db_version + 1 WHERE seq = ?""",
        (target, at, by, job["seq"]),
    )
    status_moved(db, job["seq"], target)
    record(db, "job", job, job["id"], job["status"], target, at, by, job["db_version"] + 1)
    events.job_changed_at(db, job["seq"], job["status"], at, by)


def update_step_status(db, workspace: str, job: str, name: str,
                       update: dict, if_match=None, by: str | None = None) -> tuple[dict, tuple]:
    """The step moved, and its job's mark after the move (app/store/events.py `job_mark`)."""
    at = now()
    with transaction(db, job=(workspace, job)):
        found, step = find_step(db, workspace, job, name)
        check_version("step", step["db_version"], if_match)
        source, target = step["status"], update["status"]
        if not is_legal(source, target):
            raise MoveRefused.for_move("step", name, source, target)
        set_step_status(db, step, target, at, by, update.get("status_details"),
                        update.get("error_details"))
        roll_up(db, found, at, by, f"the move of step '{name}' to '{target}'")
        # The mark in the write's own transaction: it tags exactly what the answer shows.
        return get_step(db, workspace, job, name), events.job_mark(db, workspace, job)
