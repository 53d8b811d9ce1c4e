"""One hot job on PostgreSQL: the PUT mix (bench/mix.lua) into one job of 1,000 tasks
against the same mix spread over 100 jobs of 10 tasks, through three hosts on one durable
PostgreSQL. Prints req/s per round, the medians and the hot/spread ratio; asserts nothing.

    python bench/hot_job.py                          # 5 interleaved rounds of 8 s
    python bench/hot_job.py --baseline ../checkout   # and another revision's service, on
                                                     # its own copy of the seed, same rounds

PostgreSQL (the machine's server binaries, tests/pg.py) runs with fsync and
synchronous_commit on; each host is gunicorn with bench/run.py's settings (2 gevent workers)
on 127.0.0.1; wrk's 16 connections are shared out over the three hosts. Needs `wrk`.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import (BENCH_SPEC, ROOT, SERVICE_CONFIG, Gunicorn, settings,  # noqa: E402
                 wrk_spread)

from app.db import connect, migrate  # noqa: E402
from app.store import create_job, put_task  # noqa: E402
from tests.pg import PostgresServer, find_bindir  # noqa: E402

HOSTS = 3
SPREAD_JOBS, SPREAD_TASKS = 100, 10
HOT_JOB, HOT_TASKS = SPREAD_JOBS, 1000  # job-100: after the spread ones, in the same database
LOADS = {"hot": {"BENCH_FIRST_JOB": str(HOT_JOB), "BENCH_JOBS": "1",
                 "BENCH_TASKS": str(HOT_TASKS)},
         "spread": {"BENCH_FIRST_JOB": "0", "BENCH_JOBS": str(SPREAD_JOBS),
                    "BENCH_TASKS": str(SPREAD_TASKS)}}


def seed(url: str) -> None:
    """job-0..job-99 of 10 tasks and job-100 of 1,000, every task `active` under step
    `work`: jobs and each first task through the store, the other tasks by one INSERT."""
    migrate(url)
    db = connect(url)
    spec = {"project": "", "description": "", "source": "bench", "spec": {},
            "ownership": {}, "custom_fields": {}, "platform_spec": BENCH_SPEC}
    sizes = {**{j: SPREAD_TASKS for j in range(SPREAD_JOBS)}, HOT_JOB: HOT_TASKS}
    for j in sizes:
        create_job(db, "bench", {**spec, "name": f"job-{j}"}, None)
        put_task(db, "bench", f"job-{j}", "work", "task-0", {"status": "active"})
    with db.transaction():
        for j, size in sizes.items():
            db.execute("""
                INSERT INTO tasks (id, step_id, workspace, project, name, status,
                                   status_details, error_details, error_stack, created_at,
                                   created_by, updated_at, updated_by, db_version)
                SELECT 'task-' || md5(random()::text), t.step_id, t.workspace, t.project,
                       'task-' || n, t.status, t.status_details, t.error_details,
                       t.error_stack, t.created_at, NULL, t.updated_at, NULL, 1
                FROM generate_series(1, ?) n, tasks t JOIN steps s ON s.id = t.step_id
                     JOIN jobs jb ON jb.attempt_id = s.attempt_id
                WHERE jb.workspace = 'bench' AND jb.name = ? AND t.name = 'task-0'""",
                       (size - 1, f"job-{j}"))
    db.execute("ANALYZE")
    db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--baseline", type=Path,
                        help="also run the service of this checkout (another revision)")
    args = parser.parse_args()
    bindir = find_bindir()
    if bindir is None:
        sys.exit("PostgreSQL server binaries are needed: apt-get install postgresql")
    pg = PostgresServer(bindir, durable=True).start()  # fsync, synchronous_commit on
    builds: dict[str, list[Gunicorn]] = {}
    try:
        url = pg.create_database("hot")
        seed(url)
        with psycopg.connect(pg.url(), autocommit=True) as conn:
            settings_on = conn.execute("SELECT string_agg(name || '=' || setting, ' ') FROM "
                                       "pg_settings WHERE name IN ('fsync', "
                                       "'synchronous_commit')").fetchone()[0]
            if args.baseline is not None:  # the same seed, copied before any write
                conn.execute('CREATE DATABASE "hot_baseline" TEMPLATE "hot"')
        builds["this build"] = [Gunicorn("wsgi:app", db=url, config=SERVICE_CONFIG)
                                for _ in range(HOSTS)]
        if args.baseline is not None:
            base = args.baseline.resolve()
            builds["baseline"] = [
                Gunicorn("wsgi:app", db=pg.url("hot_baseline"), chdir=base,
                         config=str(base / "gunicorn.conf.py")) for _ in range(HOSTS)]
        runs = [(build, load) for build in builds for load in LOADS]
        results: dict[tuple, list[dict]] = {run: [] for run in runs}
        print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {args.rounds} "
              f"interleaved rounds of {args.seconds} s, {HOSTS} hosts ({settings()} in all), "
              f"PostgreSQL {settings_on}")
        for r in range(args.rounds):  # each candidate goes first in turn
            for run in runs[r % len(runs):] + runs[:r % len(runs)]:
                servers = builds[run[0]]
                cpu = sum(s.cpu_seconds() or 0 for s in servers)
                figures = wrk_spread([s.url for s in servers], "mix.lua", args.seconds,
                                     LOADS[run[1]])
                figures["cpu_us"] = ((sum(s.cpu_seconds() or 0 for s in servers) - cpu)
                                     / max(figures["requests"], 1) * 1e6)
                results[run].append(figures)
                print(f"round {r + 1}: {run[0]:10} {run[1]:6} {figures['rps']:6.0f} req/s, "
                      f"p99 {figures['p99_us'] / 1000:6.1f} ms, hosts' CPU "
                      f"{figures['cpu_us']:5.0f} µs/req, non-2xx other than the planned 422 "
                      f"{figures['got_other_non2xx']:.0f}, wrk socket errors/timeouts "
                      f"{figures['socket_errors']:.0f}", flush=True)
    finally:
        for servers in builds.values():
            for server in servers:
                server.stop()
        pg.stop()
    for build, servers in builds.items():  # what any unplanned answer was
        for server in servers:
            server.log.seek(0)
            odd = [line for line in server.log.read().decode(errors="replace").splitlines()
                   if '"status":5' in line or "Traceback" in line or "ERROR" in line]
            for line in odd[:3]:
                print(f"{build} log: {line[:300]}")
    print()
    for build in builds:
        hot, spread = results[(build, "hot")], results[(build, "spread")]
        med_hot = statistics.median(f["rps"] for f in hot)
        med_spread = statistics.median(f["rps"] for f in spread)
        paired = [h["rps"] / s["rps"] for h, s in zip(hot, spread)]
        cpu = [statistics.median(f["cpu_us"] for f in runs) for runs in (hot, spread)]
        print(f"{build}: hot {listed(hot)} (median {med_hot:.0f}); spread {listed(spread)} "
              f"(median {med_spread:.0f}); hot/spread {med_hot / med_spread:.2f} (per round "
              f"{', '.join(f'{p:.2f}' for p in paired)}, their median "
              f"{statistics.median(paired):.2f}); hosts' CPU µs/req hot {cpu[0]:.0f}, "
              f"spread {cpu[1]:.0f}")


def listed(runs: list[dict]) -> str:
    return ", ".join(f"{f['rps']:.0f}" for f in runs)

if __name__ == "__main__":
    main()
