"""Actions on many jobs at once: every job the list's filters keep, each in its own
transaction, through the very function its own endpoint calls, so each answer per job is the
one that endpoint would give.

The names are taken first (at most `limit`, oldest first), then acted on one by one: a job
created meanwhile is not touched unless it was among them, and a refusal for one job never
stops the others. A dry run does the same work and rolls each transaction back.
"""

from ..db import transaction
from ..errors import ApiError, MoveRefused
from .jobs import act, delete_job, get_job
from .lists import matching_names


class _Undone(Exception):
    """Raised inside a dry run's transaction, so that it rolls back; carries the answer."""

    def __init__(self, result: dict):
        super().__init__()
        self.result = result


def bulk_act(db, workspace: str, action: str, query: dict, by: str | None = None) -> dict:
    """`action` (cancel, pause, resume or delete) on each job `query` keeps (the list's
    filters, `limit`, `dry_run`): `{"matched", "results": [{name, status, outcome, msg}]}`."""
    matched, names = matching_names(db, workspace, query, query["limit"])
    return {"matched": matched,
            "results": [_one(db, workspace, name, action, query["dry_run"], by)
                        for name in names]}


def _one(db, workspace: str, name: str, action: str, dry_run: bool, by) -> dict:
    try:
        with transaction(db, job=(workspace, name)):
            before = get_job(db, workspace, name)
            if action == "delete":
                delete_job(db, workspace, name, None)
                result = _result(name, before["status"], "done")
            else:
                after = act(db, workspace, name, action, None, by)
                changed = after["db_version"] != before["db_version"]
                result = _result(name, after["status"], "done" if changed else "unchanged")
            if dry_run:
                raise _Undone(result)
    except _Undone as undone:
        return undone.result
    except MoveRefused as exc:
        return _result(name, before["status"], "refused", exc.entry["msg"])
    except ApiError as exc:  # gone since the names were taken (404)
        return _result(name, None, "refused", exc.detail)
    return result


def _result(name: str, status: str | None, outcome: str, msg: str | None = None) -> dict:
    return {"name": name, "status": status, "outcome": outcome, "msg": msg}
