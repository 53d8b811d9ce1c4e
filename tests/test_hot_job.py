"""Many writers on one job, on PostgreSQL: reports of different tasks run side by side, and
every guarantee of docs/api.md holds all the same (one winner per race, the closed-step
rule, the change feed's order, status_details merged into the job).

Each race is real: threads, each request on its own pooled connection of one app. Where the
outcome depends on who goes first, the test makes everyone wait at one gate (a lock it
holds on a connection of its own) and opens it once they all wait there.
"""

import json
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from app import create_app
from app.db.dialect import JOB_LOCK_CLASS
from app.store.rows import dumps

from .conftest import API, platform_spec
from .pg import empty_tables

JOB = f"{API}/ws/jobs/j1"
STEP = f"{JOB}/steps/train"
THREADS = 8


@pytest.fixture(scope="module")
def pg_app(postgres_url):
    app = create_app({"JOBS_DB": postgres_url, "TESTING": True, "JOBS_DB_POOL_SIZE": 16})
    yield app
    app.extensions["jobs_db"].close()


@pytest.fixture
def url(postgres_url, pg_app):
    empty_tables(postgres_url)
    client = pg_app.test_client()
    assert client.post(f"{API}/ws/jobs", json={"name": "j1", "platform_spec":
                                                 platform_spec("train")}).status_code == 201
    assert client.patch(f"{STEP}/status", json={"status": "active"}).status_code == 200
    for name in ("t0", "t1", "t2", "t3"):
        assert client.put(f"{STEP}/tasks/{name}", json={"status": "active"}).status_code == 200
    return postgres_url


def send(app, method: str, path: str, **kwargs):
    response = app.test_client().open(path, method=method, **kwargs)
    assert response.status_code < 500, response.text
    return response


def all_at_once(calls, gate, wait_for=None):
    """Run `calls` (no-argument functions) in threads held at `gate` (a context manager
    holding a lock they all need) until `wait_for` of them wait on a lock; their results."""
    with ThreadPoolExecutor(len(calls)) as pool:
        with gate as waiting:
            futures = [pool.submit(call) for call in calls]
            waiting(wait_for or len(calls))
        return [f.result(timeout=30) for f in futures]


class Gate:
    """A lock held on a connection of the test's own; `waiting(n)` returns once n other
    sessions wait for a lock (any lock: the one held here, or one behind it)."""

    def __init__(self, url: str, *hold: str):
        self.url, self.hold = url, hold

    def __enter__(self):
        self.conn = psycopg.connect(self.url)  # a transaction: its locks end with it
        for sql in self.hold:
            self.conn.execute(sql)
        return self.waiting

    def waiting(self, n: int, seconds: float = 10) -> int:
        deadline = time.monotonic() + seconds
        with psycopg.connect(self.url, autocommit=True) as watch:
            while True:
                count = watch.execute("SELECT count(DISTINCT pid) FROM pg_locks "
                                      "WHERE NOT granted").fetchone()[0]
                if count >= n or time.monotonic() > deadline:
                    return count
                time.sleep(0.01)

    def __exit__(self, *exc):
        self.conn.commit()
        self.conn.close()


def job_gate(url):
    """The job's own lock, held exclusive: every writer of the job queues behind it."""
    return Gate(url, f"SELECT pg_advisory_xact_lock({JOB_LOCK_CLASS}, hashtext('ws/j1'))")


