"""A job's string custom fields as rows of `job_fields`, so that a filter on one reads a range
of an index (workspace, key, value) on either backend, whatever the key.

The rows are written in the transaction that writes the job and removed with it; a job's
custom fields never change after its creation, and each row carries the job's status, moved
with it (`status_moved`), so a label's counts by status read only this table's index. Only what a filter can match is kept: string
values of at most FIELD_VALUE_MAX characters, under keys of at most FIELD_KEY_MAX.
"""

from schemas.query import FIELD_KEY_MAX, FIELD_VALUE_MAX

# filter[custom_fields.<key>][$op] (schemas/query.py) -> the test on a row's value.
_TESTS = {"eq": "f.value = ?", "in": "f.value IN ({marks})",
          "like": "f.value LIKE ? ESCAPE '\\'"}


def write_fields(db, job: dict) -> None:
    """The job's rows, after the job's own (its `seq` is read back by its unique id)."""
    for key, value in job["custom_fields"].items():
        if isinstance(value, str) and len(key) <= FIELD_KEY_MAX and len(value) <= FIELD_VALUE_MAX:
            db.execute("INSERT INTO job_fields (job_seq, workspace, key, value, status) "
                       "SELECT seq, workspace, ?, ?, status FROM jobs WHERE id = ?",
                       (key, value, job["id"]))


def status_moved(db, job_seq: int, status: str) -> None:
    """Every write of a job's status calls this in its transaction."""
    db.execute("UPDATE job_fields SET status = ? WHERE job_seq = ?", (status, job_seq))


def count_by_status(db, workspace: str, field: tuple, statuses) -> list[tuple[str, int]]:
    """(status, count) of the jobs with one custom-field filter `field` = (key, op, value),
    among `statuses` if given. A job has one row per key, so no job counts twice."""
    key, op, value = field
    values = value if isinstance(value, list) else [value]
    test = _TESTS[op].format(marks=", ".join("?" for _ in values))
    among = f" AND f.status IN ({', '.join('?' for _ in statuses)})" if statuses else ""
    return db.execute(f"SELECT f.status, COUNT(*) FROM job_fields f WHERE f.workspace = ? "
                      f"AND f.key = ? AND {test}{among} GROUP BY f.status",
                      [workspace, key, *values, *(statuses or ())]).fetchall()


def delete_fields(db, job_seq: int) -> None:
    db.execute("DELETE FROM job_fields WHERE job_seq = ?", (job_seq,))


def fields_where(dialect, workspace: str, filters: list[tuple], alias: str = "j"
                 ) -> tuple[list[str], list]:
    """One clause per (key, op, value) filter: the job is among those whose row matches."""
    clauses, params = [], []
    for key, op, value in filters:
        values = value if isinstance(value, list) else [value]
        test = _TESTS[op].format(marks=", ".join("?" for _ in values))
        clauses.append(dialect.among(f"{alias}.seq", "SELECT f.job_seq FROM job_fields f "
                                     f"WHERE f.workspace = ? AND f.key = ? AND {test}"))
        params += [workspace, key, *values]
    return clauses, params
