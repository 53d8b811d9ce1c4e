"""Many jobs in one workspace: counts by status and custom-field filters at 100,000 jobs.

    python bench/many_jobs.py                       # SQLite and PostgreSQL
    python bench/many_jobs.py --backend sqlite --jobs 20000 --repeat 9

Seeds `--jobs` jobs in workspace `big` (and a fifth as many in `other`, which no answer may
count) straight into the jobs table, then fills `job_fields` with the migration's own
backfill (app/db/dialect.py) and status fill (app/db/schema.py), as an upgrade of a full database would. Each job has
`custom_fields` {"sweep": one of 100 (1,000 jobs each at 100,000), "team": one of 5,
"run": its own}, and a status drawn from all ten. PostgreSQL is then VACUUM ANALYZEd, as
autovacuum would, so its planner knows the tables. Each request goes through the app
in-process (Flask's test client: parsing, SQL, JSON), timed `--repeat` times after one
warm-up; the median and the slowest are printed, then the plan of each statement the store
ran for it (EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on PostgreSQL). Asserts nothing but
that the answers agree with each other.
"""

import argparse
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app import create_app, store  # noqa: E402
from app.db import connect, migrate  # noqa: E402
from app.db.schema import JOB_FIELDS_STATUS_FILL  # noqa: E402
from app.http import query_args  # noqa: E402
from app.store.rows import dumps, now  # noqa: E402
from schemas.query import JobCountsQuerySchema, JobListQuerySchema  # noqa: E402
from statemachine import Status  # noqa: E402

TEAMS = ["red", "blue", "green", "amber", "violet"]
BASE = "/apis/jobs/v2/workspaces/big/jobs"
COUNTS = JobCountsQuerySchema()
LIST = JobListQuerySchema()
# (label, path after BASE, how the store is called for its plan)
REQUESTS = [
    ("counts, no filter", "/-/counts", "counts"),
    ("counts, status=error", "/-/counts?filter[status]=error", "counts"),
    ("counts, custom_fields.sweep=sweep-7 (1%)",
     "/-/counts?filter[custom_fields.sweep]=sweep-7", "counts"),
    ("counts, custom_fields.team=red (20%)", "/-/counts?filter[custom_fields.team]=red",
     "counts"),
    ("list, custom_fields.sweep=sweep-7", "?filter[custom_fields.sweep]=sweep-7", "list"),
    ("list, custom_fields.run=run-4242 (1 job)", "?filter[custom_fields.run]=run-4242",
     "list"),
    ("list, custom_fields.sweep[$in]=sweep-7,sweep-8",
     "?filter[custom_fields.sweep][$in]=sweep-7,sweep-8", "list"),
    ("list, custom_fields.sweep[$like]=sweep-1% (11%)",
     "?filter[custom_fields.sweep][$like]=sweep-1%25", "list"),
    ("list, custom_fields.team=red and status=error",
     "?filter[custom_fields.team]=red&filter[status]=error", "list"),
    ("list, no filter (for scale)", "", "list"),
]