def rows(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def events(app, after: str = "0") -> list[dict]:
    """Every event of the workspace after the cursor `after`, read page by page."""
    got, client = [], app.test_client()
    while True:
        page = client.get(f"{API}/ws/events", query_string={"after": after, "limit": 1000})
        assert page.status_code == 200, page.text
        got += page.json["data"]
        if not page.json["data"]:
            return got
        after = page.json["next"]


def test_the_same_if_match_on_one_task_has_one_winner(pg_app, url):
    for version in (1, 2, 3):  # three rounds: each a fresh race
        codes = Counter(r.status_code for r in all_at_once(
            [lambda i=i: send(pg_app, "PUT", f"{STEP}/tasks/t0", headers={
                "If-Match": f'"{version}"'}, json={"status_details": {"by": i}})
             for i in range(THREADS)], job_gate(url)))
        assert codes == {200: 1, 412: THREADS - 1}, codes
    assert rows(url, "SELECT db_version FROM tasks WHERE name = 't0'") == [(4,)]


def test_concurrent_creates_of_one_task_make_one_and_update_it(pg_app, url):
    cursor = send(pg_app, "GET", f"{JOB}/status").headers["Events-Cursor"]
    answers = all_at_once([lambda i=i: send(pg_app, "PUT", f"{STEP}/tasks/new", json={
        "status": "active", "status_details": {f"k{i}": i}}) for i in range(THREADS)],
        job_gate(url))
    assert [r.status_code for r in answers] == [200] * THREADS
    assert sorted(r.json["db_version"] for r in answers) == list(range(1, THREADS + 1))
    # The feed gives its creation first, then each version once, in order.
    mine = [(e["type"], e["db_version"]) for e in events(pg_app, cursor) if e["task"] == "new"]
    assert mine == [("created", 1)] + [("updated", v) for v in range(2, THREADS + 1)]
    assert rows(url, "SELECT count(*) FROM history WHERE entity_name = 'new' "
                     "AND from_status IS NULL") == [(1,)]


# A write to the job as a whole, moving its step out of `active`, and what the step becomes.
JOB_WIDE = {
    "step completed": ("PATCH", f"{STEP}/status", {"json": {"status": "completed"}}, "completed"),
    "job cancelled": ("POST", f"{JOB}/cancel", {}, "cancelling"),
}


@pytest.mark.parametrize("write", JOB_WIDE)
def test_a_step_closing_while_tasks_report_keeps_the_closed_step_rule(pg_app, url, write):
    """Reports that looked at the step before it closed (they wait, here, on their tasks'
    rows) must still be done before it closes: after it, a task may only end."""
    method, path, kwargs, closed = JOB_WIDE[write]
    tasks = ["t0", "t1", "t2", "t3"]
    reports = [lambda t=t: send(pg_app, "PUT", f"{STEP}/tasks/{t}", json={"status": "paused"})
               for t in tasks]
    closing = [lambda: send(pg_app, method, path, **kwargs)]
    with ThreadPoolExecutor(len(tasks) + 1) as pool:
        with Gate(url, "SELECT 1 FROM tasks FOR UPDATE") as waiting:
            moves = [pool.submit(call) for call in reports]
            waiting(len(tasks))
            close = pool.submit(closing[0])
            waiting(len(tasks) + 1, seconds=1)  # it waits for the reports (or is done)
        answers = [f.result(timeout=30) for f in moves] + [close.result(timeout=30)]
    assert answers[-1].status_code == 200, answers[-1].text
    history = rows(url, "SELECT entity_kind, entity_name, to_status FROM history "
                        "WHERE entity_kind IN ('step', 'task') ORDER BY seq")
    step_closed = history.index(("step", "train", closed))
    after = [h for h in history[step_closed:] if h[0] == "task"]
    assert all(status in ("completed", "error", "cancelled") for _, _, status in after), after
    # Either way each task was told one consistent thing: moved (200), or refused (422).
    for task, answer in zip(tasks, answers):
        stored = rows(url, "SELECT status FROM tasks WHERE name = %s", (task,))[0][0]
        assert stored == ("paused" if answer.status_code == 200 else "active"), answer.text


def test_a_reader_from_before_the_race_gets_each_tasks_events_once_in_order(pg_app, url):
    cursor = send(pg_app, "GET", f"{JOB}/status").headers["Events-Cursor"]
    accepted: dict[str, int] = defaultdict(int)
    lock = threading.Lock()

    def reporter(i: int) -> None:
        for n in range(12):
            task = f"t{(i + n) % 4}" if n % 3 else f"n{i % 2}"  # updates, and creates
            body = {"status": ("paused", "active")[n % 2] if task[0] == "t" else "active",
                    "status_details": {"progress": n}}
            if send(pg_app, "PUT", f"{STEP}/tasks/{task}", json=body).status_code == 200:
                with lock:
                    accepted[task] += 1

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(reporter, range(THREADS)))
    by_task = defaultdict(list)
    for event in events(pg_app, cursor):
        if event["kind"] == "task":
            by_task[event["task"]].append(event["db_version"])
    for task, versions in by_task.items():
        first = 1 if task[0] == "n" else 2  # t0..t3 were at version 1 before the race
        assert versions == list(range(first, first + accepted[task])), (task, versions)
    assert set(by_task) == set(accepted)


def test_concurrent_status_details_all_land_in_the_job(pg_app, url):
    answers = all_at_once([lambda i=i: send(pg_app, "PUT", f"{STEP}/tasks/t{i % 4}", json={
        "status_details": {f"k{i}": i}}) for i in range(THREADS)], job_gate(url))
    assert [r.status_code for r in answers] == [200] * THREADS
    details = send(pg_app, "GET", JOB).json["status_details"]
    assert details == {f"k{i}": i for i in range(THREADS)}
    assert send(pg_app, "GET", JOB).json["db_version"] == 2 + THREADS  # the roll-up, then these


def test_merged_details_are_what_a_dict_merge_gives_in_its_key_order(pg_app, url):
    """PostgreSQL merges a report's status_details into the job's in SQL: the same keys,
    values and order as Python's {**job, **report}, unicode, nesting and nulls included."""
    reports = [{"b": 1, "a": "x", 'é"k': [1, {"n": None}]}, {"a": "y", "z": {"n": 1}},
               {"b": 1.0}, {"c": None}, {"c": None}, {"a": "ÿ\n\u2028"}]
    expected, versions = {}, []
    for report in reports:
        assert send(pg_app, "PUT", f"{STEP}/tasks/t0", json={"status_details": report}
                    ).status_code == 200
        if {**expected, **report} != expected:  # the store writes only a change
            expected = {**expected, **report}
        versions.append(send(pg_app, "GET", JOB).json["db_version"])
    [(text,)] = rows(url, "SELECT status_details FROM jobs")
    assert json.loads(text) == expected and list(json.loads(text)) == list(expected)
    assert text == dumps(expected)  # compact, as the store writes it
    assert versions == [3, 4, 4, 5, 5, 6]  # a report that changes nothing writes nothing


def test_a_report_after_another_of_its_task_has_the_last_word_in_the_jobs_details(pg_app, url):
    """A report that read the job's details, then waited for its task's row while another
    write of the task changed them, merges its own all the same, though it repeats what it
    first saw: it committed last."""
    assert send(pg_app, "PUT", f"{STEP}/tasks/t0", json={"status_details": {"p": 5}}).status_code == 200
    # The task's previous writer, still open: the task moves on and the job says 7.
    previous = Gate(url, "UPDATE tasks SET db_version = db_version + 1 WHERE name = 't0'",
                    """UPDATE jobs SET status_details = '{"p":7}', db_version = db_version + 1""")
    [late] = all_at_once([lambda: send(pg_app, "PUT", f"{STEP}/tasks/t0", json={
        "status_details": {"p": 5}})], previous)
    assert late.status_code == 200
    assert send(pg_app, "GET", JOB).json["status_details"] == {"p": 5}
