"""What every backend does around its transactions, written once.

A backend's `transaction` opens, commits or rolls back in its own way, inside one of these:
`outermost` around a transaction of its own, `nested` around a savepoint in one.
"""

from contextlib import contextmanager

from .. import faults


@contextmanager
def outermost(db):
    """The commit tail: once the transaction inside has committed, a storage fault this
    process met is over, and the callbacks queued during it run, in order. One that fails
    (or is rolled back) runs none of them."""
    db.after_commit.clear()
    try:
        yield
    except BaseException:
        db.after_commit.clear()
        raise
    faults.write_succeeded(db.target)
    callbacks, db.after_commit = db.after_commit, []
    for callback in callbacks:
        callback()


@contextmanager
def nested(db):
    """A savepoint's share: its callbacks wait for the outer commit, and are dropped with
    the savepoint if it is undone."""
    waiting = len(db.after_commit)
    try:
        yield
    except BaseException:
        del db.after_commit[waiting:]
        raise
