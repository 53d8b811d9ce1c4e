"""Opening a result's artifact under JOBS_ARTIFACTS_DIR, and nothing outside it.

`fileset://{workspace}/{fileset}/{path}` is the file `{root}/{workspace}/{fileset}/{path}`.
Before anything is opened, the URL is checked again (schemas/results.py's grammar), its
workspace must be the request's, and the path with every symbolic link resolved must stay
inside `{root}/{workspace}/{fileset}`. Then the file is opened one component at a time from
the root without following links, so a link swapped in after the check is refused too.
A refused artifact is never opened, let alone read.
"""

import os
import stat

from schemas.results import parse_artifact_url

from .errors import ApiError, NotFound


class ArtifactRefused(ApiError):
    """The artifact would be read from outside its workspace's fileset."""

    status = 403


_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO must not block


def resolve(root: str, workspace: str, url: str) -> tuple[str, list[str]]:
    """(the real root, the path's parts below it) for the artifact `url`, or ArtifactRefused."""
    try:
        owner, fileset, parts = parse_artifact_url(url)
    except ValueError as exc:
        raise ArtifactRefused(f"Refused: {exc}") from None
    if owner != workspace:
        raise ArtifactRefused(f"Refused: the artifact is in workspace '{owner}', not "
                              f"'{workspace}'.")
    base = os.path.realpath(root)
    home = os.path.join(base, owner, fileset)
    target = os.path.realpath(os.path.join(home, *parts))
    if os.path.commonpath([home, target]) != home or target == home:
        raise ArtifactRefused("Refused: the artifact's path leads (through a symbolic link) "
                              "outside its workspace's fileset.")
    return base, os.path.relpath(target, base).split(os.sep)


def open_artifact(root: str, workspace: str, url: str, missing: str) -> tuple[int, int]:
    """(an open file descriptor, its size) for the artifact; `missing` is the 404's text."""
    base, parts = resolve(root, workspace, url)
    try:
        directory = os.open(base, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise NotFound(missing) from None
    try:
        for part in parts[:-1]:
            inner = os.open(part, _DIRECTORY, dir_fd=directory)
            os.close(directory)
            directory = inner
        fd = os.open(parts[-1], _FILE, dir_fd=directory)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(missing) from None
    except OSError:  # ELOOP: a link appeared since the check; EACCES and the like
        raise ArtifactRefused("Refused: the artifact cannot be opened safely.") from None
    finally:
        os.close(directory)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise NotFound(missing)
    os.set_blocking(fd, True)
    return fd, info.st_size
