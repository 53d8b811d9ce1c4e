"""The reconciler: deadlines, staleness and retention, run inside the service.

Every worker process of every host runs one daemon thread (started by gunicorn.conf.py's
post_worker_init). Each JOBS_RECONCILE_SECONDS it tries the database's lease (app/db: on
SQLite a lock on a file beside it, on PostgreSQL a session advisory lock), never waiting;
the one process holding it runs a pass. When the holder dies the system lets go of its
lease, and another process takes it at its next try, within one interval.

A pass is bounded: at most PASS_STEPS steps looked at (the next pass goes on from where it
stopped) and PRUNE_JOBS jobs deleted, and it starts nothing new once its time budget is
spent. Every decision is taken again inside the write's own transaction (app/store), so a
report that arrives while the reconciler decides wins, and two passes at once (a holder cut
off from PostgreSQL before the server noticed) would only repeat each other's checks. A
pass that fails is logged in one line; the next one runs as usual.
"""

import json
import logging
import os
import threading
import time
from datetime import datetime, timezone

from schemas.profiles import DEFAULT_PROFILE, DEFAULT_TTL_SECONDS

from . import db as database
from .faults import classify
from .signals import lease_changed, reconciler_passed
from .store.deadlines import (deadline, fail_overdue, fail_stale, is_stale, overdue,
                              staleness_timeout, step_tasks, unfinished_steps)
from .store.reaper import reap, stale_tasks_of
from .store.retention import prune_jobs

PASS_STEPS = 500  # steps looked at per pass
PRUNE_JOBS = 2000  # jobs deleted per pass, at most
MAX_PASS_SECONDS = 1.0  # a pass starts no new work after min(this, half the interval)
KINDS = ("deadline_before_active", "deadline_active", "stale_step", "stale_task", "pruned_job")

log = logging.getLogger("jobs.reconciler")


def deadlines_by_profile(settings: dict, profiles: list[dict] | None):
    """step -> {ttl_seconds_before_active, ttl_seconds_active} (None: no deadline): a
    configured profile's, upstream's defaults filling what it leaves out; otherwise the
    JOBS_DEFAULT_TTL_SECONDS_* settings."""
    fallback = {"ttl_seconds_before_active": settings.get("JOBS_DEFAULT_TTL_SECONDS_BEFORE_ACTIVE"),
                "ttl_seconds_active": settings.get("JOBS_DEFAULT_TTL_SECONDS_ACTIVE")}
    known = {(p["provider"], p["profile"]): {k: (p.get("config") or {}).get(k, default)
                                             for k, default in DEFAULT_TTL_SECONDS.items()}
             for p in profiles or []}

    def of(step: dict) -> dict:
        executor = (step.get("step_spec") or {}).get("executor") or {}
        pair = (executor.get("provider"), executor.get("profile") or DEFAULT_PROFILE)
        return known.get(pair, fallback)
    return of


