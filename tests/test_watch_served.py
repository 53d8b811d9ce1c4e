"""The change feed under the real gunicorn, on both backends: a reader looping `after=next`
gets every event exactly once and in order while writers write, through a killed worker and a
restarted server; a stream resumes by Last-Event-ID; a waiting request holds no worker."""

import os
import shutil
import signal
import threading
import time

import httpx
import pytest
import requests
from httpx_sse import connect_sse

from .conftest import API, platform_spec
from .pg import empty_tables
from .server import Server

pytestmark = pytest.mark.slow
JOBS = ("job-a", "job-b", "job-c")


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path, migrated_sqlite):
    if request.param == "sqlite":
        path = tmp_path / "jobs.db"
        shutil.copyfile(migrated_sqlite, path)
        return str(path)
    url = request.getfixturevalue("postgres_url")
    empty_tables(url)
    return url


@pytest.fixture
def server(target, tmp_path):
    served = Server(target, tmp_path / "gunicorn.log", workers=2,
                    env={"GUNICORN_THREADS": "64"}).start()
    yield served
    served.stop()


def _workers(server) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if int(f.read().rsplit(")", 1)[1].split()[1]) == server.process.pid:
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def _page(base, after, **extra):
    answer = requests.get(f"{base}/events", params={"after": after, "limit": 50, **extra},
                          timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _all(base) -> list[dict]:
    got, after = [], "0"
    while True:
        page = _page(base, after, limit=1000)
        if not page["data"]:
            return got
        got += page["data"]
        after = page["next"]


def _write_until(base, stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        for job in JOBS:
            try:
                requests.put(f"{base}/jobs/{job}/steps/train/tasks/worker",
                             json={"status": "active", "status_details": {"n": n}}, timeout=5)
            except requests.RequestException:
                time.sleep(0.05)  # a killed worker, the server restarting


def test_exactly_once_in_order_through_a_worker_kill_and_a_restart(server):
    base = f"{server.url}{API}/ws"
    for job in JOBS:
        assert requests.post(f"{base}/jobs", json={"name": job,
                             "platform_spec": platform_spec("train")}).status_code == 201
    stop = threading.Event()
    writer = threading.Thread(target=_write_until, args=(base, stop))
    writer.start()
    got, after, started, phase = [], "0", time.monotonic(), 0
    try:
        while True:
            elapsed = time.monotonic() - started
            if phase == 0 and elapsed > 1.5:
                os.kill(_workers(server)[0], signal.SIGKILL)
                phase = 1
            elif phase == 1 and elapsed > 3:
                server.stop()
                server.start()
                phase = 2
            elif phase == 2 and elapsed > 4.5:
                stop.set()
                writer.join()
                phase = 3
            try:
                page = _page(base, after, wait=1)
            except (requests.RequestException, AssertionError):
                time.sleep(0.05)
                continue
            got += page["data"]
            after = page["next"]
            if phase == 3 and not page["data"]:
                break
    finally:
        stop.set()
        writer.join()
    full = _all(base)
    assert len(full) > 30
    assert [e["id"] for e in got] == [e["id"] for e in full]
    # Each entity's events in the order of its writes: versions 1, 2, 3, ... without a gap.
    versions: dict = {}
    for event in got:
        versions.setdefault((event["job"], event["kind"], event["step"], event["task"]),
                            []).append(event["db_version"])
    for key, seen in versions.items():
        assert seen == list(range(seen[0], seen[0] + len(seen))), key


def test_a_stream_resumes_by_last_event_id_across_a_restart(server):
    base = f"{server.url}{API}/ws"
    for job in JOBS:
        requests.post(f"{base}/jobs", json={"name": job, "platform_spec": platform_spec("train")})
    seen = []
    with httpx.Client(timeout=10) as client:
        with connect_sse(client, "GET", f"{base}/events", params={"after": "0"}) as source:
            for sse in source.iter_sse():
                seen.append(sse)
                if len(seen) == 3:
                    break
        assert [s.event for s in seen] == ["job", "step", "job"]
        server.stop()
        server.start()
        requests.put(f"{base}/jobs/job-a/steps/train/tasks/worker", json={"status": "active"})
        resumed = []
        with connect_sse(client, "GET", f"{base}/events",
                         headers={"Last-Event-ID": seen[-1].id}) as source:
            for sse in source.iter_sse():
                resumed.append(sse)
                if sse.event == "task":
                    break
    full = _all(base)
    assert [s.id for s in seen + resumed] == [e["id"] for e in full]
    assert [s.json()["id"] for s in resumed] == [s.id for s in resumed]


def test_waiting_requests_hold_no_worker(server):
    """Two sync workers used to be starved by two waiters; now 20 waiters leave PUTs free."""
    base = f"{server.url}{API}/ws"
    requests.post(f"{base}/jobs", json={"name": "job-a", "platform_spec": platform_spec("train")})
    cursor = _page(base, "0")["next"]
    waiters = [threading.Thread(target=_page, args=(base, cursor), kwargs={"wait": 5,
                                                                              "job": "nothing"})
               for _ in range(20)]
    for waiter in waiters:
        waiter.start()
    time.sleep(0.5)
    started = time.monotonic()
    answer = requests.put(f"{base}/jobs/job-a/steps/train/tasks/worker", json={}, timeout=10)
    assert answer.status_code == 200 and time.monotonic() - started < 2
    metrics = requests.get(f"{server.url}/metrics").text
    assert "jobs_event_watchers" in metrics
    for waiter in waiters:
        waiter.join()
