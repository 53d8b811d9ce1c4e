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


API_DOC = (ROOT / "docs" / "api.md").read_text()


def _documented_operations() -> set[tuple[str, str]]:
    """(method, path) for each row of docs/api.md's endpoint tables, `/a`, `/b` forms expanded."""
    operations = set()
    for method, cell in re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| (.+?) \|", API_DOC, re.M):
        paths = re.findall(r"`([^`]+)`", cell)
        first = paths[0]
        for path in paths:
            if not path.startswith("/workspaces") and not path.startswith("/execution"):
                path = first.rsplit("/", 1)[0] + path  # `/pause` after `.../cancel`
            operations.add((method, re.sub(r"\{[a-z_]+\}", "{}", "/apis/jobs/v2" + path)))
    return operations


def test_api_doc_lists_every_api_route_and_no_other(app):
    routes = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/apis/"):
            continue
        path = re.sub(r"<(?:[a-z]+\([^)]*\):)?[a-z_]+>", "{}", rule.rule)
        choices = re.search(r"<any\(([^)]*)\):[a-z_]+>", rule.rule)
        expanded = ([rule.rule.replace(choices.group(0), c.strip()) for c in
                     choices.group(1).split(",")] if choices else [rule.rule])
        for one in expanded:
            path = re.sub(r"<(?:[a-z]+:)?[a-z_]+>", "{}", one)
            routes |= {(m, path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == _documented_operations()


def test_nothing_in_the_repository_points_outside_it():
    skipped = {".git", ".venv", "__pycache__", ".pytest_cache"}
    tracked = [p for p in ROOT.rglob("*") if p.is_file() and not skipped & set(p.parts)
               and not any(part.endswith(".egg-info") for part in p.parts)
               and p.suffix not in {".png", ".db", ".pyc"}]
    outside = [str(p.relative_to(ROOT)) for p in tracked
               if "../" + "shared" in p.read_text(errors="replace")]
    assert outside == []
