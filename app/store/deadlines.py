"""Deadlines and staleness of steps, as upstream's reconciler enforces them.

- A `pending` step fails once `ttl_seconds_before_active` has passed since the later of its
  `created_at` and `updated_at`; an `active` one once `ttl_seconds_active` has passed since
  its `created_at` (upstream's JobBackend.check_step_ttl_before_active / check_step_ttl).
  Other statuses (`resuming` among them) have no deadline.
- An `active` step fails once all its `active` tasks, and at least one, have sent nothing
  for its `lifecycle.staleness_timeout_seconds` (and the step is at least that old:
  JobBackend.check_step_is_stale).

Candidates are read in `seq` order from a position the caller keeps, a page at a time, so
a pass is bounded however many steps there are and every step is looked at in turn.
"""

from datetime import datetime, timedelta

from schemas.fields import from_utc_text
from statemachine import Status

from .failing import fail_step
from .rows import all_rows

UNFINISHED = ("created", "pending", "active", "paused", "pausing", "resuming", "cancelling")

_CANDIDATES = f"""
    SELECT s.seq, s.id, s.name, s.workspace, s.status, s.step_spec, s.created_at,
           s.updated_at, s.db_version, s.job_id, j.name AS job
    FROM steps s JOIN jobs j ON j.attempt_id = s.attempt_id
    WHERE s.status IN ({", ".join(f"'{s}'" for s in UNFINISHED)}) AND s.seq > ?
    ORDER BY s.seq LIMIT ?"""


def timed_out_message(ttl_seconds: int) -> str:
    return f"Job timed out after reaching max TTL of {ttl_seconds} seconds"  # upstream's words


def staleness_message(timeout) -> str:
    return (f"Job terminated: no task updates received within {timeout}s "
            "staleness threshold")  # upstream's words


def parse(text: str | None) -> datetime | None:
    if not text:
        return None
    return from_utc_text(text)


def unfinished_steps(db, after_seq: int, limit: int) -> list[dict]:
    """Current steps that are not finished, after `after_seq`, at most `limit`."""
    return all_rows(db, _CANDIDATES, (after_seq, limit))


def deadline(step: dict, ttls: dict) -> int | None:
    """The TTL that applies to the step in its status (None: none does)."""
    if step["status"] == Status.PENDING.value:
        return ttls.get("ttl_seconds_before_active")
    if step["status"] == Status.ACTIVE.value:
        return ttls.get("ttl_seconds_active")
    return None


def overdue(step: dict, ttl: int | None, at: datetime) -> bool:
    if ttl is None:
        return False
    created = parse(step["created_at"])
    if created is None:
        return False
    anchor = created
    if step["status"] == Status.PENDING.value:
        anchor = max(created, parse(step["updated_at"]) or created)
    return anchor + timedelta(seconds=ttl) < at


def staleness_timeout(step: dict):
    """The step's lifecycle.staleness_timeout_seconds, when positive; else None."""
    lifecycle = (step.get("step_spec") or {}).get("lifecycle") or {}
    timeout = lifecycle.get("staleness_timeout_seconds")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        return None
    return timeout


def is_stale(step: dict, tasks: list[dict], at: datetime) -> bool:
    """Upstream's rule: an active step, old enough, whose active tasks (one at least) have
    all been silent for the staleness timeout."""
    timeout = staleness_timeout(step)
    if timeout is None or step["status"] != Status.ACTIVE.value:
        return False
    threshold = timedelta(seconds=timeout)
    created = parse(step["created_at"])
    if created is None or not created + threshold < at:
        return False
    active = [t for t in tasks if t["status"] == Status.ACTIVE.value]
    return bool(active) and all(
        (updated := parse(t["updated_at"])) is not None and at - updated >= threshold
        for t in active)


def step_tasks(db, step: dict) -> list[dict]:
    return all_rows(db, "SELECT seq, status, updated_at FROM tasks WHERE step_id = ?",
                    (step["id"],))


def fail_overdue(db, step: dict, ttl: int) -> bool:
    """Fail the step for its deadline, if it is still unchanged and overdue."""
    return fail_step(db, step, timed_out_message(ttl),
                     lambda fresh, _tasks, when: overdue(fresh, ttl, parse(when)))


def fail_stale(db, step: dict) -> bool:
    """Fail the step for staleness, if its tasks are still all silent."""
    return fail_step(db, step, staleness_message(staleness_timeout(step)),
                     lambda fresh, tasks, when: is_stale(fresh, tasks, parse(when)))
