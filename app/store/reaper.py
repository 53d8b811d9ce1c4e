"""Tasks whose workers stopped reporting: moved to `error` once their step's
`lifecycle.staleness_timeout_seconds` has passed since their last update."""

from datetime import datetime, timedelta, timezone

from schemas.fields import from_utc_text
from statemachine import TERMINAL, Status, is_legal

from ..db import transaction
from . import events
from .history import record
from .rows import all_rows, dumps, now, one


def _candidates_sql(dialect) -> str:
    timeout = dialect.json_number("s.step_spec", "lifecycle", "staleness_timeout_seconds")
    return f"""
    SELECT t.seq, t.id, t.name, t.workspace, t.status, t.updated_at, t.db_version,
           s.name AS step, s.job_id, j.name AS job, {timeout} AS timeout
    FROM tasks t
    JOIN steps s ON s.id = t.step_id
    JOIN jobs j ON j.attempt_id = s.attempt_id
    WHERE {timeout} > 0
      AND t.status NOT IN ({", ".join(f"'{s.value}'" for s in TERMINAL)})"""


def _stale(task: dict, at: datetime) -> bool:
    return from_utc_text(task["updated_at"]) + timedelta(seconds=task["timeout"]) < at


def reap_stale(db, dry_run: bool = False) -> list[dict]:
    """Reap every stale task; each in its own transaction, re-checked there, so a report
    that arrives meanwhile wins. A task whose status cannot move to `error` (`paused`) is
    left alone: it is not expected to report."""
    started = datetime.now(timezone.utc)
    candidates = [t for t in all_rows(db, _candidates_sql(db.dialect))
                  if is_legal(t["status"], Status.ERROR) and _stale(t, started)]
    return candidates if dry_run else reap(db, candidates)


def stale_tasks_of(db, step: dict, timeout) -> list[dict]:
    """The stale tasks of one step (a row with seq, id, name, job_id, job), as reap takes
    them: the reconciler's way in, a step at a time."""
    started = datetime.now(timezone.utc)
    tasks = all_rows(db, f"""
        SELECT seq, id, name, workspace, status, updated_at, db_version FROM tasks
        WHERE step_id = ? AND status NOT IN ({", ".join(f"'{s.value}'" for s in TERMINAL)})""",
                     (step["id"],))
    found = [{**t, "step": step["name"], "job_id": step["job_id"], "job": step["job"],
              "timeout": timeout} for t in tasks]
    return [t for t in found if is_legal(t["status"], Status.ERROR) and _stale(t, started)]


def reap(db, candidates: list[dict]) -> list[dict]:
    """Move each candidate to `error` unless it changed since it was read."""
    reaped = []
    for task in candidates:
        at = now()
        details = {"reason": "stale", "message": (
            f"No report for more than {task['timeout']:g} s (the step's "
            f"lifecycle.staleness_timeout_seconds); last update {task['updated_at']}."),
            "last_update": task["updated_at"], "staleness_timeout_seconds": task["timeout"]}
        with transaction(db, job=(task["workspace"], task["job"])):
            current = one(db, "SELECT db_version FROM tasks WHERE seq = ?", (task["seq"],))
            if current is None or current["db_version"] != task["db_version"]:
                continue  # reported (or deleted) since we looked
            db.execute("""UPDATE tasks SET status = 'error', error_details = ?, updated_at = ?,
                              updated_by = NULL, db_version = db_version + 1 WHERE seq = ?""",
                       (dumps(details), at, task["seq"]))
            record(db, "task", task, task["job_id"], task["status"], Status.ERROR.value, at,
                   None, task["db_version"] + 1)
            events.task_changed(db, one(db, "SELECT * FROM tasks WHERE seq = ?", (task["seq"],)),
                                task["job"], task["job_id"], task["step"], "updated",
                                task["status"], at, None)
        reaped.append(task)
    return reaped
