"""One `transitions` machine over the statuses, and the decisions taken from it.

The machine is built once at import. Asking it per decision (``may_<trigger>``) costs
microseconds and needs a model, so the legal targets are read off its events once into a
table of frozensets; every decision is then a set lookup.
"""

from transitions import Machine

from .statuses import LEGAL_MOVES, TERMINAL, Status

MACHINE = Machine(
    model=None,
    states=[s.value for s in Status],
    transitions=[
        {"trigger": dest.value, "source": [src.value for src, dests in LEGAL_MOVES.items() if dest in dests], "dest": dest.value}
        for dest in Status
        if any(dest in dests for dests in LEGAL_MOVES.values())
    ],
    initial=None,
    auto_transitions=False,
)


def _targets_from_machine() -> dict[Status, frozenset[Status]]:
    targets: dict[Status, set[Status]] = {s: set() for s in Status}
    for event in MACHINE.events.values():
        for source, transitions in event.transitions.items():
            targets[Status(source)].update(Status(t.dest) for t in transitions)
    return {s: frozenset(dests) for s, dests in targets.items()}


_TARGETS = _targets_from_machine()
_STATUS_VALUES = frozenset(s.value for s in Status)


class IllegalTransition(ValueError):
    """A move the table forbids; carries what was asked and what was allowed."""

    def __init__(self, source: Status, target: Status, subject: str = "entity"):
        self.source = Status(source)
        self.target = Status(target)
        self.allowed = allowed_targets(self.source)
        if self.source in TERMINAL:
            reason = f"'{self.source}' is terminal"
        else:
            reason = "allowed: " + ", ".join(f"'{s}'" for s in self.allowed)
        super().__init__(f"Cannot move {subject} from '{self.source}' to '{self.target}': {reason}.")


def allowed_targets(source: Status | str) -> list[Status]:
    """The statuses `source` may move to, in the enum's order (staying put not listed)."""
    targets = _TARGETS[Status(source)]
    return [s for s in Status if s in targets]


def is_legal(source: Status | str, target: Status | str) -> bool:
    """Whether moving from `source` to `target` is allowed; staying put always is."""
    targets = _TARGETS.get(source)
    if targets is None or target not in _STATUS_VALUES:
        raise ValueError(f"unknown status in move {source!r} -> {target!r}")
    return source == target or target in targets


def is_terminal(status: Status | str) -> bool:
    return status in TERMINAL


def check_move(source: Status | str, target: Status | str, subject: str = "entity") -> None:
    """Raise IllegalTransition unless the move is legal."""
    if not is_legal(source, target):
        raise IllegalTransition(source, target, subject)
