"""The contract in ../shared/spec, read so tests check against it rather than a copy."""

import re
from functools import cache
from pathlib import Path

import yaml

SPEC_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "spec"
STATUSES = ["created", "pending", "active", "cancelled", "cancelling", "error", "completed",
            "paused", "pausing", "resuming"]


@cache
def legal_moves() -> dict[str, set[str]]:
    """API.md's transition table: from -> the set of statuses it may move to."""
    text = (SPEC_DIR / "API.md").read_text()
    section = text.split("Legal moves", 1)[1].split("\n\n", 2)[1]
    moves: dict[str, set[str]] = {}
    for line in section.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        targets = set(re.findall(r"[a-z]+", cells[1])) - {"none"}
        for source in re.findall(r"[a-z]+", cells[0]):
            moves[source] = targets
    return moves


def is_legal(source: str, target: str) -> bool:
    return source == target or target in legal_moves()[source]


@cache
def openapi() -> dict:
    return yaml.safe_load((SPEC_DIR / "update-job-step-task.openapi.yaml").read_text())
