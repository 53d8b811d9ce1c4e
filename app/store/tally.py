"""A step's tasks counted by status, from the index on tasks(step_id, status, name, db_version)
alone: the task counts the API shows, and the fingerprint its tags are made of.

No counter rows: one row a step, written by every task's write, would make all the writers
of a job queue on it. A count is instead one GROUP BY over the index, read only by readers.
Per step the fingerprint is (how many tasks, the sum of their versions): a task's version
only grows, by one a write, and tasks are never deleted one by one, so every write of a task
of the step changes the pair.
"""

from statemachine import Status

STATUSES = sorted(s.value for s in Status)  # the order counts are answered in, as jobs'


def tally(db, step_ids: list[str]) -> dict[str, dict[str, tuple[int, int]]]:
    """For each step: status -> (tasks, sum of their db_version), only statuses it has."""
    found: dict[str, dict] = {step_id: {} for step_id in step_ids}
    if not step_ids:
        return found
    marks = ", ".join("?" for _ in step_ids)
    for step_id, status, count, versions in db.execute(
            f"SELECT step_id, status, COUNT(*), SUM(db_version) FROM tasks "
            f"WHERE step_id IN ({marks}) GROUP BY step_id, status", list(step_ids)):
        found[step_id][status] = (count, int(versions))
    return found


def task_counts(by_status: dict[str, tuple[int, int]]) -> dict[str, int]:
    """status -> how many tasks, in the statuses' alphabetical order; {} for none."""
    return {status: by_status[status][0] for status in STATUSES if status in by_status}


def fingerprint(by_status: dict[str, tuple[int, int]]) -> tuple[int, int]:
    """(tasks, sum of their versions) of one step."""
    return (sum(n for n, _ in by_status.values()), sum(v for _, v in by_status.values()))


def counted(db, step: dict) -> dict:
    """The step with its `task_counts`, and the fingerprint of its tasks for its tag."""
    by_status = tally(db, [step["id"]])[step["id"]]
    return {**step, "task_counts": task_counts(by_status),
            "task_fingerprint": fingerprint(by_status)}
