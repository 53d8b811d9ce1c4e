"""The reconciler's rules, one pass at a time, on both backends (no server: the served
behaviour, lease and timings are tests/test_reconciler_served.py's)."""

import json
from datetime import datetime, timedelta, timezone

import pytest

from app import reconciler as reconciling
from app import store
from app.db import connect
from app.reconciler import Reconciler, deadlines_by_profile
from app.store.deadlines import fail_overdue, unfinished_steps
from app.store.retention import _delete_batch

TIMED_OUT = "Job timed out after reaching max TTL of {} seconds"


def ago(**delta) -> str:
    return (datetime.now(timezone.utc) - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture
def passes(app):
    """One pass of a reconciler over the app's database and settings."""
    made = []

    def run(**settings):
        made.append(Reconciler({**app.config, **settings}, app.extensions["jobs_profiles"]))
        return made[-1].run_pass()
    yield run
    for reconciler in made:
        reconciler._drop_connection()


def step_of(api, job):
    return api.client.get(api.url(job, "status")).json["steps"][0]


def move(api, job, status):
    assert api.client.patch(api.url(job, "steps", "train", "status"),
                            json={"status": status}).status_code == 200


def test_without_profiles_the_settings_set_the_deadlines(api, query, passes):
    api.create_job("p1")
    move(api, "p1", "pending")
    api.create_job("a1")
    move(api, "a1", "active")
    query("UPDATE steps SET created_at = ?, updated_at = ?", (ago(seconds=70), ago(seconds=70)))
    assert passes() == dict.fromkeys(reconciling.KINDS, 0)  # none set: no deadline
    actions = passes(JOBS_DEFAULT_TTL_SECONDS_BEFORE_ACTIVE=60,
                     JOBS_DEFAULT_TTL_SECONDS_ACTIVE=60)
    assert (actions["deadline_before_active"], actions["deadline_active"]) == (1, 1)
    for job in ("p1", "a1"):
        step = step_of(api, job)
        assert step["status"] == "error" and step["error_details"] == {
            "message": TIMED_OUT.format(60)}


def test_a_pending_step_is_timed_from_its_last_update_and_a_resuming_one_not_at_all(
        api, query, passes):
    for name, status in (("fresh", "pending"), ("resumed", "resuming")):
        api.create_job(name)
        move(api, name, "pending" if status == "pending" else "active")
        if status == "resuming":
            assert api.client.post(api.url(name, "pause")).status_code == 200
            move(api, name, "paused")
            assert api.client.post(api.url(name, "resume")).status_code == 200
    # Created long ago, but moved (paused, resumed, rescheduled) just now.
    query("UPDATE steps SET created_at = ?", (ago(hours=2),))
    passes(JOBS_DEFAULT_TTL_SECONDS_BEFORE_ACTIVE=60, JOBS_DEFAULT_TTL_SECONDS_ACTIVE=60)
    assert step_of(api, "fresh")["status"] == "pending"
    assert step_of(api, "resumed")["status"] == "resuming"


def test_a_report_between_the_decision_and_the_write_wins(api, query, db_target):
    api.create_job("j1")
    move(api, "j1", "active")
    query("UPDATE steps SET created_at = ?", (ago(seconds=70),))
    db = connect(db_target)
    try:
        [seen] = unfinished_steps(db, 0, 10)
        move(api, "j1", "completed")  # arrives after the reconciler read the step
        assert fail_overdue(db, seen, 60) is False
    finally:
        db.close()
    assert step_of(api, "j1")["status"] == "completed"


def test_a_pass_is_bounded_and_the_next_goes_on_from_there(app, api, query, monkeypatch):
    monkeypatch.setattr(reconciling, "PASS_STEPS", 2)
    for i in range(5):
        api.create_job(f"j{i}")
        move(api, f"j{i}", "active")
    query("UPDATE steps SET created_at = ?", (ago(seconds=70),))
    made = Reconciler({**app.config, "JOBS_DEFAULT_TTL_SECONDS_ACTIVE": 60})
    try:
        counts = [made.run_pass()["deadline_active"] for _ in range(3)]
    finally:
        made._drop_connection()
    assert counts == [2, 2, 1]


def test_profiles_deadlines_with_upstreams_defaults_filling_in():
    of = deadlines_by_profile(
        {"JOBS_DEFAULT_TTL_SECONDS_ACTIVE": 5, "JOBS_DEFAULT_TTL_SECONDS_BEFORE_ACTIVE": None},
        [{"provider": "cpu", "profile": "default", "config": {"ttl_seconds_active": 9}}])
    step = lambda executor: {"step_spec": {"executor": executor}}  # noqa: E731
    assert of(step({"provider": "cpu"})) == {"ttl_seconds_before_active": 1800,
                                             "ttl_seconds_active": 9}
    assert of(step({"provider": "gpu", "profile": "x"})) == {
        "ttl_seconds_before_active": None, "ttl_seconds_active": 5}


def test_staleness_needs_an_active_task_and_a_step_old_enough(api, query, passes):
    for name in ("pending-only", "young", "quiet"):
        body = {"name": name, "platform_spec": {"steps": [{
            "name": "train", "executor": {"provider": "cpu", "container": {}},
            "lifecycle": {"staleness_timeout_seconds": 60}}]}}
        assert api.client.post(api.url(), json=body).status_code == 201
        move(api, name, "active")
        api.put_task(name, "train", "t0", {"status": "pending" if name == "pending-only"
                                           else "active"})
    query("UPDATE tasks SET updated_at = ?", (ago(seconds=90),))
    query("UPDATE steps SET created_at = ? WHERE name = 'train' AND job_id IN "
          "(SELECT id FROM jobs WHERE name <> 'young')", (ago(seconds=90),))
    actions = passes()
    assert (actions["stale_step"], actions["stale_task"]) == (1, 2)
    assert step_of(api, "quiet")["error_details"] == {"message": (
        "Job terminated: no task updates received within 60s staleness threshold")}
    # No active task (only a pending one) and a step younger than the timeout: the step
    # lives on; the task rule still ends the task that went quiet.
    for name in ("pending-only", "young"):
        step = step_of(api, name)
        assert step["status"] == "active"
        assert step["tasks"][0]["error_details"]["reason"] == "stale"


def finish(api, name, status="completed"):
    api.create_job(name, custom_fields={"team": "vision"})
    move(api, name, "active")
    if status:
        move(api, name, status)


def test_prune_jobs_deletes_only_finished_old_jobs(app, api, query):
    finish(api, "old-done")
    finish(api, "old-error", "error")
    finish(api, "old-running", None)
    finish(api, "new-done")
    query("UPDATE jobs SET updated_at = ? WHERE name LIKE 'old-%'", (ago(days=3),))
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["prune-jobs", "--older-than", "2.5", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would delete ws/old-done (completed" in dry.output
    assert dry.output.endswith("2 finished job(s) older than 2.5 day(s) (dry run)\n")
    assert api.client.get(api.url("old-done")).status_code == 200
    done = runner.invoke(args=["prune-jobs", "--older-than", "2.5"])
    assert done.exit_code == 0 and "deleted ws/old-error (error" in done.output
    names = {j["name"] for j in api.client.get(api.url()).json["data"]}
    assert names == {"old-running", "new-done"}
    assert query("SELECT COUNT(*) FROM steps")[0][0] == 2
    assert query("SELECT COUNT(*) FROM history WHERE job_id NOT IN (SELECT id FROM jobs)") == [
        (0,)]
    assert query("SELECT COUNT(*) FROM job_fields WHERE job_seq NOT IN (SELECT seq FROM jobs)"
                 ) == [(0,)]
    assert query("SELECT COUNT(*) FROM job_fields") == [(2,)]


def test_a_job_rerun_after_the_decision_is_kept(api, query, db_target):
    finish(api, "j1")
    query("UPDATE jobs SET updated_at = ?", (ago(days=3),))
    db = connect(db_target)
    try:
        cutoff = store.retention_cutoff(1)
        [seen] = store.expired_jobs(db, cutoff, None)
        assert api.client.post(api.url("j1", "rerun")).status_code == 200
        query("UPDATE jobs SET updated_at = ?", (ago(days=3),))  # old, but unfinished now
        assert _delete_batch(db, [seen["seq"]], cutoff) == set()
    finally:
        db.close()
    assert api.client.get(api.url("j1")).json["status"] == "created"


@pytest.mark.parametrize("args,line", [
    (["prune-jobs"], "give --older-than DAYS, or set JOBS_JOB_RETENTION_DAYS"),
    (["prune-jobs", "--older-than", "0"], "Invalid value for '--older-than'"),
    (["prune-jobs", "--older-than", "x"], "Invalid value for '--older-than'"),
])
def test_prune_jobs_refuses_a_bad_age(app, args, line):
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2 and line in result.output


def test_a_profiles_deadline_must_be_whole_seconds(tmp_path):
    from app.profiles import ProfilesConfigError, load_profiles
    path = tmp_path / "p.json"
    for bad in (0, 1.5, "60", True):
        path.write_text(json.dumps([{"backend": "docker", "provider": "cpu",
                                     "config": {"ttl_seconds_active": bad}}]))
        with pytest.raises(ProfilesConfigError, match="ttl_seconds_active must be a whole "
                                                      "number of seconds ≥ 1"):
            load_profiles(str(path))


def test_settings_take_fractions_and_zero_turns_the_reconciler_off(monkeypatch):
    from app import config
    monkeypatch.setenv("JOBS_JOB_RETENTION_DAYS", "0.5")
    monkeypatch.setenv("JOBS_RECONCILE_SECONDS", "0")
    settings = config.from_environment()
    assert (settings["JOBS_JOB_RETENTION_DAYS"], settings["JOBS_RECONCILE_SECONDS"]) == (0.5, 0)
    assert settings["JOBS_DEFAULT_TTL_SECONDS_ACTIVE"] is None
    assert reconciling.start(settings) is None
    monkeypatch.delenv("JOBS_RECONCILE_SECONDS")
    assert config.from_environment()["JOBS_RECONCILE_SECONDS"] == 2


def test_a_failing_pass_is_said_once_and_the_next_pass_runs(app, api, query, monkeypatch):
    made = Reconciler({**app.config, "JOBS_DEFAULT_TTL_SECONDS_ACTIVE": 60})
    lines = []
    monkeypatch.setattr(reconciling, "_line", lambda event, **f: lines.append({"event": event,
                                                                              **f}))
    broken = {"on": True}

    def steps(db, after, limit):
        if broken["on"]:
            raise RuntimeError("no such table: steps")
        return unfinished_steps(db, after, limit)
    monkeypatch.setattr(reconciling, "unfinished_steps", steps)
    try:
        made.tick(), made.tick()
        assert made.held
        api.create_job("j1")
        move(api, "j1", "active")
        query("UPDATE steps SET created_at = ?", (ago(seconds=70),))
        broken["on"] = False
        made.tick()
    finally:
        made._drop_connection()
        made.lease.release()
    events = [line["event"] for line in lines]
    assert events == ["reconciler_lease", "reconciler_pass_failed", "reconciler_pass"], lines
    assert lines[1]["error"] == "RuntimeError: no such table: steps"
    assert step_of(api, "j1")["status"] == "error"
