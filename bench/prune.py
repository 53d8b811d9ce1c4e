"""Retention of finished jobs: what a prune costs the writers beside it, and whether the SQLite
file stays bounded. Prints figures; asserts nothing.

    python bench/prune.py put     # PUT p50/p99 without a prune, during a prune of 100,000
                                  # finished jobs (flask prune-jobs), and after it
    python bench/prune.py sizes   # the SQLite file over 10 create -> finish -> prune cycles

`put` seeds 100,000 finished jobs, each with a step, a task, its history and 5 log lines,
directly in SQL (last updated 2 days ago), starts the service under gunicorn (2 sync
workers, synchronous=FULL, the reconciler off so the prune is the one we start), and drives
PUTs of one hot job's tasks from 4 client threads: for --seconds before, all through the
prune, and --seconds after.
"""

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import store  # noqa: E402
from app.db import migrate  # noqa: E402
from app.db.sqlite import connect as sqlite_connect  # noqa: E402
from tests.server import Server  # noqa: E402

JOBS = "/apis/jobs/v2/workspaces/ws/jobs"
STEP = {"name": "train", "executor": {"provider": "cpu", "container": {}}}


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def seed(path: str, count: int) -> None:
    """`count` completed jobs, last updated two days ago, written in bulk."""
    old = stamp(datetime.now(timezone.utc) - timedelta(days=2))
    conn = sqlite3.connect(path)
    with conn:
        for start in range(0, count, 10_000):
            jobs, steps, tasks, history, logs = [], [], [], [], []
            for i in range(start, min(count, start + 10_000)):
                job, step, task = f"job-s{i}", f"step-s{i}", f"task-s{i}"
                jobs.append((job, "ws", f"old-{i}", f"attempt-s{i}", "completed", old))
                steps.append((step, job, f"attempt-s{i}", "ws", "train", old))
                tasks.append((task, step, "ws", "t0", old))
                for kind, entity, source, target in (("job", job, None, "created"),
                                                     ("step", step, "active", "completed"),
                                                     ("task", task, "active", "completed"),
                                                     ("job", job, "active", "completed")):
                    history.append(("ws", job, kind, entity, source, target, old))
                logs.extend((job, 1, "train", "t0", f"line {n} of a finished job", old, old)
                            for n in range(5))
            conn.executemany(
                """INSERT INTO jobs (id, workspace, name, attempt_id, status, created_at,
                       updated_at, platform_spec, status_details, error_details, db_version)
                   VALUES (?, ?, ?, ?, ?, ?, ?, '{"steps":[]}', '{}', '{}', 3)""",
                [(j, w, n, a, s, t, t) for j, w, n, a, s, t in jobs])
            conn.executemany(
                """INSERT INTO steps (id, job_id, attempt_id, workspace, name, status, step_spec,
                       status_details, error_details, created_at, updated_at, db_version)
                   VALUES (?, ?, ?, ?, ?, 'completed', '{}', '{}', '{}', ?, ?, 3)""",
                [(s, j, a, w, n, t, t) for s, j, a, w, n, t in steps])
            conn.executemany(
                """INSERT INTO tasks (id, step_id, workspace, name, status, status_details,
                       error_details, created_at, updated_at, db_version)
                   VALUES (?, ?, ?, ?, 'completed', '{}', '{}', ?, ?, 2)""",
                [(t, s, w, n, at, at) for t, s, w, n, at in tasks])
            conn.executemany(
                """INSERT INTO history (workspace, job_id, entity_kind, entity_id, entity_name,
                       from_status, to_status, at, db_version) VALUES (?, ?, ?, ?, 'x', ?, ?, ?, 1)""",
                history)
            conn.executemany(
                """INSERT INTO logs (job_id, attempt, job_step, job_task, message, at,
                       received_at) VALUES (?, ?, ?, ?, ?, ?, ?)""", logs)
    conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Load:
    """PUTs of the hot job's tasks from `clients` threads, each latency kept with its time."""

    def __init__(self, url: str, clients: int = 4):
        self.url, self.clients = url, clients
        self.samples: list[tuple[float, float]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,)) for i in range(clients)]

    def _run(self, i: int) -> None:
        session = requests.Session()
        n = 0
        while not self._stop.is_set():
            n += 1
            began = time.perf_counter()
            response = session.put(f"{self.url}{JOBS}/hot/steps/train/tasks/t{i}",
                                   json={"status": "active", "status_details": {"n": n}},
                                   timeout=30)
            took = time.perf_counter() - began
            if response.status_code != 200:
                self.errors += 1
            self.samples.append((began, took))

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def between(self, start: float, end: float) -> list[float]:
        return [took for at, took in self.samples if start <= at < end]


