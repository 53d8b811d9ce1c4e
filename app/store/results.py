"""Results: the named artifacts of a job, recorded by its workers."""

from ..db import transaction
from ..errors import Conflict, NotFound
from .jobs import get_job
from .rows import all_rows, now, one, returning

_ORDER = {"created_at": "created_at ASC", "-created_at": "created_at DESC",
          "updated_at": "updated_at ASC", "-updated_at": "updated_at DESC"}


def result_missing(workspace: str, job: str, name: str) -> NotFound:
    return NotFound(f"Result '{name}' for job '{job}' not found in workspace '{workspace}'.")


def create_result(db, workspace: str, job: str, name: str, data: dict,
                  by: str | None) -> dict:
    """Record a result; a second one with the same name for the job is a conflict."""
    at = now()
    with transaction(db, job=(workspace, job)):
        found = get_job(db, workspace, job)
        if one(db, "SELECT seq FROM results WHERE job_id = ? AND name = ?", (found["id"], name)):
            raise Conflict(f"Result '{name}' already exists for job '{job}' in workspace "
                           f"'{workspace}'.")
        result = returning(
            db,
            """INSERT INTO results (job_id, workspace, project, name, artifact_storage_type,
                   artifact_url, created_at, created_by, updated_at, updated_by)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *""",
            (found["id"], workspace, found["project"], name, data["artifact_storage_type"],
             data["artifact_url"], at, by, at, by),
        )
    return {**result, "job": found["name"]}


def get_result(db, workspace: str, job: str, name: str) -> dict:
    found = get_job(db, workspace, job)
    result = one(db, "SELECT * FROM results WHERE job_id = ? AND name = ?", (found["id"], name))
    if result is None:
        raise result_missing(workspace, job, name)
    return {**result, "job": found["name"]}


def list_results(db, workspace: str, job: str, sort: str) -> list[dict]:
    """Every result of the job, in `sort` order; ties in creation order."""
    found = get_job(db, workspace, job)
    rows = all_rows(db, f"SELECT * FROM results WHERE job_id = ? ORDER BY {_ORDER[sort]}, seq",
                    (found["id"],))
    return [{**r, "job": found["name"]} for r in rows]
