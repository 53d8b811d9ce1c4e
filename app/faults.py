"""Storage faults: the one place that turns a failure of the database into an answer.

Whatever the backend, a failure of the storage itself (not of the request) becomes a
`StorageFault` of a named kind, which the app answers with 503, `Retry-After` and a detail
an operator can act on. Nothing is written by a request that meets one: SQLite rolls its
transaction back, PostgreSQL aborts it.
"""

import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import time

import psycopg

# kind -> what the operator reads in the 503 and the log.
DETAILS = {
    "disk_full": "The database's disk is full: free space on it. Nothing was written.",
    "read_only": "The database's storage is read-only: make it writable. Nothing was written.",
    "locked": "The database stayed locked by another writer past the lock timeout: find what "
              "holds it. Nothing was written.",
    "damaged": "The database file is damaged: stop the service, run `flask --app wsgi "
               "check-db`, and restore from a backup.",
    "io_error": "The database's storage reports an I/O error: check the disk. Nothing was "
                "written.",
    "unreachable": "The database cannot be reached: check that it is running and reachable.",
    "overloaded": "The database is out of resources (connections or memory): try again later.",
    "folder_missing": "The database's folder {folder} does not exist (deleted, or never made): "
                      "restore it and the database file from a backup, then restart the "
                      "service. Nothing was written.",
    "file_missing": "The database file {path} was deleted while the service ran: restore it "
                    "from a backup, then restart the service. Nothing was written.",
}
RETRY_AFTER_SECONDS = {"locked": 1, "unreachable": 2}


class _Names(dict):
    def __missing__(self, key: str) -> str:
        return "(named in the log)"


class StorageFault(Exception):
    def __init__(self, kind: str, cause: str = "", **names):
        # A fault rebuilt from its kind alone (a worker reading the shared episode) has no
        # names: the log line of the episode's start has them.
        detail = DETAILS[kind].format_map(_Names(names))
        super().__init__(detail)
        self.kind, self.detail, self.cause = kind, detail, cause

    @property
    def retry_after(self) -> int:
        return RETRY_AFTER_SECONDS.get(self.kind, 5)


# SQLite says what went wrong only in its message (the extended codes arrive in 3.11's
# sqlite_errorname, kept as a fallback for messages that change between versions).
_SQLITE_MESSAGES = [
    ("database or disk is full", "disk_full"),
    ("readonly database", "read_only"),
    ("read-only", "read_only"),
    ("database is locked", "locked"),
    ("database table is locked", "locked"),
    ("malformed", "damaged"),
    ("file is not a database", "damaged"),
    ("disk i/o error", "io_error"),
    ("unable to open database file", "unreachable"),
]
_SQLITE_NAMES = [("SQLITE_FULL", "disk_full"), ("SQLITE_READONLY", "read_only"),
                 ("SQLITE_BUSY", "locked"), ("SQLITE_LOCKED", "locked"),
                 ("SQLITE_CORRUPT", "damaged"), ("SQLITE_NOTADB", "damaged"),
                 ("SQLITE_IOERR", "io_error"), ("SQLITE_CANTOPEN", "unreachable")]

# PostgreSQL's SQLSTATE classes and codes.
_PG_CODES = {"25006": "read_only", "53100": "disk_full", "55P03": "locked", "57014": "locked",
             "XX001": "damaged", "XX002": "damaged", "58030": "io_error"}
_PG_CLASSES = {"08": "unreachable", "57": "unreachable", "53": "overloaded"}


def classify(exc: BaseException, target: str | None = None) -> StorageFault | None:
    """The storage fault `exc` is, or None when it is not one (a bug, say). With the SQLite
    `target`, a fault its missing folder explains is said as that: SQLite itself reports it
    as a file it cannot open, or (for a file deleted under an open connection) read-only."""
    fault = _classify(exc)
    if fault is not None and target and "://" not in target and target != ":memory:":
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            return StorageFault("folder_missing", fault.cause, folder=folder)
    return fault


def _classify(exc: BaseException) -> StorageFault | None:
    if isinstance(exc, StorageFault):
        return exc
    if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError):
        text = str(exc).lower()
        name = getattr(exc, "sqlite_errorname", "") or ""
        for fragment, kind in _SQLITE_MESSAGES:
            if fragment in text:
                return StorageFault(kind, str(exc))
        for prefix, kind in _SQLITE_NAMES:
            if name.startswith(prefix):
                return StorageFault(kind, str(exc))
        return None
    if isinstance(exc, psycopg.Error) and not isinstance(exc, psycopg.errors.IntegrityError):
        code = exc.sqlstate or ""
        kind = _PG_CODES.get(code) or _PG_CLASSES.get(code[:2])
        if kind is None and isinstance(exc, psycopg.OperationalError) and not code:
            kind = "unreachable"  # the connection itself failed or was lost
        if kind is None:
            return None
        text = str(exc).strip()
        return StorageFault(kind, text.splitlines()[0] if text else "")
    return None


