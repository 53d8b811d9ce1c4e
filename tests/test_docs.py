"""The documents' generated parts, commands and links cannot drift from what they describe."""

import re
from pathlib import Path

import statemachine

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
API_DOC = (ROOT / "docs" / "api.md").read_text()
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]


def generated(marker: str) -> str:
    found = re.search(rf"<!-- {re.escape(marker)} -->\n(.*?)<!-- end -->", API_DOC, re.S)
    assert found, f"docs/api.md lacks the {marker} block"
    return found.group(1)


def test_api_doc_table_is_the_librarys():
    assert generated("statemachine.table()") == statemachine.table()


def test_api_doc_diagram_is_the_librarys():
    assert generated("statemachine.mermaid()") == f"```mermaid\n{statemachine.mermaid()}```\n"


def test_readme_is_short_enough_to_finish():
    assert len(README.splitlines()) <= 200


def _without_fences(text: str) -> str:
    """Fenced code blocks hold neither headings (`# a comment`) nor links."""
    return re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M)


def github_anchors(text: str) -> set[str]:
    """The ids GitHub gives the headings of a Markdown file (github-slugger's rules)."""
    anchors, seen = set(), {}
    for heading in re.findall(r"^#{1,6} +(.+?) *#* *$", _without_fences(text), re.M):
        heading = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def test_slugs_follow_githubs_rules():
    assert github_anchors("## Scale out: several hosts over one PostgreSQL\n"
                          "### Reporting a task (PUT)\n## The `nemo` command line\n"
                          "## Tests\n## Tests\n```sh\n# not a heading\n```\n") == {
        "scale-out-several-hosts-over-one-postgresql", "reporting-a-task-put",
        "the-nemo-command-line", "tests", "tests-1"}


def _broken_links(doc: Path) -> list[str]:
    broken = []
    prose = re.sub(r"`[^`\n]*`", "", _without_fences(doc.read_text()))  # code links nothing
    for target in re.findall(r"\]\(([^)\s]+)\)", prose):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:: not this repository's
            continue
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in github_anchors(linked.read_text()):
            broken.append(f"{target}: no such heading")
    return broken


def test_every_relative_link_and_anchor_resolves():
    broken = {str(doc.relative_to(ROOT)): _broken_links(doc) for doc in DOCS}
    assert {doc: links for doc, links in broken.items() if links} == {}


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"```sh\n{ci}\n```" in README


def test_readme_quick_start_starts_gunicorn_with_the_config():
    assert "gunicorn -c gunicorn.conf.py wsgi:app\n```" in README



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
