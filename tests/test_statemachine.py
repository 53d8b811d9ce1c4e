"""The library against docs/api.md's transition table, all 100 moves."""

import itertools
import subprocess
import sys

import pytest
import transitions

import statemachine
from statemachine import IllegalTransition, Status, allowed_targets, check_move, is_legal

from .spec import STATUSES, legal_moves
from .spec import is_legal as spec_is_legal

MOVES = list(itertools.product(STATUSES, STATUSES))


def test_statuses_are_the_ten_of_the_contract():
    assert [s.value for s in Status] == STATUSES


@pytest.mark.parametrize("source,target", MOVES)
def test_move_matrix(source, target):
    expected = spec_is_legal(source, target)
    assert is_legal(source, target) is expected
    assert is_legal(Status(source), Status(target)) is expected
    if expected:
        check_move(source, target)
    else:
        with pytest.raises(IllegalTransition) as raised:
            check_move(source, target, "task 't0'")
        assert (raised.value.source, raised.value.target) == (source, target)
        assert set(raised.value.allowed) == legal_moves()[source]
        assert str(raised.value).startswith(f"Cannot move task 't0' from '{source}' to '{target}'")


@pytest.mark.parametrize("status", STATUSES)
def test_allowed_targets_and_terminal(status):
    assert set(allowed_targets(status)) == legal_moves()[status]
    assert statemachine.is_terminal(status) is (not legal_moves()[status])


def test_refusal_from_terminal_says_why():
    with pytest.raises(IllegalTransition, match=r"'completed' is terminal\.$"):
        check_move("completed", "active", "task 't0'")


@pytest.mark.parametrize("source,target", [("bogus", "active"), ("active", "bogus")])
def test_unknown_status_is_an_error_not_a_decision(source, target):
    with pytest.raises(ValueError, match="unknown status"):
        is_legal(source, target)


def test_machine_has_no_auto_transitions_and_matches_the_table():
    machine = statemachine.MACHINE
    assert not any(name.startswith("to_") for name in machine.events)
    edges = {(src, t.dest) for event in machine.events.values()
             for src, ts in event.transitions.items() for t in ts}
    assert edges == {(s, t) for s, ts in legal_moves().items() for t in ts}


def test_decisions_build_no_machine(monkeypatch):
    built = []
    original = transitions.Machine.__init__
    monkeypatch.setattr(transitions.Machine, "__init__",
                        lambda self, *a, **k: built.append(1) or original(self, *a, **k))
    for source, target in MOVES:
        is_legal(source, target)
    assert built == []


def test_importing_the_library_loads_neither_flask_nor_the_database():
    code = ("import sys, statemachine; "
            "bad = [m for m in ('flask', 'sqlite_utils', 'sqlite3', 'app') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_mermaid_lists_every_legal_move_once():
    lines = statemachine.mermaid().splitlines()
    assert lines[0] == "stateDiagram-v2"
    edges = [tuple(line.split(" --> ")) for line in (l.strip() for l in lines[1:])]
    moves = [(s, t) for s, t in edges if "[*]" not in (s, t)]
    assert sorted(moves) == sorted((s, t) for s, ts in legal_moves().items() for t in ts)
    assert {t for s, t in edges if s == "[*]"} == {"created"}
    assert {s for s, t in edges if t == "[*]"} == {"completed", "error", "cancelled"}
