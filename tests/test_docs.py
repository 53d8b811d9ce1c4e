"""The README's generated parts and commands cannot drift from what they describe."""

import re
from pathlib import Path

import statemachine

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def generated(marker: str) -> str:
    found = re.search(rf"<!-- {re.escape(marker)} -->\n(.*?)<!-- end -->", README, re.S)
    assert found, f"README lacks the {marker} block"
    return found.group(1)


def test_readme_table_is_the_librarys():
    assert generated("statemachine.table()") == statemachine.table()


def test_readme_diagram_is_the_librarys():
    assert generated("statemachine.mermaid()") == f"```mermaid\n{statemachine.mermaid()}```\n"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"```sh\n{ci}\n```" in README


def test_readme_quick_start_starts_gunicorn_with_the_config():
    assert "gunicorn -c gunicorn.conf.py wsgi:app\n```" in README
