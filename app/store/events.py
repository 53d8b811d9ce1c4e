"""The change feed: one event per entity an accepted write changes, appended in the write's
own transaction, so a rolled-back or refused write leaves none.

An event's place in the feed is (txid, seq), and readers read in that order:
- SQLite: txid is 0 and seq an AUTOINCREMENT. Writers hold the database's write lock from
  BEGIN to COMMIT, so insertion order is commit order.
- PostgreSQL: an identity is taken at insert, not at commit, so `seq` alone would let a
  reader pass an event whose transaction commits later. txid is the writing transaction's
  id, and a reader reads only below the horizon: the oldest transaction id still running
  (pg_snapshot_xmin). Everything below it has committed or rolled back, so no event can
  appear there later. A transaction gets its id at its first row change: a task's report
  (its job's lock shared) after taking its task's own lock, once the task's previous writer
  has committed; every other write of a job after taking the job's lock exclusive. So one
  task's ids, and a job's job-wide writes against all its reports, are in commit order;
  reports of different tasks of one job, running together, need not be (docs/api.md,
  "Watching for changes").

A cursor is the place of the last event read. The Events-Cursor of a read on PostgreSQL
also carries the read's snapshot: the events it already showed are skipped, those it did
not are not, until the reader passes the snapshot's last transaction id.
"""

import base64
import binascii
import hashlib
import hmac
import json
from itertools import takewhile

from schemas import plain_dumper
from schemas.job import JobSchema, StepSchema
from schemas.task import TaskSchema

from .rows import all_rows, dumps, one

# The entity as its GET answers it (the views' own dumpers, app/jobs.py and the others).
dump_job, dump_step, dump_task = (plain_dumper(s()) for s in (JobSchema, StepSchema, TaskSchema))

