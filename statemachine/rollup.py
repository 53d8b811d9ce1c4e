"""A job's status from its steps' statuses, and how job actions move steps."""

from collections.abc import Iterable

from .statuses import TERMINAL, Status

S = Status


def job_status(step_statuses: Iterable[Status | str]) -> Status:
    """The status a job has given its steps' statuses (the rule of docs/api.md, in its order)."""
    steps = [Status(s) for s in step_statuses]
    present = set(steps)
    if S.ERROR in present:
        return S.ERROR
    if S.CANCELLING in present:
        return S.CANCELLING
    if steps and present <= TERMINAL and S.CANCELLED in present:
        return S.CANCELLED
    if S.PAUSING in present:
        return S.PAUSING
    if S.RESUMING in present:
        return S.RESUMING
    if S.PAUSED in present and S.ACTIVE not in present:
        return S.PAUSED
    if steps and present == {S.COMPLETED}:
        return S.COMPLETED
    if S.ACTIVE in present or S.COMPLETED in present:
        return S.ACTIVE
    if S.PENDING in present:
        return S.PENDING
    return S.CREATED


# For each action: step status -> the status that action asks of it. A status not listed is
# left alone (terminal steps always; for resume, steps that are not paused). A listed
# move the table forbids refuses the whole action.
ACTIONS: dict[str, dict[Status, Status]] = {
    "cancel": {
        S.CREATED: S.CANCELLED, S.PENDING: S.CANCELLING, S.ACTIVE: S.CANCELLING,
        S.PAUSED: S.CANCELLING, S.PAUSING: S.CANCELLING, S.RESUMING: S.CANCELLING,
        S.CANCELLING: S.CANCELLING,
    },
    "pause": {
        S.CREATED: S.PAUSED, S.PENDING: S.PAUSING, S.ACTIVE: S.PAUSING,
        S.PAUSING: S.PAUSING, S.PAUSED: S.PAUSED, S.RESUMING: S.PAUSING,
        S.CANCELLING: S.PAUSING,
    },
    "resume": {S.PAUSED: S.RESUMING, S.RESUMING: S.RESUMING},
}
# A terminal job in this status already holds what the action asks.
ACTION_HOLDS_WHEN_TERMINAL = {"cancel": S.CANCELLED}
