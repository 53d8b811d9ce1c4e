"""Jobs: creation, reading, deletion, status details, actions, reruns and status trees."""

import uuid

from statemachine import (ACTION_HOLDS_WHEN_TERMINAL, ACTIONS, TERMINAL, Status,
                          allowed_targets, is_legal)

from ..db import transaction
from ..errors import Conflict, MoveRefused
from . import events, history
from .fields import delete_fields, status_moved, write_fields
from .history import record
from .rows import (check_version, dumps, insert, job_missing, new_id, now, one,
                   rows_sharing_json)
from .steps import attempt_steps, roll_up, set_step_status, with_config
from .tally import tally, task_counts


def create_job(db, workspace: str, data: dict, by: str | None) -> dict:
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
    taken = Conflict(f"Job '{name}' already exists in workspace '{workspace}'.")
    try:
        # No row to lock yet: on PostgreSQL two creators may both pass the check, and the
        # unique index on (workspace, name) refuses the second.
        with transaction(db):
            if db.execute("SELECT 1 FROM jobs WHERE workspace = ? AND name = ?",
                          (workspace, name)).fetchone():
                raise taken
            insert(db, "jobs", job)
            write_fields(db, job)
            record(db, "job", job, job["id"], None, job["status"], at, by, 1)
            events.job_changed(db, job, "created", None, at, by)
            _insert_steps(db, job, at, by)
    except db.IntegrityError:
        raise taken from None
    return job


def _insert_steps(db, job: dict, at: str, by) -> None:
    # Inserted in spec order: `seq` then lists them in that order.
    for spec in job["platform_spec"]["steps"]:
        step = {
            "id": new_id("step"), "job_id": job["id"], "attempt_id": job["attempt_id"],
            "workspace": job["workspace"], "project": job["project"], "name": spec["name"],
            "step_spec": spec, "status": Status.CREATED.value,
            "status_details": {}, "error_details": {},
            "created_at": at, "created_by": by, "updated_at": at, "updated_by": by,
            "db_version": 1,
        }
        insert(db, "steps", step)
        record(db, "step", step, job["id"], None, step["status"], at, by, 1)
        events.step_changed(db, with_config(step), job["name"], "created", None, at, by)


def get_job(db, workspace: str, name: str) -> dict:
    job = one(db, "SELECT * FROM jobs WHERE workspace = ? AND name = ?", (workspace, name))
    if job is None:
        raise job_missing(workspace, name)
    return job


def job_history(db, workspace: str, name: str, page_number: int, size: int) -> dict:
    """The job's changes and those of every step and task under it, all attempts."""
    job = get_job(db, workspace, name)
    return history.page(db, "job_id = ?", [job["id"]], page_number, size)


def delete_job(db, workspace: str, name: str, if_match=None, by: str | None = None) -> None:
    """Remove the job with every attempt's steps, their tasks, the job's history, results
    (the records; artifact files are the workers') and log lines."""
    with transaction(db, job=(workspace, name)):
        job = get_job(db, workspace, name)
        check_version("job", job["db_version"], if_match)
        delete_tree(db, job)
        events.job_deleted(db, job, now(), by)


def delete_tree(db, job: dict) -> None:
    """Delete the job (a row with `seq` and `id`) and all that hangs off it, inside the
    caller's transaction."""
    db.execute("DELETE FROM tasks WHERE step_id IN (SELECT id FROM steps WHERE job_id = ?)",
               (job["id"],))
    db.execute("DELETE FROM steps WHERE job_id = ?", (job["id"],))
    db.execute("DELETE FROM history WHERE job_id = ?", (job["id"],))
    db.execute("DELETE FROM results WHERE job_id = ?", (job["id"],))
    db.execute("DELETE FROM logs WHERE job_id = ?", (job["id"],))
    delete_fields(db, job["seq"])
    db.execute("DELETE FROM jobs WHERE seq = ?", (job["seq"],))


def merge_status_details(db, workspace: str, name: str, details: dict,
                         if_match=None, by: str | None = None) -> dict:
    with transaction(db, job=(workspace, name)):
        job = get_job(db, workspace, name)
        check_version("job", job["db_version"], if_match)
        at = now()
        write_status_details(db, job["seq"], {**job["status_details"], **details}, at, by)
        events.job_changed_at(db, job["seq"], None, at, by)
        return get_job(db, workspace, name)


def write_status_details(db, job_seq: int, details: dict, at: str, by: str | None) -> None:
    """Store a job's merged status_details. A task's report that merges into its job appends
    only the task's event (the caller's): one event per write, about what it wrote to."""
    db.execute(
        """UPDATE jobs SET status_details = ?, updated_at = ?, updated_by = ?,
               db_version = db_version + 1 WHERE seq = ?""",
        (dumps(details), at, by, job_seq),
    )


