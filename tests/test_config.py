"""Settings and operator commands: a bad setting or argument, or a JOBS_DB that names nothing,
is refused in one line that names it; nothing is created by mistake."""

import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
import requests

from app import config, create_app
from app.db import migrate

from .conftest import API, platform_spec
from .server import ROOT, free_port, running

# Every setting read from the environment, with a bad value, and the line that refuses it.
BAD_APP_SETTINGS = [
    ("JOBS_DB", "  ", "JOBS_DB='': must be an SQLite file path or a postgresql:// URL"),
    ("JOBS_MAX_BODY_BYTES", "1MB",
     "JOBS_MAX_BODY_BYTES='1MB': must be a whole number of bytes ≥ 1 (default 1048576)"),
    ("JOBS_MAX_BODY_BYTES", "0", "JOBS_MAX_BODY_BYTES='0': must be a whole number of bytes ≥ 1"),
    ("JOBS_MAX_JSON_DEPTH", "-1",
     "JOBS_MAX_JSON_DEPTH='-1': must be a whole number of levels ≥ 1 (default 32)"),
    ("JOBS_DB_POOL_SIZE", "0",
     "JOBS_DB_POOL_SIZE='0': must be a whole number of connections ≥ 1 (default 2)"),
    ("JOBS_DB_TIMEOUT_MS", "1.5",
     "JOBS_DB_TIMEOUT_MS='1.5': must be a whole number of milliseconds from 1 to 2147483647"),
    ("JOBS_DB_TIMEOUT_MS", "9999999999", "JOBS_DB_TIMEOUT_MS='9999999999': must be a whole"),
    ("JOBS_SQLITE_SYNCHRONOUS", "off",
     "JOBS_SQLITE_SYNCHRONOUS='off': must be one of full, normal"),
    ("JOBS_LOG_RETENTION_DAYS", "abc",
     "JOBS_LOG_RETENTION_DAYS='abc': must be a whole number of days ≥ 0 (default 30)"),
    ("JOBS_AUTH_TOKENS", "/nonexistent/tokens.json",
     "JOBS_AUTH_TOKENS=/nonexistent/tokens.json: cannot read it as JSON"),
    ("JOBS_EXECUTION_PROFILES", "/nonexistent/profiles.yaml",
     "JOBS_EXECUTION_PROFILES=/nonexistent/profiles.yaml"),
]
BAD_GUNICORN_SETTINGS = [
    ("GUNICORN_WORKERS", "two",
     "GUNICORN_WORKERS='two': must be a whole number of processes ≥ 1 (default 2)"),
    ("GUNICORN_WORKERS", "0", "GUNICORN_WORKERS='0': must be a whole number of processes ≥ 1"),
    ("GUNICORN_THREADS", "x", "GUNICORN_THREADS='x': must be a whole number of threads ≥ 1"),
    ("GUNICORN_TIMEOUT", "0", "GUNICORN_TIMEOUT='0': must be a whole number of seconds ≥ 1"),
    ("GUNICORN_BIND", "127.0.0.1:http",
     "GUNICORN_BIND='127.0.0.1:http': must be HOST:PORT with a port from 1 to 65535"),
    ("GUNICORN_ACCESSLOG", "/nonexistent/access.log",
     "GUNICORN_ACCESSLOG='/nonexistent/access.log': must be '-' (stdout) or a file in a "
     "folder that exists"),
]
# The reconciler's settings: checked by the quick test only (a process per case costs).
BAD_RECONCILER_SETTINGS = [
    ("JOBS_RECONCILE_SECONDS", "-1",
     "JOBS_RECONCILE_SECONDS='-1': must be a number of seconds ≥ 0 (default 2)"),
    ("JOBS_RECONCILE_SECONDS", "nan", "JOBS_RECONCILE_SECONDS='nan': must be a number"),
    ("JOBS_JOB_RETENTION_DAYS", "0",
     "JOBS_JOB_RETENTION_DAYS='0': must be a number of days > 0 (default unset)"),
    ("JOBS_JOB_RETENTION_DAYS", "a week", "JOBS_JOB_RETENTION_DAYS='a week': must be a number"),
    ("JOBS_DEFAULT_TTL_SECONDS_ACTIVE", "1.5",
     "JOBS_DEFAULT_TTL_SECONDS_ACTIVE='1.5': must be a whole number of seconds ≥ 1 "
     "(default unset)"),
    ("JOBS_DEFAULT_TTL_SECONDS_BEFORE_ACTIVE", "0",
     "JOBS_DEFAULT_TTL_SECONDS_BEFORE_ACTIVE='0': must be a whole number of seconds ≥ 1"),
]
COMMANDS = [["check-db"], ["reap-stale"], ["reap-stale", "--dry-run"], ["prune-logs"],
            ["prune-jobs", "--older-than", "1"], ["backup", "copy.db"]]