PAGE_MAX = 1000
PRUNE_BATCH = 500  # expired events deleted per transaction
_COLUMNS = ("txid", "seq", "workspace", "job", "job_id", "kind", "type", "step", "task",
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

Place = tuple  # (txid, seq, snapshot text or None)
START = (0, 0, None)  # before every event


def _horizon(db) -> str:
    """The SQL bound below which every transaction id has ended ('' on SQLite)."""
    if db.dialect.name == "postgresql":
        return " AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
    return ""


def newest(db) -> Place:
    """The place just after everything this connection's snapshot shows; call it inside the
    read's own transaction (app/events.py) for the place to match what the read showed."""
    if db.dialect.name == "postgresql":
        snapshot = db.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
        xmin, xmax, running = snapshot.split(":")
        # No transaction running: the snapshot is the point before xmax.
        return (int(xmin), 0, snapshot) if running else (int(xmax), 0, None)
    found = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return (0, found[0] if found else 0, None)


_NEWEST_OF_JOB = ("SELECT txid, seq FROM events WHERE workspace = ? AND job = ? "
                  "ORDER BY txid DESC, seq DESC LIMIT 1")
# On PostgreSQL, with the horizon and how many of the job's events lie at or above it, read
# in one statement (one snapshot).
_NEWEST_OF_JOB_PG = f"""SELECT h.xmin, e.txid, e.seq,
        (SELECT COUNT(*) FROM events c WHERE c.workspace = ? AND c.job = ? AND c.txid >= h.xmin)
    FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS xmin) h
    LEFT JOIN LATERAL ({_NEWEST_OF_JOB}) e ON TRUE"""


def job_mark(db, workspace: str, job: str) -> tuple:
    """A mark that any later accepted write of the job changes, from the end of the feed's
    (workspace, job, txid, seq) index: what the job's tags are made of (app/http.py), so that
    a 304 reads no task. Read it before the body it tags (or in the write's transaction).

    SQLite: the newest event's seq, which is commit order. PostgreSQL: the newest place; a
    transaction still running may commit an event below it, but only one whose id is at or
    above the horizon (the oldest running id), so while the newest is itself at or above
    it, the mark also holds the horizon and how many of the job's events are there."""
    if db.dialect.name != "postgresql":
        found = db.execute(_NEWEST_OF_JOB, (workspace, job)).fetchone()
        return (found[1] if found else 0,)
    horizon, txid, seq, above = db.execute(_NEWEST_OF_JOB_PG,
                                           (workspace, job, workspace, job)).fetchone()
    if txid is None or txid < horizon:  # settled: anything later lands above it
        return (txid or 0, seq or 0)
    return (txid, seq, horizon, above)


def pruned(db) -> Place:
    txid, seq = db.execute("SELECT txid, seq FROM event_marks WHERE name = 'pruned'").fetchone()
    return (txid, seq, None)


def read(db, workspace: str | None, after: Place, jobs=None, kinds=None,
         limit: int = 100) -> list[dict]:
    """Events after the place `after`, in feed order, as stored rows; `workspace` None: all
    of them (the process's tail, app/watch.py)."""
    txid, seq = after[:2]
    where, params = ["(txid, seq) > (?, ?)"], [txid, seq]
    if workspace is not None:
        where.insert(0, "workspace = ?")
        params.insert(0, workspace)
    for column, values in (("job", jobs), ("kind", kinds)):
        if values:
            where.append(f"{column} IN ({', '.join('?' for _ in values)})")
            params += list(values)
    return all_rows(db, f"SELECT {', '.join(_COLUMNS)} FROM events WHERE {' AND '.join(where)}"
                        f"{_horizon(db)} ORDER BY txid, seq LIMIT ?", [*params, limit])


def _shown(snapshot: str | None, txid: int) -> bool:
    """Whether a transaction's writes were visible to the snapshot (PostgreSQL's text form
    `xmin:xmax:running,...`), as pg_visible_in_snapshot tells; None: no snapshot."""
    if snapshot is None:
        return False
    xmin, xmax, running = snapshot.split(":")
    return txid < int(xmin) or (txid < int(xmax) and str(txid) not in running.split(","))


def follow(rows: list[dict], after: Place):
    """(row, the place after it, whether the read that made `after` showed it already) for
    each row past `after`, in order. The snapshot is dropped once the reader has passed
    every transaction it could have shown."""
    for row in rows:
        if (row["txid"], row["seq"]) <= after[:2]:
            continue
        snapshot = after[2]
        if snapshot is not None and row["txid"] >= int(snapshot.split(":")[1]):
            snapshot = None
        after = (row["txid"], row["seq"], snapshot)
        yield row, after, _shown(snapshot, row["txid"])


def page(db, workspace: str, after: Place, jobs=None, kinds=None,
         limit: int = 100) -> tuple[list, Place]:
    """Up to `limit` (row, place after it) past `after`, and the place to read on from."""
    got = []
    while True:
        wanted = limit - len(got)
        rows = read(db, workspace, after, jobs, kinds, wanted)
        for row, after, shown in follow(rows, after):
            if not shown:
                got.append((row, after))
        if len(rows) < wanted or len(got) == limit:
            return got, after


def prune(db, before: str) -> int:
    """Delete the oldest events while they are older than `before`, in bounded batches, and
    raise the 'pruned' mark to the last one deleted (a cursor below it has expired)."""
    deleted = 0
    while True:
        with db.transaction():
            rows = db.execute(f"SELECT txid, seq, at FROM events WHERE 1 = 1{_horizon(db)} "
                              "ORDER BY txid, seq LIMIT ?", (PRUNE_BATCH,)).fetchall()
            gone = list(takewhile(lambda row: row[2] < before, rows))
            if gone:
                txid, seq = gone[-1][0], gone[-1][1]
                db.execute("DELETE FROM events WHERE (txid, seq) <= (?, ?)", (txid, seq))
                db.execute("UPDATE event_marks SET txid = ?, seq = ? WHERE name = 'pruned'",
                           (txid, seq))
        deleted += len(gone)
        if len(gone) < PRUNE_BATCH:
            return deleted


# Cursors: "e" + the position, signed with the database's key, so a cursor is opaque and one
# that was altered, forged or made by another database is refused.


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, b"events:" + payload, hashlib.sha256).digest()[:12]


def make_cursor(key: bytes, place: Place) -> str:
    payload = ".".join(str(part) for part in place if part is not None).encode("ascii")
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def read_cursor(key: bytes, cursor: str) -> Place | None:
    """The place a cursor names, or None when this service did not issue it."""
    body, _, signature = cursor.partition(".")
    try:
        payload = _unb64(body)
        if not hmac.compare_digest(_unb64(signature), _mac(key, payload)):
            return None
        txid, seq, *snapshot = payload.decode("ascii").split(".")
        return (int(txid), int(seq), snapshot[0] if snapshot else None)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None


def as_wire(key: bytes, row: dict, place: Place) -> dict:
    """An event as the API sends it; `place` is the place after it (its cursor)."""
    event = {"id": make_cursor(key, place), "kind": row["kind"], "type": row["type"],
             "workspace": row["workspace"], "job": row["job"], "step": row["step"],
             "task": row["task"], "from": row["from_status"], "to": row["to_status"],
             "db_version": row["db_version"], "at": row["at"], "by": row["by"]}
    if row["object"] is not None:
        event["object"] = json.loads(row["object"])
    return event
