"""The storage interface: what the store needs of a connection, and the app of a backend.

Two backends implement it, app/db/sqlite/ and app/db/postgres.py; app/db/__init__.py picks
one from JOBS_DB, once (`backend_for`). tests/test_db.py checks that both satisfy it.
"""

from contextlib import AbstractContextManager
from typing import Any, Callable, Protocol, runtime_checkable


@runtime_checkable
class Connection(Protocol):
    """One connection, as the store uses it.

    SQL is written once, in SQLite's spelling with `?` placeholders; `dialect` answers the
    few things spelled differently (app/db/dialect.py). A write runs in
    `transaction(job=(workspace, name))`: SQLite takes the database's write lock, PostgreSQL
    that job's lock, exclusive (and its row), or with `shared` (a task's report) shared.
    Inside another transaction it is a savepoint that commits with the outer one.

    Where a backend announces a commit: after the outermost transaction has committed, the
    shared commit tail (app/db/commit.py) clears a storage fault's episode and runs the
    `after_commit` callbacks queued during it, in order; a savepoint undone drops its own.
    Something to say to other processes on commit (a change feed's NOTIFY, say) is either
    written inside the transaction, so that it commits with it, or queued there.
    """

    dialect: Any  # app.db.dialect.SQLite or .PostgreSQL
    IntegrityError: type[Exception]  # a constraint refused the write (a name taken, say)
    target: str  # JOBS_DB: the file or the URL
    after_commit: list[Callable[[], None]]

    def execute(self, sql: str, params: Any = (), /) -> Any:
        """Run one statement; a cursor with fetchone()/fetchall(). Both by position: the
        backends name the second differently."""

    def transaction(self, job: tuple[str, str] | None = None,
                    shared: bool = False) -> AbstractContextManager:
        """A write transaction on the job `job` (or on no job), or a savepoint in one;
        `shared`: the job is shared with other writers that lock their own rows."""

    def snapshot(self) -> AbstractContextManager:
        """A read transaction: its reads all see the database as of the first one."""

    def ping(self) -> None:
        """Raise a storage fault unless the database answers, is migrated and is writable."""

    def probe(self, fault: dict) -> None:
        """Raise a storage fault unless `fault` (the shared episode) is over; never writes."""

    def close(self) -> None:
        """Close the connection."""


@runtime_checkable
class Pool(Protocol):
    """A worker's connections; opens nothing until first used (safe to make before a fork)."""

    def get(self) -> Connection:
        """This thread's connection, checked and migrated."""

    def release(self, db: Connection) -> None:
        """Give back what `get` handed out (at the end of the request)."""

    def close(self) -> None:
        """Close this process's connections."""


@runtime_checkable
class Backend(Protocol):
    """One kind of database: how to reach it, migrate, check and copy it. Called by position:
    the backends name their target differently (a path, a URL)."""

    def open_pool(self, target: str, pool_size: int, timeout_ms: int,
                  sqlite_synchronous: str, /) -> Pool:
        """The pool for a worker; opens nothing yet."""

    def connect(self, target: str, /) -> Connection:
        """A connection of its own, outside any pool (command-line tasks); close it."""

    def migrate(self, target: str, /) -> list[str]:
        """Apply pending migrations once, however many processes or hosts try at once;
        the names applied by this call."""

    def check_at_start(self, target: str, /) -> str | None:
        """What stops a server from starting on this database, in one line (None: nothing)."""

    def missing(self, target: str, creating: bool = False, /) -> str | None:
        """Why a command cannot work on `target`, in one line (None: it can)."""

    def check(self, target: str, /) -> list[str]:
        """The deepest check this backend offers: [] when sound, else its problems."""

    def checked(self, target: str, /) -> str:
        """The line saying that `check` found nothing, and what it covered."""

    def backup(self, target: str, destination: str, /) -> int:
        """A consistent copy of the live database; its page count. ValueError where the
        backend leaves copies to its own tools."""

    def describe(self, target: str, /) -> str:
        """The target for logs, without a password."""

    def lease(self, target: str, /) -> Any:
        """The reconciler's lease on this database: `acquire()` (never waits; True while
        held) and `release()`. Held by one process of all that share the database, and let
        go by the system when the holder dies."""
