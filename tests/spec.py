"""The contract as this repository writes it down: docs/api.md's transition table, and the
seed endpoint's published OpenAPI text (tests/data). Tests check the code against these,
not against a copy of the code's own table."""

import re
from functools import cache
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
API_DOC = ROOT / "docs" / "api.md"
SEED_OPENAPI = Path(__file__).resolve().parent / "data" / "update-job-step-task.openapi.yaml"
STATUSES = ["created", "pending", "active", "cancelled", "cancelling", "error", "completed",
            "paused", "pausing", "resuming"]


@cache
def legal_moves() -> dict[str, set[str]]:
    """docs/api.md's transition table: from -> the set of statuses it may move to."""
    text = API_DOC.read_text()
    table = text.split("| from | may move to |", 1)[1].split("\n\n", 1)[0]
    moves: dict[str, set[str]] = {}
    for line in table.strip().splitlines()[1:]:  # past the |---| line
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        targets = {word for word in re.findall(r"[a-z]+", cells[1]) if word in STATUSES}
        for source in re.findall(r"[a-z]+", cells[0]):
            moves[source] = targets
    assert sorted(moves) == sorted(STATUSES), "docs/api.md's table must list every status"
    return moves


def is_legal(source: str, target: str) -> bool:
    return source == target or target in legal_moves()[source]


@cache
def openapi() -> dict:
    return yaml.safe_load(SEED_OPENAPI.read_text())
