"""Benchmarks of the Jobs v2 status service. Prints figures; asserts nothing.

    python bench/run.py                 # everything (about 5 minutes on 2 cores)
    python bench/run.py --only put      # PUT mix vs bare Flask, interleaved rounds
    python bench/run.py --only put --baseline ../other-checkout  # and another revision's
                                        # service in the same rounds: before/after in one run
    python bench/run.py --only scale    # PUT/GET p50 at 1k, 100k, 1M tasks
    python bench/run.py --only reads    # status tree of a 1,000-task job; job list pages
    python bench/run.py --only store    # the store alone, with and without fsync per commit
    python bench/run.py --only decide   # the legality decision vs a dict lookup
    python bench/run.py --backend postgresql  # the PUT mix on PostgreSQL (one and three
                                              # hosts) beside SQLite, interleaved rounds

Needs `wrk` (Debian package `wrk`). Servers run under gunicorn with the same settings
(default: 2 gevent workers, as deployed, 127.0.0.1) and are driven by wrk with 2 threads and 16 connections.
The service also reads its own gunicorn.conf.py, as deployed: Prometheus counts go through
the multiprocess metrics folder, as in production. The PUT mix also reports the servers' CPU
time per request (from /proc), which a busy shared machine disturbs far less than req/s.
"""

import argparse
import os
import platform
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from app.db import connect, migrate  # noqa: E402
from app.store import create_job, put_task  # noqa: E402

CONNECTIONS, THREADS = 16, 2
SERVICE_CONFIG = str(ROOT / "gunicorn.conf.py")
# As deployed (app/config.py's defaults); set from the command line.
GUNICORN = {"workers": 2, "worker_class": "gevent", "threads": 1}


