"""Workspace isolation with bearer tokens: every (principal kind x workspace x method) cell."""

import hashlib
import json
import logging
import shutil

import pytest

from app import create_app
from app.auth import AuthConfigError
from app.db import migrate

from .conftest import platform_spec, serving

TOKENS = {  # principal kind -> token (only their hashes go into the file)
    "reader-a": "r-a-0123456789", "writer-a": "w-a-0123456789",
    "reader-all": "r-all-0123456789", "writer-all": "w-all-0123456789",
}
FILE = {"tokens": [
    {"principal": "ann", "sha256": None, "workspaces": ["team-a"], "role": "reader", "kind": "reader-a"},
    {"principal": "bob", "sha256": None, "workspaces": ["team-a"], "role": "writer", "kind": "writer-a"},
    {"principal": "cat", "sha256": None, "workspaces": ["*"], "role": "reader", "kind": "reader-all"},
    {"principal": "dan", "sha256": None, "workspaces": ["*"], "role": "writer", "kind": "writer-all"},
]}
for entry in FILE["tokens"]:
    entry["sha256"] = hashlib.sha256(TOKENS[entry.pop("kind")].encode()).hexdigest()

HEADERS = {
    "no-token": {}, "malformed": {"Authorization": "Token abc"},
    "empty-bearer": {"Authorization": "Bearer "}, "unknown": {"Authorization": "Bearer nope"},
    **{kind: {"Authorization": f"Bearer {token}"} for kind, token in TOKENS.items()},
}
# team-a and team-b hold a job `j1`; team-c does not exist.
METHODS = {
    "list-jobs": ("GET", "/jobs", None, 200),
    "count-jobs": ("GET", "/jobs/-/counts", None, 200),
    "bulk-cancel": ("POST", "/jobs/-/cancel?filter[name]=j1", None, 200),
    "get-job": ("GET", "/jobs/j1", None, 200),
    "get-task": ("GET", "/jobs/j1/steps/s1/tasks/t0", None, 200),
    "create-job": ("POST", "/jobs", {"name": "new", "platform_spec": platform_spec("s1")}, 201),
    "put-task": ("PUT", "/jobs/j1/steps/s1/tasks/t1", {"status": "active"}, 200),
    "patch-step": ("PATCH", "/jobs/j1/steps/s1/status", {"status": "active"}, 200),
    "cancel-job": ("POST", "/jobs/j1/cancel", None, 200),
    "delete-job": ("DELETE", "/jobs/j1", None, 204),
    "list-results": ("GET", "/jobs/j1/results", None, 200),
    "get-result": ("GET", "/jobs/j1/results/r1", None, 200),
    "download-result": ("GET", "/jobs/j1/results/r1/download", None, 200),
    "create-result": ("POST", "/jobs/j1/results/r2", lambda ws: {
        "artifact_storage_type": "fileset", "artifact_url": f"fileset://{ws}/j1/out.txt"}, 201),
    "read-logs": ("GET", "/jobs/j1/logs", None, 200),
    "append-logs": ("POST", "/jobs/j1/logs", {"data": [
        {"job_step": "s1", "job_task": "t0", "message": "hello"}]}, 201),
}
R, W = "read", "write"
# The expectation, written out: (principal kind, workspace) -> answer for reads and writes.
# "ok" means the request reaches the API: its normal success, or 404 where nothing exists.
EXPECTED = {
    **{(p, ws): {R: 401, W: 401} for p in ("no-token", "malformed", "empty-bearer", "unknown")
       for ws in ("team-a", "team-b", "team-c")},
    ("reader-a", "team-a"): {R: "ok", W: 403},
    ("reader-a", "team-b"): {R: 403, W: 403},
    ("reader-a", "team-c"): {R: 403, W: 403},
    ("writer-a", "team-a"): {R: "ok", W: "ok"},
    ("writer-a", "team-b"): {R: 403, W: 403},
    ("writer-a", "team-c"): {R: 403, W: 403},
    ("reader-all", "team-a"): {R: "ok", W: 403},
    ("reader-all", "team-b"): {R: "ok", W: 403},
    ("reader-all", "team-c"): {R: "ok", W: 403},
    ("writer-all", "team-a"): {R: "ok", W: "ok"},
    ("writer-all", "team-b"): {R: "ok", W: "ok"},
    ("writer-all", "team-c"): {R: "ok", W: "ok"},
}


