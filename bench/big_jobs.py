"""Big jobs: what watching a job with N tasks costs, through HTTP, for N = 1,000 to 100,000.

    python bench/big_jobs.py                            # N = 1,000, 10,000, 100,000
    python bench/big_jobs.py --tasks 1000 10000 --root ../other-checkout   # another version

For each N: a fresh SQLite file, gunicorn started from `--root`'s gunicorn.conf.py with its
defaults (only the bind and the file are set), one job `big` with three steps: `prep` and `post`
with 10 tasks each and `work` with N. The tasks of `work` are inserted straight into the tasks
table in shuffled name order (97% completed, 2% active, 1% error), as the PUTs of many
workers would have left them; everything else goes through HTTP. Each read is timed
`--repeat` times over one kept-alive connection after a warm-up, median in ms; sizes are
the body as sent (gzip: with Accept-Encoding: gzip). "n/a": the server answered something
else (a version without that feature). PUT p50: `--puts` progress reports on random tasks
of `work`, interleaved one for one with as many on a 10-task job, each with and without
Accept-Encoding: gzip. Prints a Markdown table per N, then the plans of the task pages.
"""

import argparse
import http.client
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import free_port  # noqa: E402

BASE = "/apis/jobs/v2/workspaces/ws/jobs"
EXECUTOR = {"provider": "subprocess", "command": ["true"]}