def _env(tmp_path, **settings) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("JOBS_", "GUNICORN_", "PROMETHEUS_"))}
    return {**env, "JOBS_DB": str(tmp_path / "x.db"), "TMPDIR": str(tmp_path), **settings}


def _only_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.mark.parametrize("name,value,line",
                         BAD_APP_SETTINGS + BAD_RECONCILER_SETTINGS + BAD_GUNICORN_SETTINGS)
def test_a_bad_setting_is_one_line_naming_it(monkeypatch, tmp_path, name, value, line):
    monkeypatch.setenv("JOBS_DB", str(tmp_path / "x.db"))
    monkeypatch.setenv(name, value)
    with pytest.raises(config.ConfigError) as refused:
        create_app() if name.startswith("JOBS_") else config.gunicorn_settings()
    assert str(refused.value).startswith(line) and "\n" not in str(refused.value)


@pytest.mark.slow  # a process per case
@pytest.mark.parametrize("name,value,line", BAD_APP_SETTINGS)
def test_every_flask_command_refuses_a_bad_setting_in_one_line(tmp_path, name, value, line):
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "machine"], cwd=ROOT,
                          env=_env(tmp_path, **{name: value}), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert _only_line(done.stderr).startswith(f"cannot start: {line}")


@pytest.mark.slow
@pytest.mark.parametrize("name,value,line", BAD_GUNICORN_SETTINGS + [
    s for s in BAD_APP_SETTINGS if s[0] == "JOBS_LOG_RETENTION_DAYS"] + [
    ("PROMETHEUS_MULTIPROC_DIR", "/proc/nope/metrics",
     "PROMETHEUS_MULTIPROC_DIR=/proc/nope/metrics: cannot make the folder")])
def test_gunicorn_refuses_a_bad_setting_in_one_line(tmp_path, name, value, line):
    env = _env(tmp_path, **{"GUNICORN_BIND": f"127.0.0.1:{free_port()}", name: value})
    done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    refusals = [x for x in done.stderr.splitlines() if "cannot start" in x]
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert len(refusals) == 1 and f"cannot start: {line}" in refusals[0]


def test_unset_and_blank_settings_take_the_defaults(monkeypatch):
    for name in ("JOBS_DB", "JOBS_MAX_BODY_BYTES", "GUNICORN_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBS_LOG_RETENTION_DAYS", " ")
    monkeypatch.setenv("JOBS_MAX_JSON_DEPTH", " 7 ")
    settings = config.from_environment()
    assert settings["JOBS_DB"] == config.DEFAULT_DB
    assert settings["JOBS_MAX_BODY_BYTES"] == config.DEFAULT_MAX_BODY_BYTES
    assert settings["JOBS_LOG_RETENTION_DAYS"] == config.DEFAULT_LOG_RETENTION_DAYS
    assert settings["JOBS_MAX_JSON_DEPTH"] == 7
    assert config.gunicorn_settings()["workers"] == config.DEFAULT_WORKERS


