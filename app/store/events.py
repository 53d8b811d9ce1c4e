"""The change feed: one event per entity an accepted write changes, appended in the write's
own transaction, so a rolled-back or refused write leaves none.

Readers read events in `position` order. On SQLite the position is `seq`: writers hold the
database's write lock from BEGIN to COMMIT, so insertion order is commit order. On
PostgreSQL it is `pos`, which `sequence` gives, one sequencer at a time (the row lock of
event_marks 'sequenced'), to committed events in `seq` order; an event whose transaction is
still open has no `pos` yet, so a reader can never pass it. Two writes of one job hold the
job's row lock from before their insert to their commit, so one job's `seq` (and so `pos`)
order is its commit order.
"""

import base64
import binascii
import hashlib
import hmac
import json

from schemas import plain_dumper
from schemas.job import JobSchema, StepSchema
from schemas.task import TaskSchema

from .rows import all_rows, dumps, one

# The entity as its GET answers it (the views' own dumpers, app/jobs.py and the others).
dump_job, dump_step, dump_task = (plain_dumper(s()) for s in (JobSchema, StepSchema, TaskSchema))

PAGE_MAX = 1000
PRUNE_BATCH = 500  # expired events deleted per transaction
_COLUMNS = ("seq", "pos", "workspace", "job", "job_id", "kind", "type", "step", "task",
            "from_status", "to_status", "db_version", "at", "by", "object")
# Called (no arguments) after a transaction that appended events commits, in that process.
committed_listeners: list = []


def _announce() -> None:
    for listener in committed_listeners:
        listener()


def emit(db, kind: str, type_: str, workspace: str, job: str, job_id: str, step, task,
         source, target, version, at: str, by, obj: dict | None) -> None:
    db.execute(
        """INSERT INTO events (workspace, job, job_id, kind, type, step, task, from_status,
               to_status, db_version, at, by, object) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (workspace, job, job_id, kind, type_, step, task, source, target, version, at, by,
         None if obj is None else dumps(obj)))
    if _announce not in db.after_commit:
        db.after_commit.append(_announce)


def job_changed(db, job: dict, type_: str, source, at: str, by) -> None:
    """`job` as stored after the write (a `jobs` row)."""
    emit(db, "job", type_, job["workspace"], job["name"], job["id"], None, None, source,
         job["status"], job["db_version"], at, by, dump_job(job))


def job_changed_at(db, job_seq: int, source, at: str, by) -> None:
    """The job at `job_seq` was updated; `source` None: its status did not change."""
    job = one(db, "SELECT * FROM jobs WHERE seq = ?", (job_seq,))
    job_changed(db, job, "updated", job["status"] if source is None else source, at, by)


def step_changed_at(db, step_seq: int, source, at: str, by) -> None:
    step = one(db, "SELECT s.*, j.name AS job_name FROM steps s JOIN jobs j ON j.id = s.job_id"
                   " WHERE s.seq = ?", (step_seq,))
    step["config"] = (step.get("step_spec") or {}).get("config") or {}
    step_changed(db, step, step["job_name"], "updated", source, at, by)


def job_deleted(db, job: dict, at: str, by) -> None:
    emit(db, "job", "deleted", job["workspace"], job["name"], job["id"], None, None,
         job["status"], None, job["db_version"], at, by, None)


def step_changed(db, step: dict, job: str, type_: str, source, at: str, by) -> None:
    """`step` as the API shows it after the write (with its `config`)."""
    emit(db, "step", type_, step["workspace"], job, step["job_id"], step["name"], None, source,
         step["status"], step["db_version"], at, by, dump_step(step))


def task_changed(db, task: dict, job: str, job_id: str, step: str, type_: str, source,
                 at: str, by) -> None:
    emit(db, "task", type_, task["workspace"], job, job_id, step, task["name"], source,
         task["status"], task["db_version"], at, by, dump_task(task))


# Reading


def position(db) -> str:
    return db.dialect.event_pos


def newest(db) -> int:
    """The position of the newest event a reader may see now (0: none yet)."""
    if db.dialect.name == "postgresql":
        return mark(db, "sequenced")
    # AUTOINCREMENT's record of the largest `seq` ever given (no row before the first).
    found = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return found[0] if found else 0


def mark(db, name: str) -> int:
    return db.execute("SELECT value FROM event_marks WHERE name = ?", (name,)).fetchone()[0]


def read(db, workspace: str, after: int, jobs=None, kinds=None, limit: int = 100) -> list[dict]:
    """Events of `workspace` after position `after`, oldest first, as stored rows."""
    pos = position(db)
    where, params = ["workspace = ?", f"{pos} > ?"], [workspace, after]
    for column, values in (("job", jobs), ("kind", kinds)):
        if values:
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params += list(values)
    return all_rows(db, f"SELECT {', '.join(_COLUMNS)} FROM events WHERE {' AND '.join(where)}"
                        f" ORDER BY {pos} LIMIT ?", [*params, limit])


def read_all(db, after: int, limit: int = PAGE_MAX) -> list[dict]:
    """Every workspace's events after `after` (the process's tail, app/watch.py)."""
    pos = position(db)
    return all_rows(db, f"SELECT {', '.join(_COLUMNS)} FROM events WHERE {pos} > ? "
                        f"ORDER BY {pos} LIMIT ?", (after, limit))


def at_position(row: dict) -> int:
    return row["pos"] if row["pos"] is not None else row["seq"]


def unsequenced(db) -> bool:
    """PostgreSQL: whether a committed event still waits for its position."""
    return db.execute("SELECT 1 FROM events WHERE pos IS NULL LIMIT 1").fetchone() is not None


def sequence(db) -> int:
    """PostgreSQL: give committed events their positions, in `seq` order; how many. One
    sequencer at a time, on any host (the row lock of the 'sequenced' mark); a later one
    starts from where the earlier one's commit left the mark."""
    total = 0
    while True:
        with db.transaction():
            base = db.execute("SELECT value FROM event_marks WHERE name = 'sequenced' "
                              "FOR UPDATE").fetchone()[0]
            given = db.execute(
                """WITH todo AS (SELECT seq, row_number() OVER (ORDER BY seq) AS n
                                 FROM events WHERE pos IS NULL ORDER BY seq LIMIT ?)
                   UPDATE events SET pos = ? + todo.n FROM todo WHERE events.seq = todo.seq""",
                (PAGE_MAX, base)).rowcount
            if given:
                db.execute("UPDATE event_marks SET value = value + ? WHERE name = 'sequenced'",
                           (given,))
                db.execute("SELECT pg_notify('jobs_events', '')")
        total += given
        if given < PAGE_MAX:
            return total


