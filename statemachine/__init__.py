"""The Jobs v2 status machine, usable without the web service.

It imports neither Flask nor the database layer, so other Python code can embed it:

    from statemachine import Status, is_legal, check_move, IllegalTransition
"""

from .diagram import mermaid, table
from .machine import MACHINE, IllegalTransition, allowed_targets, check_move, is_legal, is_terminal
from .rollup import ACTION_HOLDS_WHEN_TERMINAL, ACTIONS, job_status
from .statuses import LEGAL_MOVES, TERMINAL, Status

__all__ = [
    "ACTIONS",
    "ACTION_HOLDS_WHEN_TERMINAL",
    "job_status",
    "LEGAL_MOVES",
    "MACHINE",
    "TERMINAL",
    "IllegalTransition",
    "Status",
    "allowed_targets",
    "check_move",
    "is_legal",
    "is_terminal",
    "mermaid",
    "table",
]
