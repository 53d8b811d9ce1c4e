"""Killed mid-load and overloaded: acknowledged writes survive, nothing answers 5xx."""

import collections
import multiprocessing
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .conftest import platform_spec
from .server import Server

pytestmark = pytest.mark.slow

W = "/apis/jobs/v2/workspaces/ws/jobs"
CLIENTS = 4


def report_until_refused(url: str, seconds: float) -> list[tuple[int, int]]:
    """PUT progress 1, 2, 3, ... to one task until the server stops answering; return the
    (progress, db_version) of every write that was acknowledged with a 200."""
    acked = []
    deadline = time.monotonic() + seconds
    progress = 0
    with requests.Session() as session:
        while time.monotonic() < deadline:
            progress += 1
            try:
                response = session.put(url, json={"status_details": {"progress": progress}},
                                       timeout=5)
            except requests.RequestException:
                break
            if response.status_code == 200:
                acked.append((progress, response.json()["db_version"]))
    return acked


def wait_until_every_task_is_written(urls: list[str], times: int, seconds: float = 60) -> None:
    """Until each task's db_version has moved `times` past its start (spawned clients can
    take seconds to import on a busy machine; a fixed sleep would kill before the load)."""
    start = {url: requests.get(url, timeout=5).json()["db_version"] for url in urls}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if all(requests.get(url, timeout=5).json()["db_version"] >= start[url] + times
               for url in urls):
            return
        time.sleep(0.05)
    raise AssertionError(f"the clients did not write {times} times each in {seconds} s")


def test_acknowledged_writes_survive_a_sigkill_of_every_process(tmp_path):
    server = Server(tmp_path / "kill.db", tmp_path / "g1.log", workers=2).start()
    requests.post(server.url + W, json={"name": "j1", "platform_spec": platform_spec("s1")})
    urls = [f"{server.url}{W}/j1/steps/s1/tasks/t{i}" for i in range(CLIENTS)]
    for url in urls:
        assert requests.put(url, json={"status": "active"}).status_code == 200

    with multiprocessing.get_context("spawn").Pool(CLIENTS) as pool:
        pending = pool.starmap_async(report_until_refused, [(url, 30) for url in urls])
        wait_until_every_task_is_written(urls, times=15)  # mid-load, however slow the start
        server.kill()
        acked = pending.get(timeout=60)

    restarted = Server(tmp_path / "kill.db", tmp_path / "g2.log", workers=2).start()
    try:
        total_acked = sum(len(a) for a in acked)
        assert total_acked > 50, "the load did not get going before the kill"
        for url, writes in zip(urls, acked):
            stored = requests.get(url.replace(server.url, restarted.url)).json()
            last_progress, last_version = writes[-1]
            # Every acknowledged write is there; at most the one in flight at the kill may
            # have been committed without its answer arriving.
            assert stored["status_details"]["progress"] in (last_progress, last_progress + 1)
            assert stored["db_version"] in (last_version, last_version + 1)
        with sqlite3.connect(tmp_path / "kill.db") as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        restarted.stop()
    print(f"\nacknowledged writes: {total_acked}, all found after restart")


def overload_client(base: str, worker: int, seconds: float) -> collections.Counter:
    """One of 64 clients: a mix of progress reports, legal and illegal moves, new tasks
    and reads against one job, until the deadline."""
    outcomes = collections.Counter()
    deadline = time.monotonic() + seconds
    n = 0
    with requests.Session() as session:
        while time.monotonic() < deadline:
            n += 1
            task = f"{base}/j1/steps/s1/tasks/t{worker % 16}"
            kind = n % 6
            try:
                if kind == 0:
                    response = session.put(task, json={"status_details": {"n": n}}, timeout=30)
                elif kind == 1:
                    response = session.put(task, json={"status": ("paused", "active")[n % 2]},
                                           timeout=30)
                elif kind == 2:
                    response = session.put(task, json={"status": "created"}, timeout=30)
                elif kind == 3:
                    response = session.put(f"{base}/j1/steps/s1/tasks/w{worker}-{n}",
                                           json={"status": "active"}, timeout=30)
                elif kind == 4:
                    response = session.get(f"{base}/j1/status", timeout=30)
                else:
                    response = session.get(f"{base}?page_size=5", timeout=30)
            except requests.RequestException as exc:
                outcomes[f"error {type(exc).__name__}"] += 1
                continue
            outcomes[response.status_code] += 1
            if "locked" in response.text:
                outcomes["database is locked"] += 1
    return outcomes


def overload_process(base: str, first: int, threads: int, seconds: float) -> collections.Counter:
    with ThreadPoolExecutor(threads) as pool:
        parts = pool.map(lambda w: overload_client(base, w, seconds), range(first, first + threads))
        return sum(parts, collections.Counter())


def test_64_clients_against_2_workers(tmp_path):
    server = Server(tmp_path / "over.db", tmp_path / "g.log", workers=2).start()
    try:
        base = server.url + W
        requests.post(base, json={"name": "j1", "platform_spec": platform_spec("s1")})
        for i in range(16):
            requests.put(f"{base}/j1/steps/s1/tasks/t{i}", json={"status": "active"})
        with multiprocessing.get_context("spawn").Pool(4) as pool:
            parts = pool.starmap(overload_process, [(base, p * 16, 16, 4.0) for p in range(4)])
        outcomes = sum(parts, collections.Counter())
    finally:
        server.stop()
    print(f"\noverload outcomes: {dict(outcomes)}")
    assert sum(v for k, v in outcomes.items() if isinstance(k, int)) > 500
    assert set(outcomes) <= {200, 422}, outcomes  # successes and refused moves only
    assert "database is locked" not in server.log() and "Traceback" not in server.log()
