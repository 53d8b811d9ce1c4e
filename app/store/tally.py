"""A step's tasks counted by status, from the index on tasks(step_id, status, name) alone.

No counter rows: one row a step, written by every task's write, would make all the writers
of a job queue on it. A count is instead one GROUP BY over the index, read only by readers
that answer with a body (a 304's tag needs none: app/store/events.py `job_mark`).
"""

from statemachine import Status

STATUSES = sorted(s.value for s in Status)  # the order counts are answered in, as jobs'


def tally(db, step_ids: list[str]) -> dict[str, dict[str, int]]:
    """For each step: status -> how many tasks, only statuses it has."""
    found: dict[str, dict] = {step_id: {} for step_id in step_ids}
    if not step_ids:
        return found
    marks = ", ".join("?" for _ in step_ids)
    for step_id, status, count in db.execute(
            f"SELECT step_id, status, COUNT(*) FROM tasks "
            f"WHERE step_id IN ({marks}) GROUP BY step_id, status", list(step_ids)):
        found[step_id][status] = count
    return found


def task_counts(by_status: dict[str, int]) -> dict[str, int]:
    """status -> how many tasks, in the statuses' alphabetical order; {} for none."""
    return {status: by_status[status] for status in STATUSES if status in by_status}


def counted(db, step: dict) -> dict:
    """The step with its `task_counts`."""
    return {**step, "task_counts": task_counts(tally(db, [step["id"]])[step["id"]])}
