"""The ten statuses and the table of legal moves, as plain data."""

from enum import Enum


class Status(str, Enum):
    """A job, step or task status; the value is its wire spelling."""

    CREATED = "created"
    PENDING = "pending"
    ACTIVE = "active"
    CANCELLED = "cancelled"
    CANCELLING = "cancelling"
    ERROR = "error"
    COMPLETED = "completed"
    PAUSED = "paused"
    PAUSING = "pausing"
    RESUMING = "resuming"

    def __str__(self) -> str:
        return self.value


TERMINAL = frozenset({Status.COMPLETED, Status.ERROR, Status.CANCELLED})

# from -> the statuses it may move to (staying put is always legal and not listed).
LEGAL_MOVES: dict[Status, tuple[Status, ...]] = {
    Status.CREATED: (
        Status.PENDING, Status.ACTIVE, Status.CANCELLING, Status.CANCELLED,
        Status.PAUSING, Status.PAUSED, Status.ERROR,
    ),
    Status.PENDING: (
        Status.ACTIVE, Status.CANCELLING, Status.CANCELLED, Status.ERROR,
        Status.PAUSING, Status.PAUSED, Status.COMPLETED,
    ),
    Status.ACTIVE: (
        Status.COMPLETED, Status.ERROR, Status.CANCELLING, Status.CANCELLED,
        Status.PAUSING, Status.PAUSED,
    ),
    Status.PAUSED: (Status.RESUMING, Status.ACTIVE, Status.CANCELLING),
    Status.PAUSING: (Status.PAUSED, Status.ERROR),
    Status.RESUMING: (Status.PENDING, Status.ACTIVE, Status.ERROR, Status.CANCELLING),
    Status.CANCELLING: (Status.CANCELLED, Status.ERROR),
    Status.COMPLETED: (),
    Status.ERROR: (),
    Status.CANCELLED: (),
}
