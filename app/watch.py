"""Waiting for events without holding a process, and without each watcher polling.

Each worker process has one tail (a Hub per database; a greenlet under gevent's workers).
It reads every new event once and hands each to the waiting watchers whose filters it
matches; a watcher costs a small object and an Event, never a query while it waits. The
tail wakes:
- at once after a commit in its own process (app/store/events.py calls `nudge`); on
  PostgreSQL it then sends NOTIFY jobs_events, once for all the commits since its last, so
  the tails of the other processes and hosts read too;
- on PostgreSQL, on that NOTIFY, and every FALLBACK_SECONDS without one (a transaction
  that ended without events, such as a refused write, lets the feed's horizon move on
  with no NOTIFY; so does a process killed between its commit and its NOTIFY);
- on SQLite, every POLL_SECONDS (one indexed read per process), for commits made by the
  other worker processes on the same file.
"""

import logging
import os
import threading
import time
from collections import deque

from . import metrics
from .store import events

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05
FALLBACK_SECONDS = 0.25
PRUNE_EVERY_SECONDS = 60.0
# A tail with no watchers stops: on SQLite at once, on PostgreSQL once its process has
# written nothing for this long (until then it sends the NOTIFYs of that process's writes).
IDLE_SECONDS = 30.0
BUFFER = 1000  # events a watcher keeps while it is busy; beyond, it reads the database


# Threads of this gunicorn worker (gunicorn.conf.py sets it; None outside gunicorn). Each
# waiting request holds one, so a worker keeps RESERVED_THREADS free for everything else.
THREADS: int | None = None
RESERVED_THREADS = 32


class TooManyWatchers(Exception):
    pass