def seed(target: str, jobs: int) -> None:
    migrate(target)
    db = connect(target)
    if db.dialect.__name__ == "PostgreSQL":  # seeding takes longer than a request may
        db.execute("SET statement_timeout = 0")
    rng = random.Random(7)
    statuses = [s.value for s in Status]
    columns = ("id, workspace, name, project, description, source, spec, platform_spec, "
               "attempt_id, fileset, status, status_details, error_details, ownership, "
               "custom_fields, created_at, created_by, updated_at, updated_by, db_version")
    sql = f"INSERT INTO jobs ({columns}) VALUES ({', '.join('?' * 20)})"
    spec = dumps({"steps": [{"name": "train", "executor": {"provider": "cpu"}}]})
    started = time.perf_counter()
    for workspace, count in (("big", jobs), ("other", jobs // 5)):
        rows = []
        for n in range(count):
            at = now()
            fields = {"sweep": f"sweep-{n % 100}", "team": TEAMS[n % 5], "run": f"run-{n}"}
            rows.append((f"job-{workspace}-{n}", workspace, f"job-{n:06d}", "p", "", "sdk",
                         "{}", spec, f"attempt-{workspace}-{n}", f"job-{n:06d}",
                         rng.choice(statuses), "{}", "{}", "{}", dumps(fields), at, None, at,
                         None, 1))
        with db.transaction():  # executemany: one statement prepared, psycopg pipelines it
            if db.dialect.__name__ == "PostgreSQL":
                db.conn.cursor().executemany(db.dialect.sql(sql), rows)
            else:
                db.conn.executemany(sql, rows)
    with db.transaction():
        db.execute(db.dialect.job_fields_backfill)  # the migration's own, over a full table
        db.execute(JOB_FIELDS_STATUS_FILL)  # and m010's, which gives each row its job's status
    if db.dialect.__name__ == "PostgreSQL":
        db.execute("VACUUM ANALYZE jobs")
        db.execute("VACUUM ANALYZE job_fields")
    else:
        db.execute("ANALYZE")
    print(f"seeded {jobs:,} + {jobs // 5:,} jobs and their fields in "
          f"{time.perf_counter() - started:.1f} s")
    db.close()


class Recording:
    """A connection that keeps each statement the store runs, for its plan."""

    def __init__(self, db):
        self.db, self.seen = db, []

    def execute(self, sql, params=()):
        self.seen.append((sql, list(params)))
        return self.db.execute(sql, params)

    def __getattr__(self, name):
        return getattr(self.db, name)


def plans(app, target: str, path: str, kind: str) -> list[str]:
    db = connect(target)
    try:
        with app.test_request_context(BASE + path):
            recording = Recording(db)
            if kind == "counts":
                store.count_jobs(recording, "big", query_args(COUNTS))
            else:
                store.list_jobs(recording, "big", query_args(LIST))
        out = []
        postgres = db.dialect.__name__ == "PostgreSQL"
        for sql, params in recording.seen:
            if postgres:
                rows = db.execute("EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql,
                                  params).fetchall()
                text = "\n".join("    " + r[0] for r in rows)
            else:  # (id, parent, -, detail): indented by depth
                rows = db.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
                depth = {0: 0}
                for r in rows:
                    depth[r[0]] = depth.get(r[1], 0) + 1
                text = "\n".join("  " * (depth[r[0]] + 1) + r[-1] for r in rows)
            out.append("  " + " ".join(sql.split())[:200] + "\n" + text)
        return out
    finally:
        db.close()


def measure(target: str, repeat: int, label: str) -> None:
    app = create_app({"JOBS_DB": target, "TESTING": True})
    client = app.test_client()
    print(f"\n## {label}: median / slowest of {repeat} requests, in-process\n")
    print("| request | median ms | slowest ms | answer |\n|---|---|---|---|")
    found = {}
    for title, path, _ in REQUESTS:
        client.get(BASE + path)  # warm-up
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.get(BASE + path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.json
        body = response.json
        found[title] = body
        answer = (f"total {body['total']:,}" if "total" in body
                  else f"{body['pagination']['total_results']:,} jobs")
        print(f"| {title} | {statistics.median(times):.1f} | {max(times):.1f} | {answer} |")
    tally = found["counts, custom_fields.sweep=sweep-7 (1%)"]["total"]
    assert tally == found["list, custom_fields.sweep=sweep-7"]["pagination"]["total_results"]
    print(f"\n### Plans ({label})\n")
    for title, path, kind in REQUESTS:
        print(f"{title}:")
        for plan in plans(app, target, path, kind):
            print(plan)
    app.extensions["jobs_db"].close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    print(f"{time.strftime('%Y-%m-%d')}, Python {platform.python_version()}, "
          f"SQLite {sqlite3.sqlite_version}, {args.jobs:,} jobs in the workspace")
    with tempfile.TemporaryDirectory(prefix="many-jobs-") as folder:
        if args.backend in ("sqlite", "both"):
            target = str(Path(folder) / "many.db")
            seed(target, args.jobs)
            measure(target, args.repeat, "SQLite")
        if args.backend in ("postgresql", "both"):
            from tests.pg import PostgresServer, find_bindir

            bindir = find_bindir()
            if bindir is None:
                sys.exit("PostgreSQL's server binaries are missing (Debian's postgresql)")
            server = PostgresServer(bindir, durable=True).start()  # fsync on, as deployed
            try:
                target = server.create_database("many")
                seed(target, args.jobs)
                version = connect(target).execute("SHOW server_version").fetchone()[0]
                measure(target, args.repeat, f"PostgreSQL {version}")
            finally:
                server.stop()


if __name__ == "__main__":
    main()
