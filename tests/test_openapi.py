"""What /openapi.json says beyond the bodies: the bearer scheme, a tag and an imperative
summary on every operation, and the refusals every operation can meet (401/403 with tokens
on, 503 while the storage is unavailable), each checked against what the app answers.
Also the root's links and /docs/."""

import hashlib
import json
import re
from pathlib import Path

import pytest

from app import create_app
from app.db import migrate
from app.docs import LINKS, TAGS, document

from .conftest import platform_spec
from .test_storage_faults import garble_a_page

VERBS = {"Append", "Cancel", "Count", "Create", "Delete", "Download", "Get", "List", "Merge", "Move",
         "Pause", "Record", "Rerun", "Resume", "Update"}
# Bodies that pass validation, so the answer is decided past it.
BODIES = {
    ("post", "/workspaces/{workspace}/jobs"): {"name": "aa", "platform_spec": platform_spec("aa")},
    ("patch", "/workspaces/{workspace}/jobs/{job}/steps/{name}/status"): {"status": "active"},
    ("post", "/workspaces/{workspace}/jobs/{name}/logs"): {
        "data": [{"job_step": "aa", "job_task": "aa", "message": "m"}]},
    ("post", "/workspaces/{workspace}/jobs/{job}/results/{name}"): {
        "artifact_storage_type": "fileset", "artifact_url": "fileset://aa/aa/x"},
}


def operations():
    for path, methods in document()["paths"].items():
        for method, operation in methods.items():
            yield method, path, operation


def call(client, method, path, headers=None):
    url = re.sub(r"{\w+}", "aa", path)
    if "/jobs/-/" in path and method == "post":  # a bulk action needs a filter to pass
        url += "?filter[name]=aa"
    body = BODIES.get((method, path.removeprefix("/apis/jobs/v2")), {})
    return client.open(url, method=method.upper(), json=body, headers=headers or {})


def test_a_bearer_scheme_is_the_global_requirement_and_may_be_left_out():
    doc = document()
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"][
            "securitySchemes"]["bearer"]["description"]}
    assert doc["security"] == [{"bearer": []}, {}]  # {}: no token, while tokens are off
    assert "JOBS_AUTH_TOKENS" in doc["info"]["description"]


def test_every_operation_has_one_declared_tag_and_an_imperative_summary():
    declared = [t["name"] for t in document()["tags"]]
    assert declared == [name for name, _, _ in TAGS]
    used = set()
    for method, path, operation in operations():
        assert len(operation["tags"]) == 1 and operation["tags"][0] in declared, (method, path)
        used.add(operation["tags"][0])
        assert operation["summary"].split()[0] in VERBS, operation["summary"]
    assert used == set(declared)
    tasks = document()["paths"]["/apis/jobs/v2/workspaces/{workspace}/jobs/{job}/steps/{step}/tasks/{name}"]
    assert tasks["put"]["tags"] == ["tasks"] and tasks["get"]["tags"] == ["tasks"]


def test_every_operation_is_declared_on_its_view_and_nowhere_else(app):
    """Each /apis route's view carries its declaration (app/api.py) and lives in its
    blueprint's module; the module that builds the document names no path of its own."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/apis/"):
            continue
        view = app.view_functions[rule.endpoint]
        assert view.api.summary and view.api.answers, rule.rule
        assert view.__module__ == "app." + rule.endpoint.split(".")[0], rule.rule
    source = (Path(__file__).parent.parent / "app" / "docs.py").read_text()
    assert re.findall(r"[\"'](?:/apis|/workspaces|/jobs|/execution-profiles)\b", source) == []


@pytest.fixture
def guarded(tmp_path):
    """Tokens on: one reader of workspace zz only."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{
        "principal": "r", "sha256": hashlib.sha256(b"r-0123456789").hexdigest(),
        "workspaces": ["zz"], "role": "reader"}]}))
    migrate(str(tmp_path / "jobs.db"))
    return create_app({"JOBS_DB": str(tmp_path / "jobs.db"), "JOBS_AUTH_TOKENS": str(tokens),
                       "TESTING": True}).test_client()


def test_401_and_403_are_documented_wherever_tokens_on_answer_them(guarded):
    for method, path, operation in operations():
        documented = set(operation["responses"])
        assert call(guarded, method, path).status_code == 401 and "401" in documented, path
        other = call(guarded, method, path, {"Authorization": "Bearer r-0123456789"})
        if "{workspace}" in path:  # another workspace than the token's
            assert other.status_code == 403 and "403" in documented, (method, path)
        else:  # execution profiles: any valid token reads them
            assert other.status_code == 200 and "403" not in documented


def test_503_with_retry_after_is_documented_wherever_the_storage_can_refuse(tmp_path):
    client = create_app({"JOBS_DB": str(tmp_path)}).test_client()  # a directory: no database
    for method, path, operation in operations():
        assert "Retry-After" in operation["responses"]["503"]["headers"], path
        if "{workspace}" not in path:
            continue  # reads no database; refused only once a damaged file was met (below)
        answer = call(client, method, path)
        assert answer.status_code == 503 and answer.headers["Retry-After"], (method, path)


def test_after_a_damaged_file_even_execution_profiles_get_503(tmp_path):
    path = tmp_path / "jobs.db"
    migrate(str(path))
    client = create_app({"JOBS_DB": str(path)}).test_client()
    assert client.get("/apis/jobs/v2/execution-profiles").status_code == 200
    url = "/apis/jobs/v2/workspaces/ws/jobs"
    for n in range(40):
        client.post(url, json={"name": f"j{n}", "description": "x" * 2000,
                               "platform_spec": platform_spec("s")})
    garble_a_page(path)
    assert client.get(url + "?page_size=100").status_code == 503
    refused = client.get("/apis/jobs/v2/execution-profiles")
    assert refused.status_code == 503 and refused.headers["Retry-After"]


@pytest.mark.parametrize("accept, status, where", [
    (None, 200, None), ("*/*", 200, None), ("application/json", 200, None),
    ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 302, "/ui/"),
])
def test_the_root_lists_the_links_or_sends_a_browser_to_the_dashboard(client, accept, status, where):
    answer = client.get("/", headers={"Accept": accept} if accept else {})
    # Accept-Encoding too: JSON answers are compressed for clients that take gzip.
    assert answer.status_code == status and answer.headers["Vary"] == "Accept, Accept-Encoding"
    if where:
        assert answer.headers["Location"] == where
    else:
        assert answer.json["links"] == LINKS
        for link in LINKS.values():  # every link leads somewhere
            assert client.get(link).status_code == 200, link


def test_docs_with_a_slash_is_the_docs_page(client):
    assert client.get("/docs/").data == client.get("/docs").data
    assert b"/openapi.json" in client.get("/docs/init.js").data