class Reconciler:
    """One process's side: the lease it may hold, and the passes it runs while it does."""

    def __init__(self, settings: dict, profiles: list[dict] | None = None):
        self.target = settings["JOBS_DB"]
        self.interval = settings["JOBS_RECONCILE_SECONDS"]
        self.retention_days = settings.get("JOBS_JOB_RETENTION_DAYS")
        self.ttls = deadlines_by_profile(settings, profiles)
        self.budget = min(MAX_PASS_SECONDS, self.interval / 2)
        self.lease = database.lease(self.target)
        self.held = False
        self.after_seq = 0  # where the next pass goes on among the steps
        self.db = None
        self.stop = threading.Event()
        self._last_failure: str | None = None  # said once until it changes or clears

    def run(self) -> None:
        lease_changed.send(os.getpid(), held=False)
        while not self.stop.is_set():
            started = time.monotonic()
            self.tick()
            self.stop.wait(max(0.0, started + self.interval - time.monotonic()))

    def tick(self) -> None:
        try:
            held = answered = self.lease.acquire()
            answered = True
        except Exception as exc:  # the database unreachable: not held, try again later
            self._failed("reconciler_lease_error", exc)
            held = answered = False
        if held != self.held:
            self.held = held
            lease_changed.send(os.getpid(), held=held)
            _line("reconciler_lease", held=held)  # taken, or lost
            if not held:
                self._drop_connection()
        if held:
            self.run_pass()
        elif answered:
            self._last_failure = None  # the database answers again

    def run_pass(self) -> dict:
        started = time.monotonic()
        actions = dict.fromkeys(KINDS, 0)
        failed = False
        try:
            if self.db is None:
                self.db = database.backend_for(self.target).connect(self.target)
            self._pass(self.db, actions, started + self.budget)
        except Exception as exc:
            failed = True
            self._failed("reconciler_pass_failed", exc, **_nonzero(actions))
            self._drop_connection()
        if not failed:
            self._last_failure = None
        seconds = time.monotonic() - started
        reconciler_passed.send(os.getpid(), seconds=seconds, failed=failed, actions=actions)
        if not failed and any(actions.values()):
            _line("reconciler_pass", seconds=round(seconds, 3), **_nonzero(actions))
        return actions

    def _pass(self, db, actions: dict, ends: float) -> None:
        at = datetime.now(timezone.utc)
        steps = unfinished_steps(db, self.after_seq, PASS_STEPS)
        self.after_seq = steps[-1]["seq"] if len(steps) == PASS_STEPS else 0
        for step in steps:
            if time.monotonic() >= ends:
                self.after_seq = step["seq"] - 1  # the next pass begins here
                return
            try:
                self._step(db, step, at, actions)
            except Exception as exc:
                if classify(exc, self.target) is not None:
                    raise  # the storage: the pass ends here, the next one tries again
                # A step that cannot be reconciled must not stop the others behind it.
                _line("reconciler_step_failed", job=f"{step['workspace']}/{step['job']}",
                      step=step["name"], error=_said(exc))
        if self.retention_days is not None and time.monotonic() < ends:
            actions["pruned_job"] += len(prune_jobs(db, self.retention_days, PRUNE_JOBS,
                                                    max(0.0, ends - time.monotonic())))

    def _step(self, db, step: dict, at: datetime, actions: dict) -> None:
        ttl = deadline(step, self.ttls(step))
        if overdue(step, ttl, at):
            if fail_overdue(db, step, ttl):
                actions["deadline_before_active" if step["status"] == "pending"
                        else "deadline_active"] += 1
                return
        timeout = staleness_timeout(step)
        if timeout is None:
            return
        # The step's rule first: a step whose workers all went quiet fails as a whole, as
        # upstream's; the task rule then catches a quiet task beside live ones.
        if is_stale(step, step_tasks(db, step), at) and fail_stale(db, step):
            actions["stale_step"] += 1
            return
        actions["stale_task"] += len(reap(db, stale_tasks_of(db, step, timeout)))

    def _failed(self, event: str, exc: Exception, **fields) -> None:
        """One line per failure, not one per interval while the same failure lasts (an
        outage of the database would say it every pass in every worker)."""
        said = f"{event}: {_said(exc)}"
        if said != self._last_failure or fields:
            _line(event, error=_said(exc), **fields)
        self._last_failure = said

    def _drop_connection(self) -> None:
        if self.db is not None:
            try:
                self.db.close()
            except Exception:
                pass
            self.db = None


def _nonzero(actions: dict) -> dict:
    return {k: v for k, v in actions.items() if v}


def _said(exc: Exception) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0]}"


def _line(event: str, **fields) -> None:
    """One JSON line on stderr, as the request log's."""
    log.info(json.dumps({"event": event, "pid": os.getpid(), **fields},
                        separators=(",", ":")))


def _own_handler() -> None:
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def start(settings: dict, profiles: list[dict] | None = None) -> Reconciler | None:
    """Run this process's reconciler in a daemon thread; None when it is off
    (JOBS_RECONCILE_SECONDS=0)."""
    if not settings["JOBS_RECONCILE_SECONDS"]:
        return None
    _own_handler()
    reconciler = Reconciler(settings, profiles)
    threading.Thread(target=reconciler.run, name="jobs-reconciler", daemon=True).start()
    return reconciler
