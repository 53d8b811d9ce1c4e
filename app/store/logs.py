"""Log lines of a job's tasks: appended by workers, read in pages by people and tools.

A page is a range of an index in (at, seq) order (`at` holds the line's timestamp), so
page 1,000 costs what page 1 does. Where a page ends is handed out as an opaque cursor signed with the database's own
key (HMAC-SHA256): a cursor names the job, attempt and filters it was made for, and one
that was altered, forged, or made for another job or other filters is refused.
"""

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

from schemas import error
from schemas.fields import utc_text

from ..db import transaction
from ..errors import RequestValidationError
from .jobs import get_job
from .rows import all_rows, now, one

PRUNE_BATCH = 1000  # expired lines deleted by one append, or per transaction by prune_logs

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True).encode


def cursor_key(db) -> bytes:
    """The database's key for signing cursors (made once, by migration m005)."""
    return bytes.fromhex(one(db, "SELECT value FROM service_keys WHERE name = ?",
                             ("log-cursor",))["value"])


def attempt_number(db, job: dict) -> int:
    """The job's current attempt as readers count it: 1, then 2 after one rerun, ..."""
    return db.execute("SELECT COUNT(DISTINCT attempt_id) FROM steps WHERE job_id = ?",
                      (job["id"],)).fetchone()[0]


def cutoff(retention_days: int) -> str | None:
    """Lines that arrived before this have expired (None: kept for ever)."""
    if retention_days <= 0:
        return None
    return utc_text(datetime.now(timezone.utc) - timedelta(days=retention_days))


def append_logs(db, workspace: str, job: str, lines: list[dict],
                retention_days: int) -> int:
    """Store every line or none: each must name a step of the job's current attempt."""
    received = now()
    with transaction(db, job=(workspace, job)):
        found = get_job(db, workspace, job)
        steps = {r[0] for r in db.execute("SELECT name FROM steps WHERE attempt_id = ?",
                                          (found["attempt_id"],))}
        unknown = [error("unknown_step", ["body", "data", i, "job_step"],
                         f"Job '{job}' has no step '{line['job_step']}' in its current attempt.",
                         line["job_step"], {"steps": sorted(steps)})
                   for i, line in enumerate(lines) if line["job_step"] not in steps]
        if unknown:
            raise RequestValidationError(unknown)
        attempt = attempt_number(db, found)
        for line in lines:
            db.execute(
                """INSERT INTO logs (job_id, attempt, job_step, job_task, message, at,
                       received_at) VALUES (?, ?, ?, ?, ?, ?, ?)""",
                (found["id"], attempt, line["job_step"], line["job_task"], line["message"],
                 line.get("timestamp") or received, received))
        expired_before = cutoff(retention_days)
        if expired_before:
            _prune(db, expired_before)
    return len(lines)


def _prune(db, expired_before: str) -> int:
    return db.execute(
        """DELETE FROM logs WHERE seq IN (SELECT seq FROM logs WHERE received_at < ?
               ORDER BY received_at LIMIT ?)""", (expired_before, PRUNE_BATCH)).rowcount


def prune_logs(db, retention_days: int) -> int:
    """Delete every expired line, a batch per transaction; returns how many."""
    expired_before = cutoff(retention_days)
    deleted = 0
    while expired_before:
        with transaction(db):
            batch = _prune(db, expired_before)
        deleted += batch
        if batch < PRUNE_BATCH:
            break
    return deleted


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, payload: bytes) -> str:
    return _b64(hmac.new(key, payload, hashlib.sha256).digest())


def make_cursor(key: bytes, scope: dict, direction: str, at: tuple[str, int]) -> str:
    payload = _encode({**scope, "d": direction, "ts": at[0], "q": at[1]}).encode("ascii")
    return f"{_b64(payload)}.{_sign(key, payload)}"


def _bad_cursor(cursor: str, why: str) -> RequestValidationError:
    return RequestValidationError([error(
        "invalid_cursor", ["query", "page_cursor"],
        f"Invalid page cursor: {why}. Use the next_page or prev_page of an earlier answer "
        "for the same job and filters.", cursor)])