# ---- episodes: said once when a fault begins and once when it clears -------------------
#
# A fault is an episode, not an event per request: the first failing request of a host logs
# one line with the cause, later ones only count, and the first write that succeeds again
# (or readiness's probe) logs that it cleared. Workers share the episode through a small
# state file (one per database, beside gunicorn's metrics files), so `/health/ready` tells
# the same on every worker and the host logs each episode once, not once per worker.


log = logging.getLogger("jobs.storage")
# Readiness checks on each call whether a fault is over (a statvfs, a read, a lock taken and
# let go: no write), except a damaged file's quick_check, which reads the whole file.
PROBE_EVERY_SECONDS = {"damaged": 10.0}


class Episodes:
    """The current storage fault of one database, shared by the workers of a host."""

    def __init__(self, target: str):
        digest = hashlib.sha1(os.path.abspath(target).encode()
                              if "://" not in target else target.encode()).hexdigest()[:16]
        # Under gunicorn, a file in the master's own folder (removed when it stops). A single
        # process (the dev server, tests) keeps the state in memory and leaves no file.
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        self.path = os.path.join(folder, f"jobs-storage-{digest}.state") if folder else None
        self.memory: dict = {}
        self.target = target
        self.seen: str | None = None  # the kind this process last met, until a success
        self.last_probe = 0.0

    def _update(self, change) -> dict:
        """Read, change and write the shared state under an flock; {} when none is held."""
        if self.path is None:
            self.memory = change(self.memory)
            return self.memory
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return {}  # the temporary folder is unusable too: keep this process's view
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            raw = os.read(fd, 4096)
            state = json.loads(raw) if raw.strip() else {}
            new = change(state)
            if new is not state:
                os.lseek(fd, 0, os.SEEK_SET)
                os.ftruncate(fd, 0)
                os.write(fd, json.dumps(new).encode() if new else b"")
            return new
        except (OSError, ValueError):
            return {}
        finally:
            os.close(fd)

    def began(self, fault: StorageFault) -> None:
        self.seen = fault.kind

        def change(state):
            if state.get("kind") == fault.kind:
                return state
            log.error("storage fault: %s — %s (cause: %s)", fault.kind, fault.detail,
                      fault.cause or "n/a")
            return {"kind": fault.kind, "cause": fault.cause, "since": time.time(),
                    "free_bytes": free_bytes(self.target)}

        self._update(change)

    def succeeded(self, probed: bool = False) -> None:
        """A write committed (or readiness's probe passed): the fault is over."""
        if self.seen is None and not probed:
            return
        self.seen = None

        def change(state):
            if not state:
                return state
            log.warning("storage fault cleared: %s (lasted %.1f s)", state.get("kind"),
                        time.time() - state.get("since", time.time()))
            return {}

        self._update(change)

    def current(self) -> dict:
        """The shared state: {} when no fault is known, else its kind, cause and since."""
        if self.path is None:
            return self.memory
        try:
            with open(self.path, "rb") as f:
                raw = f.read(4096)
            return json.loads(raw) if raw.strip() else {}
        except (OSError, ValueError):
            return {"kind": self.seen} if self.seen else {}

    def due_for_probe(self, kind: str) -> bool:
        now = time.monotonic()
        if now - self.last_probe < PROBE_EVERY_SECONDS.get(kind, 0.0):
            return False
        self.last_probe = now
        return True


def free_bytes(target: str) -> int | None:
    """Free space where an SQLite file lives (None for a server database)."""
    if "://" in target:
        return None
    try:
        found = os.statvfs(os.path.dirname(os.path.abspath(target)))
    except OSError:
        return None
    return found.f_bavail * found.f_frsize


_episodes: dict[str, Episodes] = {}


def episodes(target: str) -> Episodes:
    found = _episodes.get(target)
    if found is None:
        found = _episodes[target] = Episodes(target)
    return found


def began(target: str, fault: StorageFault) -> None:
    episodes(target).began(fault)


def write_succeeded(target: str) -> None:
    # On every commit: a dict lookup, and nothing more unless this process met a fault.
    found = _episodes.get(target)
    if found is not None and found.seen is not None:
        found.succeeded()


def probe_passed(target: str) -> None:
    episodes(target).succeeded(probed=True)


def refuse_if_damaged(target: str) -> None:
    """Once this process has met a damaged file, it serves nothing from it (not even reads
    that happen to miss the damage) until readiness's quick_check passes again."""
    found = _episodes.get(target)
    if found is not None and found.seen == "damaged":
        raise StorageFault("damaged", "met earlier by this worker")
