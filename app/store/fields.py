"""A job's string custom fields as rows of `job_fields`, so that a filter on one reads a range
of an index (workspace, key, value) on either backend, whatever the key.

The rows are written in the transaction that writes the job and removed with it; a job's
custom fields never change after its creation. Only what a filter can match is kept: string
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
            db.execute("INSERT INTO job_fields (job_seq, workspace, key, value) "
                       "SELECT seq, workspace, ?, ? FROM jobs WHERE id = ?",
                       (key, value, job["id"]))


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
