"""Storage faults: the one place that turns a failure of the database into an answer.

Whatever the backend, a failure of the storage itself (not of the request) becomes a
`StorageFault` of a named kind, which the app answers with 503, `Retry-After` and a detail
an operator can act on. Nothing is written by a request that meets one: SQLite rolls its
transaction back, PostgreSQL aborts it.

- fault.py: the kinds, and what the operator reads for each;
- classify.py, with sqlite.py and postgres.py: which driver error is which kind;
- episodes.py: a fault said once when it begins and once when it clears, shared by the
  workers of a host through a small state file.
"""

from .classify import classify
from .episodes import (Episodes, began, episodes, free_bytes, probe_passed, refuse_if_damaged,
                       write_succeeded)
from .fault import DETAILS, RETRY_AFTER_SECONDS, StorageFault

__all__ = ["DETAILS", "RETRY_AFTER_SECONDS", "Episodes", "StorageFault", "began", "classify",
           "episodes", "free_bytes", "probe_passed", "refuse_if_damaged", "write_succeeded"]
