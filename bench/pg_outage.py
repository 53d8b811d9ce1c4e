"""A PostgreSQL crash under load, timed over several runs; prints each run and the medians.

    python bench/pg_outage.py                   # 3 runs, `pg_ctl stop -m immediate`
    python bench/pg_outage.py --how kill-9      # SIGKILL of the postmaster instead
    python bench/pg_outage.py --down 4          # kept down 4 s instead of 2
    python bench/pg_outage.py --runs 5 --json

Each run: a fresh PostgreSQL server (tests/pg.py) and three gunicorn hosts of 2 workers,
two writers per host PUTting in a loop; the server is crashed, kept down 2 s and started
again (--down). What the figures mean: tests/outage.py `measure`.
"""

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.outage import measure  # noqa: E402
from tests.pg import PostgresServer, find_bindir  # noqa: E402
from tests.server import Server  # noqa: E402


def one_run(how: str, down: float) -> dict:
    server = PostgresServer(find_bindir()).start()
    folder = Path(tempfile.mkdtemp(prefix="jobs-outage-"))
    try:
        url = server.create_database("outage")
        hosts = [Server(url, folder / f"host{i}.log", workers=2) for i in range(3)]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(lambda s: s.start(), hosts))
        try:
            return measure(server, [h.url for h in hosts], how, down)
        finally:
            for host in hosts:
                host.stop()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--how", choices=["immediate", "kill-9"], default="immediate")
    parser.add_argument("--down", type=float, default=2.0, help="seconds the server stays down")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = []
    for i in range(args.runs):
        runs.append(one_run(args.how, args.down))
        if not args.json:
            print(f"run {i + 1}: {runs[-1]}", flush=True)
    medians = {
        "ready_while_down": statistics.median(r["ready_while_down"] for r in runs),
        "put_while_down": statistics.median(r["put_while_down"] for r in runs),
        "first_ack_after_accept (slowest host)": statistics.median(
            max(a if a is not None else float("inf") for a in r["first_ack_after_accept"])
            for r in runs),
        "last_503_after_accept": statistics.median(
            r["last_503_after_accept"] or 0.0 for r in runs),
    }
    print(json.dumps({"how": args.how, "runs": runs, "medians": medians}) if args.json
          else f"medians over {args.runs} runs ({args.how}, down {args.down} s): {medians}")


if __name__ == "__main__":
    main()
