"""Configuration in one place: defaults, read from the environment, overridable by tests."""

import os

DEFAULT_DB = "jobs.db"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
DEFAULT_DB_POOL_SIZE = 2
DEFAULT_DB_TIMEOUT_MS = 10_000


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, allowed[0]).strip().lower()
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: must be one of {', '.join(allowed)}")
    return value
DEFAULT_ARTIFACTS_DIR = "artifacts"
DEFAULT_LOG_RETENTION_DAYS = 30


def from_environment() -> dict:
    return {
        "JOBS_DB": os.environ.get("JOBS_DB", DEFAULT_DB),
        "JOBS_MAX_BODY_BYTES": int(os.environ.get("JOBS_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
        "JOBS_AUTH_TOKENS": os.environ.get("JOBS_AUTH_TOKENS") or None,
        "JOBS_MAX_JSON_DEPTH": int(os.environ.get("JOBS_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)),
        # PostgreSQL only: connections each worker process keeps (workers x this must stay
        # within the server's max_connections).
        "JOBS_DB_POOL_SIZE": int(os.environ.get("JOBS_DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE)),
        # The longest a statement may wait on a lock (SQLite's busy timeout; PostgreSQL's
        # lock_timeout and statement_timeout) before the request gets a 503.
        "JOBS_DB_TIMEOUT_MS": int(os.environ.get("JOBS_DB_TIMEOUT_MS", DEFAULT_DB_TIMEOUT_MS)),
        # SQLite only: `full` (default) fsyncs every commit; `normal` trades the last writes
        # before a power loss (never before a process crash) for speed.
        "JOBS_SQLITE_SYNCHRONOUS": _choice("JOBS_SQLITE_SYNCHRONOUS", ("full", "normal")),
        "JOBS_ARTIFACTS_DIR": os.environ.get("JOBS_ARTIFACTS_DIR") or DEFAULT_ARTIFACTS_DIR,
        "JOBS_LOG_RETENTION_DAYS": int(os.environ.get("JOBS_LOG_RETENTION_DAYS",
                                                      DEFAULT_LOG_RETENTION_DAYS)),
        "JOBS_EXECUTION_PROFILES": os.environ.get("JOBS_EXECUTION_PROFILES") or None,
    }
