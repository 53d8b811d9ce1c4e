"""Episodes: a storage fault said once when it begins and once when it clears.

A fault is an episode, not an event per request: the first failing request of a host logs
one line with the cause, later ones only count, and the first write that succeeds again
(or readiness's probe) logs that it cleared. Workers share the episode through a small
state file (one per database, beside gunicorn's metrics files), so `/health/ready` tells
the same on every worker and the host logs each episode once, not once per worker.
"""

import fcntl
import hashlib
import json
import logging
import os
import time

from .fault import StorageFault

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