def put_during_prune(count: int, seconds: float) -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-prune-"))
    path = str(folder / "jobs.db")
    try:
        migrate(path)
        began = time.monotonic()
        seed(path, count)
        print(f"seeded {count:,} finished jobs in {time.monotonic() - began:.1f} s; file "
              f"{os.path.getsize(path) / 1e6:.1f} MB")
        server = Server(path, folder / "server.log", workers=2,
                        env={"JOBS_RECONCILE_SECONDS": "0"}).start()
        try:
            requests.post(server.url + JOBS, json={"name": "hot", "platform_spec": {
                "steps": [STEP]}}, timeout=10).raise_for_status()
            requests.patch(f"{server.url}{JOBS}/hot/steps/train/status",
                           json={"status": "active"}, timeout=10).raise_for_status()
            with Load(server.url) as load:
                time.sleep(seconds)
                prune_began = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-m", "flask", "--app", "wsgi", "prune-jobs",
                     "--older-than", "1"], cwd=ROOT, capture_output=True, text=True,
                    env={**os.environ, "JOBS_DB": path, "JOBS_RECONCILE_SECONDS": "0"})
                prune_ended = time.perf_counter()
                time.sleep(seconds)
            print(f"prune: {done.stdout.strip().splitlines()[-1]} in "
                  f"{prune_ended - prune_began:.1f} s")
            phases = [("before (no prune)", load.between(0, prune_began)),
                      ("during the prune", load.between(prune_began, prune_ended)),
                      ("after (no prune)", load.between(prune_ended, float("inf")))]
            print(f"{'PUT latency':<20} {'n':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
            for name, values in phases:
                print(f"{name:<20} {len(values):>7} {percentile(values, .5) * 1e3:>8.1f} "
                      f"{percentile(values, .99) * 1e3:>8.1f} {max(values) * 1e3:>8.1f}")
            without = statistics.median([percentile(phases[0][1], .99),
                                         percentile(phases[2][1], .99)])
            print(f"p99 during / p99 without (median of before and after): "
                  f"{percentile(phases[1][1], .99) / without:.2f}x; non-200 answers: "
                  f"{load.errors}")
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def sizes(cycles: int, jobs: int) -> None:
    """Create `jobs` jobs (5 log lines each), finish them, prune them; the file after each
    cycle."""
    folder = Path(tempfile.mkdtemp(prefix="bench-sizes-"))
    path = str(folder / "jobs.db")
    try:
        migrate(path)
        db = sqlite_connect(path, synchronous="normal")  # the file's size is the same
        spec = {"project": "", "description": "", "source": "", "spec": {},
                "platform_spec": {"steps": [STEP]}, "ownership": {}, "custom_fields": {}}
        print(f"{'cycle':>5} {'file MB':>8} {'pages':>7} {'free':>7} {'wal MB':>7}")
        for cycle in range(1, cycles + 1):
            for i in range(jobs):
                name = f"c{cycle}-{i}"
                store.create_job(db, "ws", {**spec, "name": name}, None)
                store.update_step_status(db, "ws", name, "train", {"status": "active"})
                store.put_task(db, "ws", name, "train", "t0", {"status": "active"})
                store.append_logs(db, "ws", name, [
                    {"job_step": "train", "job_task": "t0", "message": "x" * 200}] * 5, 0)
                store.update_step_status(db, "ws", name, "train", {"status": "completed"})
            time.sleep(0.01)
            pruned = len(store.prune_jobs(db, 1e-9))  # everything finished by now
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            wal = os.path.getsize(path + "-wal") if os.path.exists(path + "-wal") else 0
            assert pruned == jobs, pruned
            print(f"{cycle:>5} {os.path.getsize(path) / 1e6:>8.2f} {pages:>7} {free:>7} "
                  f"{wal / 1e6:>7.2f}")
        db.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["put", "sizes"])
    parser.add_argument("--jobs", type=int, help="jobs to prune (put: 100,000) or per "
                                                 "cycle (sizes: 2,000)")
    parser.add_argument("--seconds", type=float, default=10.0,
                        help="put: seconds of load before and after the prune")
    parser.add_argument("--cycles", type=int, default=10)
    args = parser.parse_args()
    if args.what == "put":
        put_during_prune(args.jobs or 100_000, args.seconds)
    else:
        sizes(args.cycles, args.jobs or 2_000)


if __name__ == "__main__":
    main()
