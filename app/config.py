"""Configuration in one place: every setting's default and range, read from the environment,
overridable by tests. A bad value raises ConfigError, whose message is one line naming the
variable and what it must be; the server and every command print that line and stop."""

import os

DEFAULT_DB = "jobs.db"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
DEFAULT_DB_POOL_SIZE = 2
DEFAULT_DB_TIMEOUT_MS = 10_000
DEFAULT_SQLITE_SYNCHRONOUS = "full"  # the first of the choices below
PG_MAX_TIMEOUT_MS = 2_147_483_647  # PostgreSQL's lock_timeout and statement_timeout: an int
DEFAULT_ARTIFACTS_DIR = "artifacts"
DEFAULT_LOG_RETENTION_DAYS = 30
DEFAULT_EVENTS_RETENTION_HOURS = 24
DEFAULT_MAX_WATCHERS = 1000
MAX_WAIT_S = 60
DEFAULT_STREAM_SECONDS = 300
DEFAULT_RECONCILE_SECONDS = 2.0  # upstream's reconciler runs every 2 s too
# gunicorn.conf.py reads these through gunicorn_settings().
DEFAULT_BIND = "127.0.0.1:8000"
DEFAULT_WORKERS = 2
# gevent: a request waiting for events (app/watch.py) holds a greenlet, not a process; up to
# DEFAULT_WORKER_CONNECTIONS requests at once in each worker (bench/README.md: the choice).
DEFAULT_WORKER_CLASS = "gevent"
WORKER_CLASSES = (DEFAULT_WORKER_CLASS, "sync", "gthread")
DEFAULT_WORKER_CONNECTIONS = 1000
DEFAULT_THREADS = 1  # gthread's threads per worker
DEFAULT_TIMEOUT_S = 30


class ConfigError(ValueError):
    """A setting cannot be used; the message names it and says what it must be."""


def _raw(name: str) -> str | None:
    """The variable's value, stripped; None when unset or blank (blank means the default)."""
    return (os.environ.get(name) or "").strip() or None