class TestAMissingDatabase:
    @pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
    @pytest.mark.parametrize("where", ["file", "folder"])
    def test_commands_refuse_it_and_create_nothing(self, tmp_path, args, where):
        target = tmp_path / "typo.db" if where == "file" else tmp_path / "nodir" / "typo.db"
        app = create_app({"JOBS_DB": str(target)})
        args = [a.replace("copy.db", str(tmp_path / "copy.db")) for a in args]
        result = app.test_cli_runner().invoke(args=args)
        assert result.exit_code == 1
        line = _only_line(result.output)
        assert line.startswith(f"Error: JOBS_DB={target}: ")
        assert ("no such database file" if where == "file"
                else f"the folder {target.parent} does not exist") in line
        assert sorted(os.listdir(tmp_path)) == []

    def test_init_db_creates_it(self, tmp_path):
        app = create_app({"JOBS_DB": str(tmp_path / "new.db")})
        result = app.test_cli_runner().invoke(args=["init-db"])
        assert result.exit_code == 0 and (tmp_path / "new.db").is_file()
        assert app.test_cli_runner().invoke(args=["check-db"]).exit_code == 0

    def test_init_db_refuses_a_folder_that_does_not_exist(self, tmp_path):
        target = tmp_path / "nodir" / "new.db"
        result = create_app({"JOBS_DB": str(target)}).test_cli_runner().invoke(args=["init-db"])
        assert result.exit_code == 1
        assert _only_line(result.output) == (f"Error: JOBS_DB={target}: the folder "
                                             f"{target.parent} does not exist: create it, or "
                                             "correct JOBS_DB")
        assert not target.parent.exists()

    @pytest.mark.slow
    def test_gunicorn_refuses_a_folder_that_does_not_exist(self, tmp_path):
        target = tmp_path / "nodir" / "x.db"
        env = _env(tmp_path, JOBS_DB=str(target), GUNICORN_BIND=f"127.0.0.1:{free_port()}")
        done = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py",
                               "wsgi:app"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=60)
        refusals = [x for x in done.stderr.splitlines() if "cannot start" in x]
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        assert len(refusals) == 1
        assert f"the folder {target.parent} does not exist" in refusals[0]
        assert "Booting worker" not in done.stderr and not target.parent.exists()


class TestBackupArguments:
    @pytest.fixture
    def runner(self, tmp_path):
        migrate(str(tmp_path / "live.db"))
        return create_app({"JOBS_DB": str(tmp_path / "live.db")}).test_cli_runner()

    def test_a_destination_in_a_missing_folder(self, runner, tmp_path):
        result = runner.invoke(args=["backup", str(tmp_path / "nodir" / "b.db")])
        assert result.exit_code == 1
        assert _only_line(result.output).startswith(
            f"Error: DESTINATION {tmp_path / 'nodir' / 'b.db'}: the folder {tmp_path / 'nodir'} "
            "does not exist")

    def test_the_live_database_itself(self, runner, tmp_path):
        result = runner.invoke(args=["backup", str(tmp_path / "live.db")])
        assert result.exit_code == 1 and "is the live database itself" in result.output

    def test_a_file_that_is_not_a_database(self, runner, tmp_path):
        (tmp_path / "notes.txt").write_text("not a database")
        result = runner.invoke(args=["backup", str(tmp_path / "notes.txt")])
        assert result.exit_code == 1
        assert _only_line(result.output).startswith(f"Error: DESTINATION {tmp_path / 'notes.txt'}")
        assert (tmp_path / "notes.txt").read_text() == "not a database"


def test_a_folder_deleted_while_serving_is_named_in_the_503(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    app = create_app({"JOBS_DB": str(folder / "x.db"), "TESTING": True})
    client = app.test_client()
    assert client.get(f"{API}/ws/jobs").status_code == 200  # a connection is open now
    shutil.rmtree(folder)
    answer = client.post(f"{API}/ws/jobs",
                         json={"name": "j1", "platform_spec": platform_spec("s1")})
    ready = client.get("/health/ready")
    assert answer.status_code == 503 and ready.status_code == 503
    assert f"The database's folder {folder} does not exist" in answer.json["detail"]
    assert ready.json["database"] == "folder_missing" and str(folder) in ready.json["detail"]
    app.extensions["jobs_db"].close()


@pytest.mark.slow
def test_authentication_off_is_said_once_per_gunicorn_start(tmp_path):
    log = tmp_path / "g.log"
    with running(tmp_path / "w.db", log, workers=2) as server:
        deadline = time.monotonic() + 30
        while server.log().count("Booting worker") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        # Enough concurrent requests that both workers have made their app and served.
        threads = [threading.Thread(target=requests.get, args=(f"{server.url}/health/live",),
                                    kwargs={"timeout": 10}) for _ in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        text = server.log()
    assert text.count("Booting worker") == 2
    assert text.count("authentication is OFF") == 1


@pytest.mark.slow  # a process
def test_flask_commands_do_not_warn_about_authentication(tmp_path):
    migrate(str(tmp_path / "x.db"))
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "check-db"], cwd=ROOT,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "authentication is OFF" not in done.stderr + done.stdout
