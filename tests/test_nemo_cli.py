"""The official `nemo` command line (PyPI `nemo-platform`) drives the service unchanged.

Every `nemo jobs ...` command runs the CLI's own entry point (its typer app, through click's
test runner) in this process against a real gunicorn, as a person would type it: NMP_BASE_URL points it
here, NMP_WORKSPACE picks the workspace, and it gets a HOME of its own so no user
configuration leaks in. Each test checks the exit code and what the command printed. A new
process per command cost 1.7 s; `test_the_installed_command_runs_as_a_process` still runs
the installed `nemo` itself, to show the command people type works.
"""

import json
import os
import subprocess
import sys
import traceback
import warnings
from pathlib import Path

import pytest
import requests

pytest.importorskip("nemo_platform.cli.app")

import typer.main  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from nemo_platform.cli.app import app as nemo_app  # noqa: E402

from .server import running  # noqa: E402

pytestmark = pytest.mark.slow

NEMO = Path(sys.executable).with_name("nemo")
WORKSPACE = "cli"
EXECUTOR = {"provider": "cpu", "container": {"image": "python:3.11"}}
PROFILES = [{"backend": "docker", "provider": "cpu", "profile": "default", "config": {}}]
ARTIFACT = b"model weights \x00\x01\x02" * 1000
RUNNER = CliRunner()
# What the `nemo` script builds at every start (`cli()` -> `app()` -> this, then runs it);
# built once here, it runs every command alike, for half the time.
NEMO_COMMAND = typer.main.get_command(nemo_app)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not NEMO.exists():
        pytest.skip("the nemo command is not installed (see the README's test command)")
    tmp = tmp_path_factory.mktemp("nemo-cli")
    (tmp / "profiles.yaml").write_text(
        "- backend: docker\n  provider: cpu\n  profile: default\n  config: {}\n")
    (tmp / "artifacts" / WORKSPACE / "res-job" / "out").mkdir(parents=True)
    (tmp / "artifacts" / WORKSPACE / "res-job" / "out" / "model.bin").write_bytes(ARTIFACT)
    env = {"JOBS_EXECUTION_PROFILES": str(tmp / "profiles.yaml"),
           "JOBS_ARTIFACTS_DIR": str(tmp / "artifacts")}
    with running(tmp / "cli.db", tmp / "gunicorn.log", workers=2, env=env) as server:
        server.home = tmp / "home"
        server.home.mkdir()
        yield server
    assert "Traceback" not in server.log()


class Nemo:
    """`nemo`, run in this process (or, with `process`, as the installed command): its exit
    code and what it printed."""

    def __init__(self, server, process: bool = False):
        self.process = process
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NMP_")}
        self.env.update(HOME=str(server.home), NMP_BASE_URL=server.url, NMP_WORKSPACE=WORKSPACE,
                        NO_COLOR="1", COLUMNS="200", TERM="dumb")
        self.api = f"{server.url}/apis/jobs/v2/workspaces/{WORKSPACE}/jobs"

    def run(self, *args: str) -> subprocess.CompletedProcess:
        if self.process:
            return subprocess.run([str(NEMO), *args], env=self.env, capture_output=True,
                                  text=True, stdin=subprocess.DEVNULL, timeout=120)
        # The runner sets these for the command's run and restores them; None unsets.
        env = {**{k: None for k in os.environ if k.startswith("NMP_")}, **self.env}
        # As the `nemo` script runs it: an exception ends the command with exit code 1, not
        # the test, and under Python's own warning filters (pytest makes warnings errors).
        with warnings.catch_warnings():
            warnings.resetwarnings()
            warnings.simplefilter("ignore", DeprecationWarning)
            done = RUNNER.invoke(NEMO_COMMAND, list(args), env=env, prog_name="nemo")
        stderr = done.stderr
        if done.exception is not None and not isinstance(done.exception, SystemExit):
            stderr += "".join(traceback.format_exception(*done.exc_info))
        return subprocess.CompletedProcess(args, done.exit_code, done.stdout, stderr)

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        return done.stdout

    def json(self, *args: str):
        return json.loads(self.ok(*args, "-f", "json"))

    def refused(self, *args: str) -> str:
        """A command the service refuses: exit code 1, and the service's words."""
        done = self.run(*args)
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr, (args, done.stderr)  # said, not crashed
        return " ".join((done.stdout + done.stderr).split())  # the CLI wraps long lines

    def create(self, name: str, source: str = "cli", steps=("prep", "train")) -> dict:
        body = {"source": source, "spec": {"k": "v"}, "platform_spec": {
            "steps": [{"name": s, "executor": EXECUTOR} for s in steps]}}
        return self.json("jobs", "create", name, "--input-data", json.dumps(body))