@pytest.fixture(scope="module")
def secured_app(tmp_path_factory):
    """One app with tokens on, and a database seeded once: team-a and team-b each hold `j1`
    with a task and a result whose artifact exists."""
    folder = tmp_path_factory.mktemp("secured")
    tokens = folder / "tokens.json"
    tokens.write_text(json.dumps(FILE))
    migrate(str(folder / "seeded.db"))
    app = create_app({"JOBS_DB": str(folder / "seeded.db"), "JOBS_AUTH_TOKENS": str(tokens),
                      "JOBS_ARTIFACTS_DIR": str(folder / "artifacts")})
    client = app.test_client()
    admin = HEADERS["writer-all"]
    for ws in ("team-a", "team-b"):
        client.post(f"/apis/jobs/v2/workspaces/{ws}/jobs", headers=admin,
                    json={"name": "j1", "platform_spec": platform_spec("s1")})
        client.put(f"/apis/jobs/v2/workspaces/{ws}/jobs/j1/steps/s1/tasks/t0", headers=admin,
                   json={"status": "active"})
        client.post(f"/apis/jobs/v2/workspaces/{ws}/jobs/j1/results/r1", headers=admin, json={
            "artifact_storage_type": "fileset", "artifact_url": f"fileset://{ws}/j1/out.txt"})
        (folder / "artifacts" / ws / "j1").mkdir(parents=True)
        (folder / "artifacts" / ws / "j1" / "out.txt").write_text(f"{ws}'s result")
    app.extensions["jobs_db"].close()  # the seeded file is whole: each test gets a copy
    yield app, folder / "seeded.db"
    app.extensions["jobs_db"].close()


@pytest.fixture
def secured(secured_app, tmp_path):
    """A client of that app over a fresh copy of the seeded database."""
    app, seeded = secured_app
    shutil.copyfile(seeded, tmp_path / "a.db")
    with serving(app, str(tmp_path / "a.db")):
        yield app.test_client()


@pytest.mark.parametrize("method_name", METHODS)
@pytest.mark.parametrize("principal,workspace", EXPECTED)
def test_every_cell(secured, principal, workspace, method_name):
    method, path, body, success = METHODS[method_name]
    expected = EXPECTED[(principal, workspace)][R if method == "GET" else W]
    url = f"/apis/jobs/v2/workspaces/{workspace}{path}"
    body = body(workspace) if callable(body) else body
    with secured.open(url, method=method, json=body, headers=HEADERS[principal]) as response:
        check_cell(response, expected, method_name, workspace, success)


def check_cell(response, expected, method_name, workspace, success):
    if expected == "ok":
        exists = workspace != "team-c" or method_name == "create-job"
        # Lists, counts and bulk actions answer for a workspace with no jobs too.
        wanted = (200 if method_name in ("list-jobs", "count-jobs", "bulk-cancel")
                  else success if exists else 404)
        assert response.status_code == wanted, response.get_data(as_text=True)
    else:
        assert response.status_code == expected
        assert response.mimetype == "application/json" and "detail" in response.json
        if expected == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("principal", ["no-token", "malformed", "unknown"])
def test_execution_profiles_need_a_valid_token(secured, principal):
    response = secured.get("/apis/jobs/v2/execution-profiles", headers=HEADERS[principal])
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("principal", TOKENS)
def test_any_valid_token_reads_the_execution_profiles(secured, principal):
    response = secured.get("/apis/jobs/v2/execution-profiles", headers=HEADERS[principal])
    assert response.status_code == 200 and response.json == []


def test_403_reads_the_same_whether_or_not_the_workspace_exists(secured):
    headers = HEADERS["reader-a"]
    answers = [secured.get(f"/apis/jobs/v2/workspaces/{ws}/jobs/j1", headers=headers)
               for ws in ("team-b", "team-c")]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].get_data() == answers[1].get_data()


# Paths and methods the API does not have, in a workspace with data, one without access for
# most callers, and one that does not exist.
NO_ROUTE = [
    ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/j1/nothing", 404),
    ("POST", "/apis/jobs/v2/workspaces/{ws}/jobs/j1/steps/s1/nothing", 404),
    ("GET", "/apis/jobs/v2/workspaces/{ws}", 404),
    ("GET", "/apis/jobs/v3/workspaces/{ws}/jobs", 404),
    ("DELETE", "/apis/jobs/v2/workspaces/{ws}/jobs/j1/logs", 405),
    ("POST", "/apis/jobs/v2/execution-profiles", 405),
]


