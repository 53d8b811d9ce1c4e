"""Render the machine as a Mermaid state diagram.

transitions' own GraphMachine can emit Mermaid, but it needs a model attached and marks a
current state with styling; a status table has no current state, so the edges are written
out plainly from the same machine.
"""

from .machine import MACHINE, allowed_targets
from .statuses import TERMINAL, Status


def mermaid() -> str:
    """A `stateDiagram-v2` of every legal move, plus entry and terminal markers."""
    lines = ["stateDiagram-v2", f"    [*] --> {Status.CREATED}"]
    for state in MACHINE.states:
        lines += [f"    {state} --> {target}" for target in allowed_targets(state)]
    lines += [f"    {s} --> [*]" for s in Status if s in TERMINAL]
    return "\n".join(lines) + "\n"


def table() -> str:
    """The transition table as Markdown, one row per source status."""
    rows = ["| from | to |", "|---|---|"]
    for s in Status:
        targets = ", ".join(t.value for t in allowed_targets(s)) or "(none: terminal)"
        rows.append(f"| {s} | {targets} |")
    return "\n".join(rows) + "\n"
