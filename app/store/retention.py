"""Retention of finished jobs: a job in a terminal status whose last update is older than
the cut-off is deleted with everything that hangs off it (app/store/jobs.delete_tree).

Deletion goes a few jobs at a time, each batch its own short transaction: their log lines
(the bulk) a bounded number per transaction, the last of them with the rest of the trees. Every
transaction re-reads which of the batch's jobs are still finished and old, locked, so a job
rerun meanwhile is kept; on PostgreSQL a job another writer holds (its lock, or its row) is
skipped, never waited for, and found again by a later pass.
"""

import time
from datetime import datetime, timedelta, timezone

from schemas.fields import utc_text
from statemachine import TERMINAL

from ..db import transaction
from . import events
from .jobs import delete_tree
from .rows import all_rows, now

JOBS_PER_BATCH = 10
LOG_LINES_PER_BATCH = 1000
# After each transaction the prune rests this many times as long as it took: it holds the
# write lock at most a third of the time, so writers beside it wait little (bench/prune.py).
REST_FACTOR = 2

_FINISHED = ", ".join(f"'{s.value}'" for s in TERMINAL)
_EXPIRED = f"status IN ({_FINISHED}) AND updated_at < ?"


def cutoff(older_than_days: float) -> str:
    return utc_text(datetime.now(timezone.utc) - timedelta(days=older_than_days))


def expired_jobs(db, before: str, limit: int | None) -> list[dict]:
    """Finished jobs last updated before `before`, oldest first, at most `limit` (None:
    all)."""
    sql = f"""SELECT seq, id, workspace, name, status, updated_at FROM jobs
              WHERE {_EXPIRED} ORDER BY updated_at, seq"""
    if limit is None:
        return all_rows(db, sql, (before,))
    return all_rows(db, sql + " LIMIT ?", (before, limit))


def prune_jobs(db, older_than_days: float, limit: int | None = None,
               seconds: float | None = None) -> list[dict]:
    """Delete expired jobs, batch by batch; stops after `limit` jobs or `seconds` (either
    None: no bound). Returns the jobs deleted."""
    before = cutoff(older_than_days)
    ends = None if seconds is None else time.monotonic() + seconds
    deleted: list[dict] = []
    while limit is None or len(deleted) < limit:
        size = JOBS_PER_BATCH if limit is None else min(JOBS_PER_BATCH, limit - len(deleted))
        batch = expired_jobs(db, before, size)
        if not batch:
            break
        gone = _delete_batch(db, [j["seq"] for j in batch], before)
        deleted.extend(j for j in batch if j["seq"] in gone)
        if not gone or (ends is not None and time.monotonic() >= ends):
            break  # nothing deletable (all held by writers): a later pass tries again
    return deleted


def _locked_expired(db, seqs: list[int], before: str) -> list[dict]:
    """Those of `seqs` still finished and old, locked until the transaction ends: on
    PostgreSQL the job's lock first, as every writer of a job takes it (a task's report
    holds it shared while it locks the task's row, then the job's), then the job's row."""
    marks = ", ".join("?" for _ in seqs)
    lock = f" AND {db.dialect.try_lock_job}" if db.dialect.try_lock_job else ""
    return all_rows(db, f"SELECT seq, id, workspace, name, status, db_version FROM jobs "
                        f"WHERE seq IN ({marks}) AND {_EXPIRED}{lock}"
                        f"{db.dialect.skip_locked}", (*seqs, before))


def _delete_batch(db, seqs: list[int], before: str) -> set[int]:
    """Log lines a bounded number per transaction, and in the transaction that finds the
    last of them, the rest of the trees; after each transaction, a rest (REST_FACTOR)."""
    while True:
        began = time.monotonic()
        with transaction(db):
            jobs = _locked_expired(db, seqs, before)
            if not jobs:
                return set()
            marks = ", ".join("?" for _ in jobs)
            removed = db.execute(
                f"""DELETE FROM logs WHERE seq IN (SELECT seq FROM logs
                        WHERE job_id IN ({marks}) LIMIT ?)""",
                (*[j["id"] for j in jobs], LOG_LINES_PER_BATCH)).rowcount
            if removed < LOG_LINES_PER_BATCH:
                for job in jobs:
                    delete_tree(db, job)
                    # The feed says it went; its earlier events stay until the feed's own
                    # retention, so a reader behind still receives every one.
                    events.job_deleted(db, job, now(), None)
        time.sleep(REST_FACTOR * (time.monotonic() - began))
        if removed < LOG_LINES_PER_BATCH:
            return {j["seq"] for j in jobs}