@pytest.mark.parametrize("method, path, status", NO_ROUTE, ids=lambda v: str(v))
@pytest.mark.parametrize("principal", HEADERS)
def test_a_route_the_api_does_not_have_is_404_for_every_caller(secured, principal, method, path,
                                                              status):
    """Not a 403 for a valid token, nor a 401 without one: the answer comes from the route
    table alone, so it is the same in every workspace and says nothing of what exists."""
    answers = []
    for ws in ("team-a", "team-b", "team-c"):
        with secured.open(path.format(ws=ws), method=method, headers=HEADERS[principal]) as r:
            assert r.status_code == status and r.mimetype == "application/json", r.data
            assert "WWW-Authenticate" not in r.headers
            answers.append((r.get_data(), r.headers.get("Allow")))
    assert answers[0] == answers[1] == answers[2]


def test_principals_are_recorded_and_created_by_never_changes(secured):
    base = "/apis/jobs/v2/workspaces/team-a/jobs/j1/steps/s1/tasks/t5"
    created = secured.put(base, json={"status": "active"}, headers=HEADERS["writer-a"]).json
    updated = secured.put(base, json={"status": "completed"}, headers=HEADERS["writer-all"]).json
    assert (created["created_by"], created["updated_by"]) == ("bob", "bob")
    assert (updated["created_by"], updated["updated_by"]) == ("bob", "dan")
    history = secured.get(base + "/history", headers=HEADERS["reader-a"]).json["data"]
    assert [e["by"] for e in history] == ["bob", "dan"]
    job = secured.get("/apis/jobs/v2/workspaces/team-a/jobs/j1", headers=HEADERS["reader-a"]).json
    assert job["created_by"] == "dan"


def test_health_docs_and_metrics_stay_open(secured):
    for url in ("/health/live", "/health/ready", "/openapi.json", "/metrics"):
        assert secured.get(url).status_code == 200, url


def test_tokens_never_reach_the_log(secured, caplog):
    with caplog.at_level(logging.DEBUG):
        for token in (*TOKENS.values(), "nope-secret"):
            secured.get("/apis/jobs/v2/workspaces/team-a/jobs",
                        headers={"Authorization": f"Bearer {token}"})
    for token in (*TOKENS.values(), "nope-secret"):
        assert token not in caplog.text


@pytest.mark.parametrize("content,problem", [
    ("not json", "cannot read it as JSON"),
    ('{"tokens": [{"principal": "x", "sha256": "abc", "workspaces": ["a"], "role": "writer"}]}',
     "64 lowercase hex"),
    ('{"tokens": [{"principal": "x", "sha256": "' + "a" * 64 + '", "workspaces": [], "role": "writer"}]}',
     "workspaces"),
    ('{"tokens": [{"principal": "x", "sha256": "' + "a" * 64 + '", "workspaces": ["a"], "role": "admin"}]}',
     "role"),
    ('{"tokens": [{"principal": "x", "sha256": "' + "a" * 64 + '", "workspaces": ["a"], "role": "reader"},'
     ' {"principal": "y", "sha256": "' + "a" * 64 + '", "workspaces": ["b"], "role": "reader"}]}',
     "appears twice"),
    ("{}", "tokens"),
])
def test_a_malformed_tokens_file_stops_the_start(tmp_path, content, problem):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(content)
    with pytest.raises(AuthConfigError, match=problem):
        create_app({"JOBS_DB": str(tmp_path / "x.db"), "JOBS_AUTH_TOKENS": str(tokens)})


def test_a_missing_tokens_file_stops_the_start(tmp_path):
    with pytest.raises(AuthConfigError, match="cannot read"):
        create_app({"JOBS_DB": str(tmp_path / "x.db"), "JOBS_AUTH_TOKENS": str(tmp_path / "no")})


def test_without_tokens_the_start_says_authentication_is_off_and_no_app_repeats_it(
        tmp_path, caplog):
    # The server's start says it once (gunicorn.conf.py; counted in tests/test_config.py);
    # each app made (every worker, every command) says nothing.
    from app.auth import warn_if_off

    with caplog.at_level(logging.WARNING, logger="app.auth"):
        create_app({"JOBS_DB": str(tmp_path / "x.db")})
        assert "authentication is OFF" not in caplog.text
        warn_if_off({"JOBS_AUTH_TOKENS": None})
    assert caplog.text.count("authentication is OFF") == 1


@pytest.mark.slow
def test_gunicorn_refuses_to_start_with_a_malformed_tokens_file(tmp_path):
    import os
    import subprocess
    import sys

    from .server import ROOT, free_port

    tokens = tmp_path / "tokens.json"
    tokens.write_text('{"tokens": [{"principal": "x"}]}')
    env = {**os.environ, "JOBS_DB": str(tmp_path / "g.db"), "JOBS_AUTH_TOKENS": str(tokens),
           "GUNICORN_BIND": f"127.0.0.1:{free_port()}"}
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "cannot start: JOBS_AUTH_TOKENS=" in done.stderr and "sha256" in done.stderr
