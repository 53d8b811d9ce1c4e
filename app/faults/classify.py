"""Whether an exception is a storage fault, whichever driver raised it."""

import os

from . import postgres, sqlite
from .fault import StorageFault


def classify(exc: BaseException, target: str | None = None) -> StorageFault | None:
    """The storage fault `exc` is, or None when it is not one (a bug, say). With the SQLite
    `target`, a fault its missing folder explains is said as that: SQLite itself reports it
    as a file it cannot open, or (for a file deleted under an open connection) read-only."""
    fault = exc if isinstance(exc, StorageFault) else (sqlite.classify(exc)
                                                        or postgres.classify(exc))
    if fault is not None and target and "://" not in target and target != ":memory:":
        folder = os.path.dirname(os.path.abspath(target))
        if not os.path.isdir(folder):
            return StorageFault("folder_missing", fault.cause, folder=folder)
    return fault