@pytest.fixture(scope="module")
def nemo(server):
    return Nemo(server)


def test_jobs_create_get_and_list(nemo):
    created = nemo.create("list-a", source="zeta")
    assert created["name"] == "list-a" and created["status"] == "created"
    assert created["platform_spec"]["steps"][0]["lifecycle"] == {"staleness_timeout_seconds": 0}
    nemo.create("list-b", source="alpha")
    nemo.create("list-c", source="mid")
    assert nemo.json("jobs", "get", "list-b")["source"] == "alpha"

    names = lambda *args: [j["name"] for j in nemo.json("jobs", "list", *args)["data"]
                           if j["name"].startswith("list-")]
    assert names() == ["list-c", "list-b", "list-a"]  # newest first
    assert names("--sort", "source") == ["list-b", "list-c", "list-a"]
    assert names("--sort", "-source") == ["list-a", "list-c", "list-b"]
    assert names("--filter.workspace", WORKSPACE, "--sort", "created_at") == [
        "list-a", "list-b", "list-c"]
    assert names("--filter.workspace", "elsewhere") == []
    created_at = nemo.json("jobs", "get", "list-b")["created_at"]
    same_moment = {"created_at": {"gte": created_at, "lte": created_at}}
    assert names("--filter", json.dumps(same_moment)) == ["list-b"]
    assert names("--filter", json.dumps({"name": {"$in": ["list-a", "list-c"]}}),
                 "--sort", "created_at") == ["list-a", "list-c"]
    assert names("--filter.source", "mid") == ["list-c"]
    every = nemo.json("jobs", "list", "--all-pages", "--page-size", "1", "--sort", "created_at")
    assert [j["name"] for j in every["data"]][:3] == ["list-a", "list-b", "list-c"]

    table = nemo.ok("jobs", "list", "-f", "table")
    assert "list-a" in table and "created" in table


def test_steps_tasks_status_and_a_refused_move(nemo):
    nemo.create("work")
    steps = nemo.json("jobs", "steps", "list", "work")["data"]
    assert [s["name"] for s in steps] == ["prep", "train"]
    assert nemo.json("jobs", "steps", "get", "prep", "--job", "work")["status"] == "created"
    moved = nemo.json("jobs", "steps", "update-status", "prep", "--job", "work",
                      "--status", "active")
    assert moved["status"] == "active"

    task = nemo.json("jobs", "tasks", "create-or-update", "t0", "--job", "work", "--step", "prep",
                     "--status", "active")
    assert task["status"] == "active" and task["name"] == "t0"
    nemo.ok("jobs", "tasks", "create-or-update", "t0", "--job", "work", "--step", "prep",
            "--status", "completed")
    assert nemo.json("jobs", "tasks", "get", "t0", "--job", "work", "--step", "prep")[
        "status"] == "completed"
    assert [t["name"] for t in nemo.json("jobs", "tasks", "list", "prep", "--job", "work")[
        "data"]] == ["t0"]

    said = nemo.refused("jobs", "tasks", "create-or-update", "t0", "--job", "work", "--step",
                        "prep", "--status", "active")
    assert "(422)" in said and "invalid_transition" in said
    assert "Cannot move task 't0' from 'completed' to 'active': 'completed' is terminal." in said

    tree = nemo.json("jobs", "get-status", "work")
    assert tree["status"] == "active" and tree["steps"][0]["tasks"][0]["status"] == "completed"
    details = nemo.json("jobs", "update-status-details", "work", "--body", '{"progress": 40}')
    assert details["status_details"]["progress"] == 40


def test_pause_resume_cancel_delete_and_a_missing_job(nemo):
    nemo.create("life")
    assert nemo.json("jobs", "pause", "life")["status"] == "paused"
    assert nemo.json("jobs", "resume", "life")["status"] == "resuming"
    assert nemo.json("jobs", "cancel", "life")["status"] == "cancelling"
    assert "Deleted" in nemo.ok("jobs", "delete", "life")
    for args in (("jobs", "get", "life"), ("jobs", "get-logs", "life"),
                 ("jobs", "results", "list", "life"), ("jobs", "delete", "life")):
        said = nemo.refused(*args)
        assert "(404) Job 'life' not found in workspace 'cli'." in said, args