class Server:
    def __init__(self, root: Path, db: Path):
        self.port = free_port()
        env = {**os.environ, "JOBS_DB": str(db), "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"],
            cwd=root, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(400):
            try:
                self.connection().request("GET", "/health/live")
                return
            except OSError:
                time.sleep(0.05)
        self.log.seek(0)
        raise RuntimeError(self.log.read().decode())

    def connection(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.connect()
        return conn

    def stop(self):
        self.process.terminate()
        self.process.wait(30)


class NoAnswer(Exception):
    """The worker closed the connection (gunicorn's timeout killed it, say)."""


class Client:
    def __init__(self, server: Server):
        self.server = server
        self.conn = server.connection()

    def call(self, method: str, path: str, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        sent = {"Content-Type": "application/json"} if data is not None else {}
        started = time.perf_counter()
        try:
            self.conn.request(method, BASE + path, data, {**sent, **(headers or {})})
            response = self.conn.getresponse()
            payload = response.read()
        except (http.client.HTTPException, OSError):
            self.conn = self.server.connection()
            raise NoAnswer(f"{time.perf_counter() - started:.0f} s, no answer") from None
        ms = (time.perf_counter() - started) * 1000
        return response.status, dict(response.getheaders()), payload, ms


def seed(server: Server, db: Path, n: int) -> None:
    client = Client(server)
    spec = {"steps": [{"name": s, "executor": EXECUTOR} for s in ("prep", "work", "post")]}
    for job in ("big", "small"):
        status, _, body, _ = client.call("POST", "", {"name": job, "platform_spec": spec})
        assert status == 201, body
        assert client.call("PATCH", f"/{job}/steps/work/status", {"status": "active"})[0] == 200
        for step in ("prep", "post") if job == "big" else ("work",):
            for i in range(10):
                assert client.call("PUT", f"/{job}/steps/{step}/tasks/w{i}",
                                   {"status": "active"})[0] == 200
    conn = sqlite3.connect(db, timeout=30)
    step_id, workspace, project = conn.execute(
        "SELECT s.id, s.workspace, s.project FROM steps s JOIN jobs j ON j.attempt_id = "
        "s.attempt_id WHERE j.name = 'big' AND s.name = 'work'").fetchone()
    names = [f"task-{i:06d}" for i in range(n)]
    rng = random.Random(7)
    rng.shuffle(names)
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    rows = []
    for i, name in enumerate(names):
        status = "active" if i % 100 < 2 else "error" if i % 100 == 2 else "completed"
        rows.append((f"task-{i:032x}", step_id, workspace, project, name, status,
                     json.dumps({"progress": 100 if status == "completed" else i % 100}),
                     "{}", "", at, None, at, None, 3))
    with conn:
        conn.executemany(
            "INSERT INTO tasks (id, step_id, workspace, project, name, status, status_details,"
            " error_details, error_stack, created_at, created_by, updated_at, updated_by,"
            " db_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()


def timed(client: Client, path: str, repeat: int, headers=None):
    """(median ms, the last answer's status, headers, body)."""
    client.call("GET", path, headers=headers)  # warm-up
    times = []
    for _ in range(repeat):
        status, got, body, ms = client.call("GET", path, headers=headers)
        times.append(ms)
    return statistics.median(times), status, got, body


def revalidation(client: Client, path: str, repeat: int) -> str:
    status, headers, _, _ = client.call("GET", path)
    tag = headers.get("ETag")
    if tag is None:
        return "n/a (no ETag)"
    ms, status, _, _ = timed(client, path, repeat, {"If-None-Match": tag})
    return f"{ms:.1f}" if status == 304 else f"n/a ({status})"


def put_p50(server: Server, n: int, puts: int) -> dict:
    """PUT p50 on random tasks of the N-task step and on a 10-task step, each with and without
    Accept-Encoding: gzip, the four interleaved one for one."""
    client = Client(server)
    rng = random.Random(11)
    times: dict = {}
    for i in range(puts):
        for gzip in (False, True):
            headers = {"Accept-Encoding": "gzip"} if gzip else {}
            for where, path in (
                    (n, f"/big/steps/work/tasks/task-{rng.randrange(n):06d}"),
                    (10, f"/small/steps/work/tasks/w{i % 10}")):
                ms = client.call("PUT", path, {"status_details": {"i": i}}, headers)[3]
                times.setdefault((where, gzip), []).append(ms)
    return {key: statistics.median(values) for key, values in times.items()}


def kib(size: int) -> str:
    return f"{size / 1024:,.1f} KiB" if size < 1024 * 1024 else f"{size / 2**20:,.1f} MiB"


def measure(server: Server, n: int, repeat: int, puts: int) -> list[tuple[str, str]]:
    client = Client(server)
    gz = {"Accept-Encoding": "gzip"}
    rows = []
    heavy = max(3, repeat // (1 + n // 20_000))  # the whole tree at 100,000: fewer rounds

    def row(label, path, rounds, headers=None, show=None):
        try:
            ms, status, got, body = timed(client, path, rounds, headers)
        except NoAnswer as failed:
            rows.append((label, f"failed ({failed})"))
            return
        rows.append((label, show(ms, status, got, body) if show else
                     f"{ms:.1f} ms, {kib(len(body))}"))

    def packed(ms, status, got, body):
        return f"{ms:.1f} ms, {kib(len(body))}" if got.get("Content-Encoding") == "gzip" \
            else "n/a (not compressed)"

    def bare(ms, status, got, body):
        whole = any("tasks" in s for s in json.loads(body)["steps"])
        return "n/a (the whole tree)" if whole else f"{ms:.1f} ms, {kib(len(body))}"

    def paged(ms, status, got, body):
        return f"{ms:.1f} ms, {kib(len(body))}" if status == 200 and \
            "pagination" in json.loads(body) else "n/a (the whole list)"

    page = "/big/steps/work/tasks?sort=name&page_size=100"
    row("status tree", "/big/status", heavy)
    row("status tree, gzip", "/big/status", heavy, gz, packed)
    row("status tree ?tasks=none", "/big/status?tasks=none", repeat, show=bare)
    rows.append(("304 of the tree", revalidation(client, "/big/status", repeat * 4)))
    rows.append(("304 of a task page", revalidation(client, page, repeat * 4)))
    rows.append(("304 of the step", revalidation(client, "/big/steps/work", repeat * 4)))
    row("unpaged task list", "/big/steps/work/tasks", heavy)
    row("unpaged task list, gzip", "/big/steps/work/tasks", heavy, gz, packed)
    row("task page 1 by name (100)", page, repeat, show=paged)
    row("task page 1, status=active, by name (100)",
        "/big/steps/work/tasks?filter[status]=active&sort=name&page_size=100", repeat,
        show=paged)
    row("the step", "/big/steps/work", repeat, show=lambda ms, status, got, body: (
        f"{ms:.1f} ms, task_counts {json.loads(body).get('task_counts', 'n/a')}"))
    p50 = put_p50(server, n, puts)
    for gzip in (False, True):
        rows.append((f"PUT p50{', Accept-Encoding: gzip' if gzip else ''}",
                     f"{p50[n, gzip]:.2f} ms at {n:,} tasks, {p50[10, gzip]:.2f} ms at 10"))
    return rows


PAGE_SQL = [
    ("page 1 by name", "SELECT t.seq FROM tasks t WHERE t.step_id = ? ORDER BY t.name ASC "
     "LIMIT 100 OFFSET 0", []),
    ("page 1 by -name", "SELECT t.seq FROM tasks t WHERE t.step_id = ? ORDER BY t.name DESC "
     "LIMIT 100 OFFSET 0", []),
    ("page 1, status=active, by name", "SELECT t.seq FROM tasks t WHERE t.step_id = ? AND "
     "t.status IN (?) ORDER BY t.name ASC LIMIT 100 OFFSET 0", ["active"]),
    ("total, status=active", "SELECT COUNT(*) FROM tasks t WHERE t.step_id = ? AND "
     "t.status IN (?)", ["active"]),
    ("task counts", "SELECT step_id, status, COUNT(*) FROM "
     "tasks WHERE step_id IN (?) GROUP BY step_id, status", []),
]


def sqlite_plans(db: Path) -> None:
    conn = sqlite3.connect(db)
    (step_id,) = conn.execute("SELECT s.id FROM steps s JOIN jobs j ON j.attempt_id = "
                              "s.attempt_id WHERE j.name = 'big' AND s.name = 'work'").fetchone()
    print(f"\nSQLite {sqlite3.sqlite_version} plans (EXPLAIN QUERY PLAN):\n")
    for label, sql, params in PAGE_SQL:
        plan = conn.execute("EXPLAIN QUERY PLAN " + sql, [step_id, *params]).fetchall()
        print(f"- {label}: " + "; ".join(row[-1] for row in plan))
    conn.close()


def postgres_plans(n: int) -> None:
    """The same statements on PostgreSQL over N tasks of one step (beside 200,000 of others),
    VACUUM ANALYZEd as autovacuum would: EXPLAIN ANALYZE."""
    sys.path.insert(0, str(HERE.parent))
    from app.db import connect, migrate
    from tests.pg import PostgresServer, find_bindir

    server = PostgresServer(find_bindir(), durable=True).start()
    try:
        target = server.create_database("big")
        migrate(target)
        db = connect(target)
        rng = random.Random(7)
        rows = []
        # Beside it, the tasks of 200 other jobs' steps, 1,000 each, as a service holds.
        for step, count in (("step-big", n), *((f"step-other-{k}", 1000) for k in range(200))):
            names = [f"task-{i:06d}" for i in range(count)]
            rng.shuffle(names)
            rows += [(f"{step}-{i}", step, "ws", "", name, "active" if i % 100 < 2 else
                      "completed", "{}", "{}", "", "2026-01-01T00:00:00.000000Z", 3)
                     for i, name in enumerate(names)]
        with db.transaction():
            db.conn.cursor().executemany(
                "INSERT INTO tasks (id, step_id, workspace, project, name, status, "
                "status_details, error_details, error_stack, created_at, db_version) VALUES "
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        db.execute("VACUUM ANALYZE tasks")
        version = db.execute("SHOW server_version").fetchone()[0]
        print(f"\nPostgreSQL {version} plans, {n:,} tasks (EXPLAIN ANALYZE):\n")
        for label, sql, params in PAGE_SQL:
            plan = db.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql,
                              ["step-big", *params]).fetchall()
            print(f"- {label}:\n" + "\n".join("      " + row[0] for row in plan))
        db.close()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--root", type=Path, default=HERE.parent,
                        help="the checkout whose server is measured")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--puts", type=int, default=200)
    parser.add_argument("--postgres-plans", action="store_true",
                        help="only print the plans on PostgreSQL, at the largest N")
    args = parser.parse_args()
    if args.postgres_plans:
        postgres_plans(max(args.tasks))
        return
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.root,
                              capture_output=True, text=True).stdout.strip()
    print(f"{time.strftime('%Y-%m-%d')}, {args.root.resolve().name} at {revision}, "
          f"SQLite {sqlite3.sqlite_version}, gunicorn.conf.py defaults")
    for n in args.tasks:
        with tempfile.TemporaryDirectory(prefix="big-jobs-") as folder:
            db = Path(folder) / "big.db"
            server = Server(args.root.resolve(), db)
            try:
                started = time.perf_counter()
                seed(server, db, n)
                seeded = time.perf_counter() - started
                rows = measure(server, n, args.repeat, args.puts)
            finally:
                server.stop()
            print(f"\n### {n:,} tasks in one step (seeded in {seeded:.1f} s)\n")
            print("| what | median |\n|---|---|")
            for label, value in rows:
                print(f"| {label} | {value} |")
            if n == max(args.tasks):
                sqlite_plans(db)


if __name__ == "__main__":
    main()