def prune(db, before: str) -> int:
    """Delete events older than `before`, in bounded batches, raising the 'pruned' mark (a
    cursor below it is expired); returns how many."""
    pos = position(db)
    deleted = 0
    while True:
        with db.transaction():
            rows = db.execute(f"SELECT {pos} FROM events WHERE at < ? AND {pos} IS NOT NULL "
                              f"ORDER BY {pos} LIMIT ?", (before, PRUNE_BATCH)).fetchall()
            if rows:
                last = rows[-1][0]
                db.execute(f"DELETE FROM events WHERE {pos} <= ?", (last,))
                db.execute("UPDATE event_marks SET value = ? WHERE name = 'pruned' "
                           "AND value < ?", (last, last))
        deleted += len(rows)
        if len(rows) < PRUNE_BATCH:
            return deleted


# Cursors: "e" + the position, signed with the database's key, so a cursor is opaque and one
# that was altered, forged or made by another database is refused.


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, b"events:" + payload, hashlib.sha256).digest()[:12]


def make_cursor(key: bytes, pos: int) -> str:
    payload = str(pos).encode("ascii")
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def read_cursor(key: bytes, cursor: str) -> int | None:
    """The position a cursor names, or None when this service did not issue it."""
    body, _, signature = cursor.partition(".")
    try:
        payload = _unb64(body)
        if not hmac.compare_digest(_unb64(signature), _mac(key, payload)):
            return None
        return int(payload.decode("ascii"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def as_wire(key: bytes, row: dict) -> dict:
    """An event as the API sends it."""
    event = {"id": make_cursor(key, at_position(row)), "kind": row["kind"], "type": row["type"],
             "workspace": row["workspace"], "job": row["job"], "step": row["step"],
             "task": row["task"], "from": row["from_status"], "to": row["to_status"],
             "db_version": row["db_version"], "at": row["at"], "by": row["by"]}
    if row["object"] is not None:
        event["object"] = json.loads(row["object"])
    return event
