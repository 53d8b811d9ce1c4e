"""The reconciler's lease on an SQLite database: an flock() of `<db>.reconciler-lock`.

One process of the host holds it at a time; the kernel lets go when the holder dies, a
kill -9 included, so another process takes it at its next try.
"""

import fcntl
import os


class FileLease:
    def __init__(self, path: str):
        self.path = path + ".reconciler-lock"
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Hold the lease, without waiting; True while this process holds it."""
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor lets go of the flock
            self._fd = None


def lease(target: str) -> FileLease:
    return FileLease(target)