def test_get_logs_pages_and_filters(nemo):
    nemo.create("logs-job")
    lines = [{"job_step": "prep" if i % 2 else "train", "job_task": f"w{i % 3}",
              "message": f"line {i:03d}", "timestamp": f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"}
             for i in range(120)]
    assert requests.post(f"{nemo.api}/logs-job/logs", json={"data": lines}, timeout=10).ok
    first = nemo.json("jobs", "get-logs", "logs-job", "--limit", "25")
    assert [e["message"] for e in first["data"]] == [f"line {i:03d}" for i in range(25)]
    assert first["total"] == 120 and first["next_page"]
    second = nemo.json("jobs", "get-logs", "logs-job", "--limit", "25", "--page-cursor",
                       first["next_page"])
    assert second["data"][0]["message"] == "line 025"
    every = nemo.json("jobs", "get-logs", "logs-job", "--limit", "25", "--all-pages")
    assert [e["message"] for e in every["data"]] == [line["message"] for line in lines]
    only = nemo.json("jobs", "get-logs", "logs-job", "--step-id", "prep", "--task-id", "w1")
    assert [e["message"] for e in only["data"]] == [
        l["message"] for l in lines if l["job_step"] == "prep" and l["job_task"] == "w1"]
    assert nemo.json("jobs", "get-logs", "logs-job", "--attempt-id", "2")["data"] == []
    assert "line 000" in nemo.ok("jobs", "get-logs", "logs-job", "-f", "table")
    said = nemo.refused("jobs", "get-logs", "logs-job", "--page-cursor", "forged")
    assert "(422)" in said and "invalid_cursor" in said


def test_results_create_list_get_download(nemo, tmp_path):
    nemo.create("res-job")
    created = nemo.json("jobs", "results", "create", "model", "--job", "res-job",
                        "--artifact-storage-type", "fileset",
                        "--artifact-url", f"fileset://{WORKSPACE}/res-job/out/model.bin")
    assert created["download_url"].endswith("/jobs/res-job/results/model/download")
    listed = nemo.json("jobs", "results", "list", "res-job")["data"]
    assert [r["name"] for r in listed] == ["model"]
    assert nemo.json("jobs", "results", "get", "model", "--job", "res-job")["artifact_url"] == (
        f"fileset://{WORKSPACE}/res-job/out/model.bin")
    target = tmp_path / "model.bin"
    assert "Downloaded" in nemo.ok("jobs", "results", "download", "model", "--job", "res-job",
                                   "-o", str(target))
    assert target.read_bytes() == ARTIFACT
    said = nemo.refused("jobs", "results", "create", "evil", "--job", "res-job",
                        "--artifact-storage-type", "fileset",
                        "--artifact-url", f"fileset://{WORKSPACE}/res-job/../../etc/passwd")
    assert "(422)" in said and "artifact_url_invalid" in said
    said = nemo.refused("jobs", "results", "get", "nope", "--job", "res-job")
    assert "(404) Result 'nope' for job 'res-job' not found in workspace 'cli'." in said


def test_execution_profiles_are_listed_and_enforced(nemo):
    profiles = nemo.json("jobs", "list-execution-profiles")
    assert [(p["backend"], p["provider"], p["profile"]) for p in profiles] == [
        ("docker", "cpu", "default")]
    body = {"source": "cli", "spec": {}, "platform_spec": {"steps": [
        {"name": "s1", "executor": {"provider": "gpu", "container": {"image": "x"}}}]}}
    said = nemo.refused("jobs", "create", "no-gpu", "--input-data", json.dumps(body))
    assert "unknown_execution_profile" in said and "configured: cpu/default" in said


def test_with_authentication_on_the_cli_sends_its_token(tmp_path):
    import hashlib

    token = "cli-token-0123456789"
    (tmp_path / "tokens.json").write_text(json.dumps({"tokens": [{
        "principal": "cli-user", "sha256": hashlib.sha256(token.encode()).hexdigest(),
        "workspaces": [WORKSPACE], "role": "writer"}]}))
    with running(tmp_path / "auth.db", tmp_path / "g.log", workers=1,
                 env={"JOBS_AUTH_TOKENS": str(tmp_path / "tokens.json")}) as server:
        server.home = tmp_path / "home"
        server.home.mkdir()
        nemo = Nemo(server)
        nemo.env["NMP_ACCESS_TOKEN"] = token
        assert nemo.create("authed")["name"] == "authed"
        assert nemo.json("jobs", "get", "authed")["created_by"] == "cli-user"
        assert nemo.json("jobs", "list-execution-profiles") == []
        assert "(403)" in nemo.refused("jobs", "list", "--workspace", "theirs")
        nemo.env["NMP_ACCESS_TOKEN"] = "wrong"
        assert "(401) The bearer token is not valid." in nemo.refused("jobs", "list")


def test_the_installed_command_runs_as_a_process(server):
    """The `nemo` script itself, in a process of its own, as typed: an answer, a refusal."""
    nemo = Nemo(server, process=True)
    assert nemo.create("by-process")["name"] == "by-process"
    said = nemo.refused("jobs", "get", "not-there")
    assert "(404) Job 'not-there' not found in workspace 'cli'." in said
