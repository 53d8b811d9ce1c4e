"""Which PostgreSQL (psycopg) errors are storage faults, and of which kind."""

import psycopg

from .fault import StorageFault

# PostgreSQL's SQLSTATE classes and codes.
_CODES = {"25006": "read_only", "53100": "disk_full", "55P03": "locked", "57014": "locked",
          "XX001": "damaged", "XX002": "damaged", "58030": "io_error"}
_CLASSES = {"08": "unreachable", "57": "unreachable", "53": "overloaded"}


def classify(exc: BaseException) -> StorageFault | None:
    """The fault a psycopg error is; None for anything else (a constraint, a bug)."""
    if not isinstance(exc, psycopg.Error) or isinstance(exc, psycopg.errors.IntegrityError):
        return None
    code = exc.sqlstate or ""
    kind = _CODES.get(code) or _CLASSES.get(code[:2])
    if kind is None and isinstance(exc, psycopg.OperationalError) and not code:
        kind = "unreachable"  # the connection itself failed or was lost
    if kind is None:
        return None
    text = str(exc).strip()
    return StorageFault(kind, text.splitlines()[0] if text else "")