# ---- servers ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn with the same settings for the service and the control app."""

    def __init__(self, module: str, db: Path | str | None = None, chdir: Path = ROOT,
                 config: str = os.devnull):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "JOBS_DB": str(db)} if db else dict(os.environ)
        self.log = tempfile.TemporaryFile()
        # The same worker settings for both apps; the service also gets its own
        # gunicorn.conf.py (multiprocess metrics folder and hooks), as deployed.
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", config,
             "--workers", str(GUNICORN["workers"]), "--worker-class", GUNICORN["worker_class"],
             "--threads", str(GUNICORN["threads"]),
             "--bind", f"127.0.0.1:{self.port}", "--no-control-socket", module],
            cwd=chdir, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(300):
            try:
                urlopen(self.url + "/health-probe", timeout=1)
            except OSError as exc:
                if getattr(exc, "code", None):  # any HTTP answer means it is up
                    return
                time.sleep(0.05)
        self.log.seek(0)
        raise RuntimeError(f"{module} did not start:\n{self.log.read().decode()}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:  # say so, and leave nothing running
            print("gunicorn took over 20 s to stop; killed", file=sys.stderr)
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by the master and its workers, from /proc
        (None elsewhere). Per request, it is steadier than req/s on a shared machine: time
        lost waiting for a core is not in it."""
        if not os.path.isdir("/proc"):
            return None
        ticks = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            if int(entry) == self.process.pid or int(fields[1]) == self.process.pid:
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")


def settings() -> str:
    g = GUNICORN
    return (f"gunicorn --workers {g['workers']} --worker-class {g['worker_class']} "
            f"--threads {g['threads']}, wrk -t{THREADS} -c{CONNECTIONS}")


def wrk_cpu(server: Gunicorn, script: str, seconds: int, env: dict) -> dict:
    """wrk's figures, and the server's CPU µs per request (NaN where /proc is missing)."""
    before = server.cpu_seconds()
    figures = wrk(server.url, script, seconds, env)
    after = server.cpu_seconds()
    figures["cpu_us"] = (float("nan") if before is None
                         else (after - before) / max(figures["requests"], 1) * 1e6)
    return figures


def wrk(url: str, script: str, seconds: int, env: dict) -> dict:
    out = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency",
         "-s", str(BENCH / script), url],
        capture_output=True, text=True, env={**os.environ, **env}, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("BENCH "))
    figures = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line)}
    figures["rps"] = figures["requests"] / figures["seconds"]
    return figures


# ---- seeding ----------------------------------------------------------------------------

# One step on a cpu executor, with the defaults job creation fills in.
BENCH_SPEC = {"steps": [{"name": "work", "executor": {"provider": "cpu", "container": {}}, "config": {},
                         "lifecycle": {"staleness_timeout_seconds": 0}}]}


def seed(db_path: Path, jobs: int, tasks_per_job: int) -> None:
    """jobs x tasks, every task `active` under step `work`; tasks are inserted in bulk."""
    migrate(str(db_path))
    db = connect(str(db_path))
    spec = {"project": "", "description": "", "source": "bench", "spec": {},
            "ownership": {}, "custom_fields": {}, "platform_spec": BENCH_SPEC}
    for j in range(jobs):
        create_job(db, "bench", {**spec, "name": f"job-{j}"}, None)
        put_task(db, "bench", f"job-{j}", "work", "task-0", {"status": "active"})
    # The rest by one INSERT ... SELECT per job: a million rows in seconds.
    db.execute("BEGIN IMMEDIATE")
    for j in range(jobs):
        db.execute("""
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO tasks (id, step_id, workspace, project, name, status, status_details,
                               error_details, error_stack, created_at, created_by, updated_at,
                               updated_by, db_version)
            SELECT 'task-' || lower(hex(randomblob(16))), t.step_id, t.workspace, t.project,
                   'task-' || n.i, t.status, t.status_details, t.error_details, t.error_stack,
                   t.created_at, NULL, t.updated_at, NULL, 1
            FROM n, tasks t JOIN steps s ON s.id = t.step_id JOIN jobs jb ON jb.attempt_id = s.attempt_id
            WHERE jb.workspace = 'bench' AND jb.name = ? AND t.name = 'task-0'""",
                   (tasks_per_job - 1, f"job-{j}"))
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def seed_through_store(target: str, jobs: int, tasks_per_job: int) -> None:
    """The same rows as `seed`, written through the store: works on either backend."""
    migrate(target)
    db = connect(target)
    spec = {"project": "", "description": "", "source": "bench", "spec": {},
            "ownership": {}, "custom_fields": {}, "platform_spec": BENCH_SPEC}
    for j in range(jobs):
        create_job(db, "bench", {**spec, "name": f"job-{j}"}, None)
        for t in range(tasks_per_job):
            put_task(db, "bench", f"job-{j}", "work", f"task-{t}", {"status": "active"})
    db.close()


def fresh_db(tmp: Path, name: str) -> Path:
    path = tmp / f"{name}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return path


# ---- the benchmarks ---------------------------------------------------------------------

def bench_put(tmp: Path, rounds: int, seconds: int, baseline: Path | None = None) -> None:
    """The PUT mix against the service and bare Flask; with `baseline` (a checkout of another
    revision), that revision's service too, on its own copy of the same seed, in the same
    interleaved rounds: a before/after measured in one run."""
    jobs, tasks = 100, 10
    env = {"BENCH_JOBS": str(jobs), "BENCH_TASKS": str(tasks)}
    db = fresh_db(tmp, "put")
    seed(db, jobs, tasks)
    servers = {"bare Flask": Gunicorn("control_app:app", chdir=BENCH),
               "service": Gunicorn("wsgi:app", db=db, config=SERVICE_CONFIG)}
    try:
        if baseline is not None:
            db_base = fresh_db(tmp, "put-baseline")
            seed(db_base, jobs, tasks)
            servers["service (baseline)"] = Gunicorn(
                "wsgi:app", db=db_base, chdir=baseline, config=str(baseline / "gunicorn.conf.py"))
        results = {name: [] for name in servers}
        names = list(servers)
        for r in range(rounds):  # each server goes first in turn
            for name in names[r % len(names):] + names[:r % len(names)]:
                results[name].append(wrk_cpu(servers[name], "mix.lua", seconds, env))
    finally:
        for server in servers.values():
            server.stop()
    print(f"\n## PUT task mix: {rounds} interleaved rounds of {seconds} s, {settings()}\n")
    print("| server | round | req/s | p50 ms | p99 ms | server CPU µs/req | "
          "422 (planned illegal sent) | other non-2xx |")
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in results.items():
        for i, f in enumerate(runs, 1):
            print(f"| {name} | {i} | {f['rps']:.0f} | {f['p50_us'] / 1000:.2f} | "
                  f"{f['p99_us'] / 1000:.2f} | {f['cpu_us']:.0f} | "
                  f"{f['got_422']:.0f} ({f['illegal_sent']:.0f}) | "
                  f"{f['got_other_non2xx'] + f['socket_errors']:.0f} |")
    med = {n: statistics.median(f["rps"] for f in runs) for n, runs in results.items()}
    cpu = {n: statistics.median(f["cpu_us"] for f in runs) for n, runs in results.items()}
    print()
    for name in [n for n in results if n != "bare Flask"]:
        ratios = [s["rps"] / c["rps"] for s, c in zip(results[name], results["bare Flask"])]
        print(f"median req/s: {name} {med[name]:.0f}, bare Flask {med['bare Flask']:.0f}; "
              f"ratio of medians {med[name] / med['bare Flask']:.2f}, "
              f"median of per-round ratios {statistics.median(ratios):.2f}; median server CPU "
              f"µs per request: {name} {cpu[name]:.0f}, bare Flask {cpu['bare Flask']:.0f}")
    if baseline is not None:
        def per_round(key):
            values = [s[key] / b[key] for s, b in zip(results["service"],
                                                     results["service (baseline)"])]
            return (", ".join(f"{v:.2f}" for v in values)
                    + f" (median {statistics.median(values):.2f})")
        print(f"service / baseline, round by round: req/s {per_round('rps')}; "
              f"p99 {per_round('p99_us')}; server CPU per request {per_round('cpu_us')}")


def wrk_spread(urls: list[str], script: str, seconds: int, env: dict) -> dict:
    """One wrk per host at once, the connections shared out; figures summed (latencies:
    the slowest host's percentile)."""
    from concurrent.futures import ThreadPoolExecutor

    global CONNECTIONS, THREADS
    saved = CONNECTIONS, THREADS
    CONNECTIONS, THREADS = max(1, saved[0] // len(urls)), 1
    try:
        with ThreadPoolExecutor(len(urls)) as pool:
            parts = list(pool.map(lambda u: wrk(u, script, seconds, env), urls))
    finally:
        CONNECTIONS, THREADS = saved
    total = {k: sum(p[k] for p in parts) for k in parts[0]}
    total["seconds"] = max(p["seconds"] for p in parts)
    total["rps"] = sum(p["rps"] for p in parts)
    total["p50_us"] = max(p["p50_us"] for p in parts)
    total["p99_us"] = max(p["p99_us"] for p in parts)
    return total


def bench_backends(tmp: Path, rounds: int, seconds: int) -> None:
    """The PUT mix on SQLite, on PostgreSQL through one host, and through three hosts over
    one PostgreSQL database; interleaved rounds in one run."""
    from tests.pg import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries are needed: apt-get install postgresql")
    jobs, tasks = 100, 10
    env = {"BENCH_JOBS": str(jobs), "BENCH_TASKS": str(tasks)}
    pg = PostgresServer(bindir, durable=True).start()  # fsync on, as in production
    try:
        url = pg.create_database("bench")
        seed_through_store(url, jobs, tasks)
        db = fresh_db(tmp, "backends")
        seed(db, jobs, tasks)
        setups = {
            "SQLite, 1 host": [Gunicorn("wsgi:app", db=db, config=SERVICE_CONFIG)],
            "PostgreSQL, 1 host": [Gunicorn("wsgi:app", db=url, config=SERVICE_CONFIG)],
            "PostgreSQL, 3 hosts": [Gunicorn("wsgi:app", db=url, config=SERVICE_CONFIG)
                                    for _ in range(3)],
        }
        results = {name: [] for name in setups}
        try:
            for r in range(rounds):
                order = list(setups.items())
                for name, servers in (order if r % 2 == 0 else order[::-1]):
                    results[name].append(wrk_spread([s.url for s in servers], "mix.lua",
                                                    seconds, env))
        finally:
            for servers in setups.values():
                for server in servers:
                    server.stop()
    finally:
        pg.stop()
    print(f"\n## PUT task mix by backend: {rounds} interleaved rounds of {seconds} s, "
          f"{settings()} per host (three hosts: one wrk each, connections shared out), "
          "PostgreSQL with fsync and synchronous_commit on\n")
    print("| backend | req/s (median) | p50 ms | p99 ms | non-2xx other than planned 422 |")
    print("|---|---|---|---|---|")
    for name, runs in results.items():
        mid = sorted(runs, key=lambda f: f["rps"])[len(runs) // 2]
        print(f"| {name} | {mid['rps']:.0f} | {mid['p50_us'] / 1000:.2f} | "
              f"{mid['p99_us'] / 1000:.2f} | "
              f"{sum(f['got_other_non2xx'] + f['socket_errors'] for f in runs):.0f} |")


def bench_scale(tmp: Path, seconds: int) -> None:
    print(f"\n## PUT mix and GET task as the table grows ({seconds} s each, same settings)\n")
    print("| tasks in db | seed s | PUT req/s | PUT p50 ms | PUT p99 ms | GET req/s | GET p50 ms | GET p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    p50 = {}
    for total in (1_000, 100_000, 1_000_000):
        jobs, tasks = max(1, total // 1000), min(total, 1000)
        env = {"BENCH_JOBS": str(jobs), "BENCH_TASKS": str(tasks)}
        db = fresh_db(tmp, f"scale{total}")
        started = time.perf_counter()
        seed(db, jobs, tasks)
        seeded = time.perf_counter() - started
        service = Gunicorn("wsgi:app", db=db, config=SERVICE_CONFIG)
        try:
            put = wrk(service.url, "mix.lua", seconds, env)
            get = wrk(service.url, "get.lua", seconds, env)
        finally:
            service.stop()
        p50[total] = put["p50_us"]
        print(f"| {total:,} | {seeded:.1f} | {put['rps']:.0f} | {put['p50_us'] / 1000:.2f} | "
              f"{put['p99_us'] / 1000:.2f} | {get['rps']:.0f} | {get['p50_us'] / 1000:.2f} | "
              f"{get['p99_us'] / 1000:.2f} |")
        fresh_db(tmp, f"scale{total}")
    print(f"\nPUT p50 at 1M / at 1k: {p50[1_000_000] / p50[1_000]:.2f}")


def _timed_gets(url: str, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        with urlopen(url) as response:
            response.read()
        times.append((time.perf_counter() - started) * 1000)
    return times


def bench_reads(tmp: Path) -> None:
    db_path = fresh_db(tmp, "reads")
    seed(db_path, 1, 1000)   # job-0: one step with 1,000 tasks
    db = connect(str(db_path))
    spec = {"project": "", "description": "", "source": "bench", "spec": {},
            "ownership": {}, "custom_fields": {}, "platform_spec": BENCH_SPEC}
    for j in range(1, 10_001):  # 10,000 more jobs, so page 1,000 of 10 exists
        create_job(db, "bench", {**spec, "name": f"list-{j}"}, None)
    db.close()
    service = Gunicorn("wsgi:app", db=db_path, config=SERVICE_CONFIG)
    base = f"{service.url}/apis/jobs/v2/workspaces/bench/jobs"
    try:
        rows = [
            ("status tree, job with 1,000 tasks", f"{base}/job-0/status"),
            ("job list, page 1 of 10", f"{base}?page=1&page_size=10"),
            ("job list, page 1,000 of 10", f"{base}?page=1000&page_size=10"),
            ("job list, page 1,000 of 10, sort=name", f"{base}?page=1000&page_size=10&sort=name"),
        ]
        print("\n## Reads, one client, 200 sequential requests each\n")
        print("| request | p50 ms | p99 ms |")
        print("|---|---|---|")
        for label, url in rows:
            _timed_gets(url, 20)  # warm up
            times = sorted(_timed_gets(url, 200))
            print(f"| {label} | {statistics.median(times):.2f} | {times[197]:.2f} |")
    finally:
        service.stop()


def _store_writes(db_path: str, synchronous: str, worker: int, n: int = 3000) -> float:
    db = connect(db_path)
    db.execute(f"PRAGMA synchronous = {synchronous}")
    started = time.perf_counter()
    for k in range(n):
        put_task(db, "bench", f"job-{(worker * 7 + k) % 100}", "work", f"task-{k % 5}",
                 {"status_details": {"progress": k}})
    return time.perf_counter() - started


def bench_store(tmp: Path) -> None:
    """Where the PUT's time goes: the store alone, no HTTP, two processes as two workers."""
    import multiprocessing
    from functools import partial

    db = fresh_db(tmp, "store")
    seed(db, 100, 10)
    print("\n## The store alone: progress PUTs straight into put_task, 2 processes x 3,000\n")
    print("| synchronous | writes/s | µs per write |")
    print("|---|---|---|")
    for synchronous in ("FULL", "NORMAL"):
        with multiprocessing.get_context("spawn").Pool(2) as pool:
            started = time.perf_counter()
            pool.map(partial(_store_writes, str(db), synchronous), range(2))
            elapsed = time.perf_counter() - started
        note = " (the service's setting)" if synchronous == "FULL" else " (diagnostic only: no fsync per commit)"
        print(f"| {synchronous}{note} | {6000 / elapsed:.0f} | {elapsed / 6000 * 1e6:.0f} |")


def bench_decide() -> None:
    import statemachine

    table = {s.value: {t.value for t in statemachine.allowed_targets(s)} for s in statemachine.Status}
    n = 1_000_000
    lib = min(timeit.repeat(lambda: statemachine.is_legal("active", "completed"), number=n, repeat=5))
    ref = min(timeit.repeat(lambda: "completed" in table["active"], number=n, repeat=5))
    print("\n## The legality decision (best of 5 x 1,000,000 calls, lambda call included)\n")
    print("| decision | ns per call |")
    print("|---|---|")
    print(f"| statemachine.is_legal | {lib / n * 1e9:.0f} |")
    print(f"| dict of sets lookup | {ref / n * 1e9:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["put", "scale", "reads", "store", "decide"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gevent")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", type=Path,
                        help="put: also run the service of this checkout (e.g. made by `git "
                             "worktree add` of another revision) in the same rounds")
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite",
                        help="postgresql: the PUT mix on both backends, one and three hosts")
    args = parser.parse_args()
    GUNICORN.update(workers=args.workers, worker_class=args.worker_class, threads=args.threads)
    if not shutil.which("wrk") and args.only not in ("store", "decide"):
        sys.exit("wrk is needed: apt-get install wrk")
    print(f"# bench {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {platform.node()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        tmp = Path(tmp)
        if args.backend == "postgresql":
            bench_backends(tmp, args.rounds, args.seconds)
            return
        if args.only in (None, "put"):
            bench_put(tmp, args.rounds, args.seconds, args.baseline)
        if args.only in (None, "scale"):
            bench_scale(tmp, args.seconds)
        if args.only in (None, "reads"):
            bench_reads(tmp)
        if args.only in (None, "store"):
            bench_store(tmp)
        if args.only in (None, "decide"):
            bench_decide()


if __name__ == "__main__":
    main()