def act(db, workspace: str, name: str, action: str, if_match=None,
        by: str | None = None) -> dict:
    """cancel, pause or resume: move the current attempt's steps, then roll the job up."""
    asks = ACTIONS[action]
    at = now()
    with transaction(db, job=(workspace, name)):
        job = get_job(db, workspace, name)
        check_version("job", job["db_version"], if_match)
        if job["status"] in TERMINAL:
            if ACTION_HOLDS_WHEN_TERMINAL.get(action) == job["status"]:
                return job
            raise _refused(job, action, f"it is '{job['status']}', which is terminal",
                           job["status"], job["status"])
        moves = [(step, asks[step["status"]]) for step in attempt_steps(db, job["attempt_id"])
                 if step["status"] in asks and asks[step["status"]] != step["status"]]
        for step, target in moves:
            if not is_legal(step["status"], target):
                raise _refused(job, action, f"step '{step['name']}' is '{step['status']}' and "
                               f"cannot move to '{target}'", step["status"], target, "step")
        for step, target in moves:
            set_step_status(db, step, target, at, by)
        if moves:
            roll_up(db, job, at, by, f"{action} to job '{name}'")
        return get_job(db, workspace, name)


def _refused(job, action, reason, source, target, kind="job") -> MoveRefused:
    return MoveRefused(kind, f"Cannot {action} job '{job['name']}': {reason}.", source, target,
                       [s.value for s in allowed_targets(source)], loc=("path", "name"))


def rerun(db, workspace: str, name: str, if_match=None,
          by: str | None = None) -> dict:
    """Start a new attempt of a finished job; the old attempt's steps and tasks are kept."""
    at = now()
    with transaction(db, job=(workspace, name)):
        job = get_job(db, workspace, name)
        check_version("job", job["db_version"], if_match)
        if job["status"] not in TERMINAL:
            raise _refused(job, "rerun", f"it is '{job['status']}'; only a 'completed', "
                           "'error' or 'cancelled' job can be rerun",
                           job["status"], Status.CREATED.value)
        job["attempt_id"] = new_id("attempt")
        _insert_steps(db, job, at, by)
        record(db, "job", job, job["id"], job["status"], Status.CREATED.value, at, by,
               job["db_version"] + 1)
        db.execute(
            """UPDATE jobs SET attempt_id = ?, status = ?, status_details = '{}',
                   error_details = '{}', updated_at = ?, updated_by = ?,
                   db_version = db_version + 1 WHERE seq = ?""",
            (job["attempt_id"], Status.CREATED.value, at, by, job["seq"]),
        )
        status_moved(db, job["seq"], Status.CREATED.value)
        events.job_changed_at(db, job["seq"], job["status"], at, by)
        return get_job(db, workspace, name)


_TREE_KEYS = ("id", "name", "status", "status_details", "error_details", "created_at",
              "updated_at")


_TREE_TASK_KEYS = (*_TREE_KEYS, "error_stack")
_TREE_TASKS = f"""SELECT t.step_id, {", ".join("t." + k for k in _TREE_TASK_KEYS)}
    FROM steps s JOIN tasks t ON t.step_id = s.id WHERE s.attempt_id = ? ORDER BY t.seq"""


def tree_head(db, workspace: str, name: str) -> dict:
    """What the status tree's tag is made of, read before the tree: the job, and the mark of
    its newest event (app/store/events.py), which every later write of its tree moves."""
    mark = events.job_mark(db, workspace, name)
    return {"job": get_job(db, workspace, name), "mark": mark}


def tree_fingerprint(head: dict) -> tuple:
    job = head["job"]
    return (job["id"], job["db_version"], job["attempt_id"], *head["mark"])


def status_tree(db, head: dict, with_tasks: bool = True) -> dict:
    """The job, its current steps in spec order with their task counts, and (`with_tasks`)
    each step's tasks in arrival order."""
    job = head["job"]
    steps = attempt_steps(db, job["attempt_id"])
    tallies = tally(db, [s["id"] for s in steps])
    tasks: dict[str, list] = {s["id"]: [] for s in steps}
    if with_tasks:
        # The columns the tree shows, not rows read in full: at 100,000 tasks the tree is
        # read in half the time.
        for task in rows_sharing_json(db, _TREE_TASKS, (job["attempt_id"],)):
            tasks[task.pop("step_id")].append(task)
    nodes = []
    for s in steps:
        node = {k: s[k] for k in _TREE_KEYS}
        node["task_counts"] = task_counts(tallies[s["id"]])
        if with_tasks:
            node["tasks"] = tasks[s["id"]]
        nodes.append(node)
    return {**{k: job[k] for k in _TREE_KEYS}, "steps": nodes}
