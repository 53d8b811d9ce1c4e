"""What appending events costs a PUT: the PUT mix against this revision and a checkout of
the revision before the change feed, on SQLite and on PostgreSQL (fsync on), in interleaved
rounds, same gunicorn settings for both.

    git archive <revision before> | tar -x -C /tmp/base
    .venv/bin/python bench/events_cost.py --baseline /tmp/base --rounds 3 --seconds 8
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    run.GUNICORN.update(threads=args.threads)
    from tests.pg import PostgresServer, find_bindir
    tmp = Path(tempfile.mkdtemp(prefix="bench-events-"))
    env = {"BENCH_JOBS": "100", "BENCH_TASKS": "10"}
    pg = PostgresServer(find_bindir(), durable=True).start()
    servers = {}
    try:
        for name in ("before", "events"):
            url = pg.create_database(f"bench_{name}")
            run.seed_through_store(url, 100, 10)
            db = run.fresh_db(tmp, name)
            run.seed(db, 100, 10)
            tree = args.baseline if name == "before" else run.ROOT
            for backend, target in (("SQLite", db), ("PostgreSQL", url)):
                servers[(backend, name)] = run.Gunicorn(
                    "wsgi:app", db=target, chdir=tree, config=str(tree / "gunicorn.conf.py"))
        results = {key: [] for key in servers}
        for r in range(args.rounds):
            for key in (list(servers) if r % 2 == 0 else list(servers)[::-1]):
                results[key].append(run.wrk_cpu(servers[key], "mix.lua", args.seconds, env))
    finally:
        for server in servers.values():
            server.stop()
        pg.stop()
    print(f"\n{run.settings()}, {args.rounds} interleaved rounds of {args.seconds} s; medians")
    print("| backend | revision | PUT req/s | p99 ms | server CPU µs/PUT |")
    print("|---|---|---|---|---|")
    for (backend, name), runs in results.items():
        print(f"| {backend} | {'before the feed' if name == 'before' else 'with events'} | "
              f"{statistics.median(f['rps'] for f in runs):.0f} | "
              f"{statistics.median(f['p99_us'] for f in runs) / 1000:.1f} | "
              f"{statistics.median(f['cpu_us'] for f in runs):.0f} |")


if __name__ == "__main__":
    main()