def read_cursor(key: bytes, cursor: str) -> dict:
    """The cursor's content, if this database signed it; a 422 otherwise."""
    body, _, signature = cursor.partition(".")
    try:
        payload = _unb64(body)
        valid = hmac.compare_digest(_unb64(signature), hmac.new(key, payload,
                                                                hashlib.sha256).digest())
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise _bad_cursor(cursor, "it was not issued by this service, or was altered")
    return json.loads(payload)


def scope_where(scope: dict, expired_before: str | None) -> tuple[str, list]:
    """The WHERE of a job's lines in one attempt, narrowed to a step and/or task."""
    where, params = ["job_id = ?", "attempt = ?"], [scope["j"], scope["a"]]
    for column, value in (("job_step", scope["s"]), ("job_task", scope["t"])):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if expired_before:
        where.append("received_at >= ?")
        params.append(expired_before)
    return " AND ".join(where), params


def page_sql(condition: str, backwards: bool, from_cursor: bool) -> str:
    """One page (LIMIT ? rows) after a position, or before it going backwards: a range of
    one of the logs indexes, read in its own order."""
    if backwards:
        return (f"{_LINE} WHERE {condition} AND (at, seq) < (?, ?) "
                "ORDER BY at DESC, seq DESC LIMIT ?")
    after = " AND (at, seq) > (?, ?)" if from_cursor else ""
    return f"{_LINE} WHERE {condition}{after} ORDER BY at, seq LIMIT ?"


_LINE = "SELECT at, seq, job_step, job_task, message FROM logs"


def read_logs(db, workspace: str, job: str, query: dict, key: bytes,
              retention_days: int) -> dict:
    """One page of the job's lines in (timestamp, arrival) order, with cursors both ways."""
    found = get_job(db, workspace, job)
    cursor = None
    if query.get("page_cursor"):
        cursor = read_cursor(key, query["page_cursor"])
        asked_attempt = query.get("attempt_id", cursor["a"])
        if (cursor["j"], cursor["s"], cursor["t"], cursor["a"]) != (
                found["id"], query.get("step_id"), query.get("task_id"), asked_attempt):
            raise _bad_cursor(query["page_cursor"], "it was made for another job or other filters")
        attempt = cursor["a"]
    else:
        attempt = query.get("attempt_id") or attempt_number(db, found)
    scope = {"j": found["id"], "a": attempt, "s": query.get("step_id"), "t": query.get("task_id")}
    condition, params = scope_where(scope, cutoff(retention_days))
    total = db.execute(f"SELECT COUNT(*) FROM logs WHERE {condition}", params).fetchone()[0]

    limit = query["limit"]
    backwards = cursor is not None and cursor["d"] == "p"
    bound = (cursor["ts"], cursor["q"]) if cursor else None
    rows = all_rows(db, page_sql(condition, backwards, bound is not None),
                    [*params, *(bound or ()), limit + 1])
    if backwards:
        more_before, rows = len(rows) > limit, rows[:limit][::-1]
    else:
        more_after, rows = len(rows) > limit, rows[:limit]
    first = (rows[0]["at"], rows[0]["seq"]) if rows else bound
    last = (rows[-1]["at"], rows[-1]["seq"]) if rows else bound
    if backwards:
        more_after = last is not None and _exists(db, condition, params, ">", last)
    else:
        more_before = first is not None and _exists(db, condition, params, "<", first)
    return {
        "data": [{"job": found["name"], "job_step": r["job_step"], "job_task": r["job_task"],
                  "message": r["message"], "timestamp": r["at"]} for r in rows],
        "next_page": make_cursor(key, scope, "n", last) if more_after else "",
        "prev_page": make_cursor(key, scope, "p", first) if more_before else "",
        "total": total,
    }


def _exists(db, condition: str, params: list, op: str, at: tuple[str, int]) -> bool:
    return db.execute(f"SELECT 1 FROM logs WHERE {condition} AND (at, seq) {op} (?, ?) "
                      "LIMIT 1", [*params, *at]).fetchone() is not None