def cap(configured: int) -> int:
    """How many requests may wait at once in this process."""
    if THREADS is None:
        return configured
    return min(configured, max(THREADS - RESERVED_THREADS, THREADS // 2))


class Watcher:
    def __init__(self, workspace: str, jobs, kinds, after: events.Place):
        self.workspace, self.after = workspace, after
        self.jobs = frozenset(jobs) if jobs else None
        self.kinds = frozenset(kinds) if kinds else None
        self.ready = threading.Event()
        self.rows: deque = deque()
        self.overflowed = False
        self.covered = False

    def keys(self) -> list[tuple]:
        """Where the hub files it: under each job it watches, or its whole workspace."""
        return [(self.workspace, job) for job in self.jobs] if self.jobs else \
            [(self.workspace, None)]

    def matches(self, row: dict) -> bool:
        return ((self.jobs is None or row["job"] in self.jobs)
                and (self.kinds is None or row["kind"] in self.kinds))

    def push(self, row: dict) -> None:
        if len(self.rows) >= BUFFER:
            self.overflowed = True
        else:
            self.rows.append(row)
        self.ready.set()

    def wait(self, timeout: float) -> bool:
        """Whether something arrived within `timeout` seconds."""
        return self.ready.wait(max(0.0, timeout))

    def take(self, limit: int) -> tuple[list, events.Place] | None:
        """Up to `limit` (row, place) that arrived past `after`, and the place after them;
        None: too much arrived, or from before the tail's first read: read the database."""
        self.ready.clear()
        if self.overflowed or not self.covered:
            self.overflowed = False
            self.rows.clear()
            return None
        taken, after = [], self.after
        while self.rows and len(taken) < limit:
            row = self.rows.popleft()
            for found in events.follow([row], after):
                after = found[1]
                if not found[2]:
                    taken.append(found[:2])
        if self.rows:
            self.ready.set()  # more to take next time
        self.after = after
        return taken, after


class Hub:
    def __init__(self, target: str, timeout_ms: int, retention_hours: int, max_watchers: int):
        self.target, self.timeout_ms = target, timeout_ms
        self.retention_hours, self.max_watchers = retention_hours, max_watchers
        self.postgres = target.startswith(("postgresql://", "postgres://"))
        self._lock = threading.Lock()
        self._watchers: dict[tuple, set] = {}  # (workspace, job or None) -> watchers
        self._count = 0
        self._kick = threading.Event()
        self._pid = None
        self.last = None  # the newest position handed out
        self.closing = False

    def start(self) -> None:
        """The tail thread of this process, started on first use (after gunicorn forks)."""
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            if self._pid != os.getpid():  # a parent's watchers are not this process's
                self._watchers, self._count = {}, 0
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="events-tail", daemon=True).start()

    def nudge(self) -> None:
        self._kick.set()

    def register(self, workspace: str, jobs, kinds, after: events.Place) -> Watcher:
        self.start()
        watcher = Watcher(workspace, jobs, kinds, after)
        with self._lock:
            limit = cap(self.max_watchers)
            if self._count >= limit:
                raise TooManyWatchers(limit)
            # The tail hands on every event after `last`; before its first read (None) it
            # may start past events this watcher has not read: it reads the database then.
            watcher.covered = self.last is not None
            for key in watcher.keys():
                self._watchers.setdefault(key, set()).add(watcher)
            self._count += 1
        metrics.WATCHERS.inc()
        return watcher

    def unregister(self, watcher: Watcher) -> None:
        with self._lock:
            removed = False
            for key in watcher.keys():
                found = self._watchers.get(key)
                if found and watcher in found:
                    found.discard(watcher)
                    removed = True
                    if not found:
                        del self._watchers[key]
            if removed:
                self._count -= 1
                metrics.WATCHERS.dec()

    def _dispatch(self, rows: list[dict]) -> None:
        with self._lock:
            for row, self.last, _ in events.follow(rows, self.last):
                for key in ((row["workspace"], row["job"]), (row["workspace"], None)):
                    for watcher in self._watchers.get(key, ()):
                        if watcher.matches(row):
                            watcher.push(row)

    def _run(self) -> None:
        while True:
            try:
                if self._tail():
                    return
            except Exception as exc:  # the database away: try again, never die
                log.warning("events tail: %s; retrying in 1 s", (str(exc).splitlines() or [""])[0])
                time.sleep(1.0)

    def _idle(self, since: float) -> bool:
        """Stop when nothing needs the tail (the next watcher or write starts it again)."""
        with self._lock:
            quiet = IDLE_SECONDS if self.postgres else 0.0
            if self._count or self._kick.is_set() or time.monotonic() - since < quiet:
                return False
            self._pid, self.last = None, None
            return True

    def _connect(self):
        from .db import connect
        db = connect(self.target)
        if self.postgres:
            # Its NOTIFYs need no flush to disk: a lost one is made up by the fallback read.
            db.execute("SET synchronous_commit = off")
            db.execute("LISTEN jobs_events")
        return db

    def _tail(self) -> None:
        db = self._connect()
        try:
            if self.last is None:
                newest = events.newest(db)
                with self._lock:
                    self.last = newest
                    early = [w for found in self._watchers.values() for w in found]
                # Watchers registered before this read may have missed what it skipped:
                # they read the database once now (they are not `covered`).
                for watcher in early:
                    watcher.ready.set()
            pruned_at = 0.0
            busy_at = time.monotonic()
            while True:
                kicked = self._wait(db)
                now = time.monotonic()
                if kicked or self._count:
                    busy_at = now
                elif self._idle(busy_at):
                    return True
                if kicked and self.postgres:
                    db.execute("NOTIFY jobs_events")
                while True:
                    rows = events.read(db, None, self.last, limit=events.PAGE_MAX)
                    if rows:
                        self._dispatch(rows)
                    if len(rows) < events.PAGE_MAX:
                        break
                if now - pruned_at > PRUNE_EVERY_SECONDS:
                    pruned_at = now
                    self._prune(db)
        finally:
            db.close()

    def _wait(self, db) -> bool:
        """Until nudged (True), notified or the poll's time passed (False)."""
        if not self.postgres:
            kicked = self._kick.wait(POLL_SECONDS)
            self._kick.clear()
            return kicked
        # Notifications arrive on this connection's socket; between short looks at it, a
        # nudge from this process is seen within POLL_SECONDS at worst.
        deadline = time.monotonic() + FALLBACK_SECONDS
        while time.monotonic() < deadline:
            if self._kick.is_set():
                self._kick.clear()
                return True
            for _ in db.conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                return False
        return False

    def _prune(self, db) -> None:
        from datetime import datetime, timedelta, timezone
        from schemas.fields import utc_text
        before = utc_text(datetime.now(timezone.utc) - timedelta(hours=self.retention_hours))
        events.prune(db, before)


_HUBS: dict = {}


def close_all() -> None:
    """The worker is stopping: every waiting request answers now and every stream ends, so
    a graceful restart does not wait for them (clients resume from their cursors)."""
    for hub in _HUBS.values():
        hub.closing = True
        with hub._lock:
            waiting = [w for found in hub._watchers.values() for w in found]
        for watcher in waiting:
            watcher.ready.set()


def hub_for(app) -> Hub:
    found = app.extensions.get("jobs_events_hub")
    if found is None or found.target != app.config["JOBS_DB"]:  # the setting may change
        config = app.config
        key = config["JOBS_DB"]
        found = _HUBS.get(key)
        if found is None:
            found = _HUBS[key] = Hub(key, config["JOBS_DB_TIMEOUT_MS"],
                                     config["JOBS_EVENTS_RETENTION_HOURS"],
                                     config["JOBS_MAX_WATCHERS"])
        app.extensions["jobs_events_hub"] = found
    return found


def _nudge_all() -> None:
    """After a local commit that appended events: local watchers read, and on PostgreSQL
    the other processes are told."""
    for hub in _HUBS.values():
        if hub._pid == os.getpid() or hub.postgres:
            hub.start()
            hub.nudge()


events.committed_listeners.append(_nudge_all)