def _integer(name: str, default: int, minimum: int, unit: str,
             maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum or (maximum is not None and number > maximum):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"≥ {minimum}"
        raise ConfigError(f"{name}={value!r}: must be a whole number of {unit} {bounds}"
                          f" (default {default})")
    return number


def _number(name: str, default: float | None, minimum: float, unit: str,
            above: bool = False) -> float | None:
    """A number, fractions allowed: ≥ `minimum`, or > it with `above`; unset: `default`."""
    value = _raw(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        number = None
    if (number is None or number != number or number in (float("inf"), float("-inf"))
            or number < minimum or (above and number == minimum)):
        bound = f"> {minimum:g}" if above else f"≥ {minimum:g}"
        said = "unset" if default is None else f"{default:g}"
        raise ConfigError(f"{name}={value!r}: must be a number of {unit} {bound}"
                          f" (default {said})")
    return number


def _optional_integer(name: str, minimum: int, unit: str) -> int | None:
    """A whole number ≥ `minimum`, or None when unset."""
    if _raw(name) is None:
        return None
    value = _raw(name)
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise ConfigError(f"{name}={value!r}: must be a whole number of {unit} ≥ {minimum}"
                          " (default unset)")
    return number


def _choice(name: str, allowed: tuple[str, ...]) -> str:
    value = (_raw(name) or allowed[0]).lower()
    if value not in allowed:
        raise ConfigError(f"{name}={value!r}: must be one of {', '.join(allowed)}")
    return value


def _database() -> str:
    """An SQLite file or a postgresql:// URL (app/db). Unlike the other settings, an empty
    value is refused: `JOBS_DB=$UNSET_VARIABLE` would otherwise put the state somewhere
    nobody meant."""
    value = os.environ.get("JOBS_DB")
    if value is None:
        return DEFAULT_DB
    if not value.strip():
        raise ConfigError("JOBS_DB='': must be an SQLite file path or a postgresql:// URL "
                          f"(unset, it is {DEFAULT_DB})")
    return value.strip()


def from_environment() -> dict:
    return {
        "JOBS_DB": _database(),
        "JOBS_MAX_BODY_BYTES": _integer("JOBS_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1,
                                        "bytes"),
        "JOBS_AUTH_TOKENS": _raw("JOBS_AUTH_TOKENS"),
        "JOBS_MAX_JSON_DEPTH": _integer("JOBS_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH, 1,
                                        "levels"),
        # PostgreSQL only: connections each worker process keeps (workers x this must stay
        # within the server's max_connections).
        "JOBS_DB_POOL_SIZE": _integer("JOBS_DB_POOL_SIZE", DEFAULT_DB_POOL_SIZE, 1,
                                      "connections"),
        # The longest a statement may wait on a lock (SQLite's busy timeout; PostgreSQL's
        # lock_timeout and statement_timeout) before the request gets a 503.
        "JOBS_DB_TIMEOUT_MS": _integer("JOBS_DB_TIMEOUT_MS", DEFAULT_DB_TIMEOUT_MS, 1,
                                       "milliseconds", PG_MAX_TIMEOUT_MS),
        # SQLite only: `full` (default) fsyncs every commit; `normal` trades the last writes
        # before a power loss (never before a process crash) for speed.
        "JOBS_SQLITE_SYNCHRONOUS": _choice("JOBS_SQLITE_SYNCHRONOUS", (DEFAULT_SQLITE_SYNCHRONOUS, "normal")),
        "JOBS_ARTIFACTS_DIR": _raw("JOBS_ARTIFACTS_DIR") or DEFAULT_ARTIFACTS_DIR,
        # 0 keeps log lines for ever (app/store/logs.py).
        "JOBS_LOG_RETENTION_DAYS": _integer("JOBS_LOG_RETENTION_DAYS",
                                            DEFAULT_LOG_RETENTION_DAYS, 0, "days"),
        "JOBS_EXECUTION_PROFILES": _raw("JOBS_EXECUTION_PROFILES"),
        # The change feed (app/events.py): how long events are kept, how many requests may
        # wait for them at once in each worker process, the longest `wait` (and Prefer:
        # wait) honoured, and how long one event stream runs before the server ends it.
        "JOBS_EVENTS_RETENTION_HOURS": _integer("JOBS_EVENTS_RETENTION_HOURS",
                                                DEFAULT_EVENTS_RETENTION_HOURS, 1, "hours"),
        "JOBS_MAX_WATCHERS": _integer("JOBS_MAX_WATCHERS", DEFAULT_MAX_WATCHERS, 0,
                                      "watchers"),
        "JOBS_MAX_WAIT_SECONDS": _integer("JOBS_MAX_WAIT_SECONDS", MAX_WAIT_S, 0, "seconds",
                                          MAX_WAIT_S),
        "JOBS_EVENTS_STREAM_SECONDS": _integer("JOBS_EVENTS_STREAM_SECONDS",
                                               DEFAULT_STREAM_SECONDS, 60, "seconds", 86_400),
        # The reconciler (app/reconciler.py): how often it runs; 0 turns it off.
        "JOBS_RECONCILE_SECONDS": _number("JOBS_RECONCILE_SECONDS", DEFAULT_RECONCILE_SECONDS,
                                          0, "seconds"),
        # Deadlines of steps whose executor names no configured execution profile
        # (unset: none); a profile's own ttl_seconds_* apply to the others.
        "JOBS_DEFAULT_TTL_SECONDS_ACTIVE": _optional_integer(
            "JOBS_DEFAULT_TTL_SECONDS_ACTIVE", 1, "seconds"),
        "JOBS_DEFAULT_TTL_SECONDS_BEFORE_ACTIVE": _optional_integer(
            "JOBS_DEFAULT_TTL_SECONDS_BEFORE_ACTIVE", 1, "seconds"),
        # Finished jobs not updated for this long are deleted (unset: kept for ever).
        "JOBS_JOB_RETENTION_DAYS": _number("JOBS_JOB_RETENTION_DAYS", None, 0, "days",
                                           above=True),
    }


def gunicorn_settings() -> dict:
    """What gunicorn.conf.py needs, checked here so a bad value is one line, not a trace."""
    bind = _raw("GUNICORN_BIND") or DEFAULT_BIND
    if not bind.startswith(("unix:", "fd://")):
        _, colon, port = bind.rpartition(":")
        if colon and not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ConfigError(f"GUNICORN_BIND={bind!r}: must be HOST:PORT with a port from 1 "
                              f"to 65535, unix:PATH or fd://N (default {DEFAULT_BIND})")
    accesslog = _raw("GUNICORN_ACCESSLOG")
    if accesslog and accesslog != "-" and not os.path.isdir(os.path.dirname(
            os.path.abspath(accesslog))):
        raise ConfigError(f"GUNICORN_ACCESSLOG={accesslog!r}: must be '-' (stdout) or a file "
                          f"in a folder that exists")
    return {
        "bind": bind,
        "workers": _integer("GUNICORN_WORKERS", DEFAULT_WORKERS, 1, "processes"),
        "worker_class": _choice("GUNICORN_WORKER_CLASS", WORKER_CLASSES),
        "worker_connections": _integer("GUNICORN_WORKER_CONNECTIONS",
                                       DEFAULT_WORKER_CONNECTIONS, 1, "connections"),
        "threads": _integer("GUNICORN_THREADS", DEFAULT_THREADS, 1, "threads"),
        "timeout": _integer("GUNICORN_TIMEOUT", DEFAULT_TIMEOUT_S, 1, "seconds"),
        "accesslog": accesslog,
    }
