"""The dashboard on a big job: how fast the job page of 100,000 tasks shows and keeps up,
and what one open page costs while 200 tasks a second report.

    .venv/bin/python bench/big_job_page.py                      # 100,000 tasks, 3 rounds
    .venv/bin/python bench/big_job_page.py --tasks 20000 --rounds 2 --list-jobs 0
    .venv/bin/python bench/big_job_page.py --rounds 1 --screenshot docs/big-job.png

One job `sweep` in workspace team-a (prepare completed, evaluate active): steps prepare (2 tasks), evaluate (`--tasks`, seeded as
rows, as tests/test_ui_big_job.py does) and report (1 task), under the service's own
gunicorn.conf.py (its defaults: 2 gevent workers), on 127.0.0.1, one headless Chromium. Per
round, in a fresh browser context: time from navigation to the big step's counts and first
200 rows; to a search's one row; to a report (a PUT of a task off the page) moving the
counts, and to a report on a shown task changing its row. Then the load: PUTs paced at
`--rate` a second for `--seconds` (pending -> active -> active with details -> completed,
task after task; new tasks once no pending one is left), alternately with `--pages` pages
open and without them (A B A B): a page's bytes over the wire per second (Resource Timing's transferSize: headers and
compressed bodies), and the gunicorn processes' CPU time from /proc as % of one core, the
difference divided by the number of pages (one page's cost is small beside the noise of a
shared machine). With `--list-jobs N`, also the list page's first paint in a workspace of
N jobs. Medians are printed.
"""

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import run  # noqa: E402  (bench/run.py: gunicorn, /proc CPU, bulk seeding)
from playwright.sync_api import expect, sync_playwright  # noqa: E402
from tests.browser import launch  # noqa: E402
from tests.test_ui_big_job import BIG, JOB, WS, seed  # noqa: E402

PENDING = lambda n: n % 20 == 2  # noqa: E731  (the seed's pending tasks)
STATUSES = ["created", "pending", "active", "cancelled", "cancelling", "error", "completed",
            "paused", "pausing", "resuming"]


def seed_list(db_path: Path, jobs: int, workspace: str = "bench") -> None:
    """`jobs` jobs of one step each, as rows (the status of job n is STATUSES[n % 10])."""
    at = "2026-12-01T09:00:00.000000Z"
    spec = '{"steps":[{"name":"work","executor":{"provider":"cpu"}}]}'
    with sqlite3.connect(db_path) as db:
        db.executemany(
            "INSERT INTO jobs (id, workspace, name, project, description, source, spec,"
            " platform_spec, attempt_id, fileset, status, status_details, error_details,"
            " ownership, custom_fields, created_at, updated_at, db_version)"
            " VALUES (?, ?, ?, '', '', 'bench', '{}', ?, ?, '', ?, '{}', '{}', '{}', '{}', ?, ?, 1)",
            [(f"job-l{n}", workspace, f"job-{n:05d}", spec, f"attempt-l{n}",
              STATUSES[n % 10], at, at) for n in range(jobs)])
        db.executemany(
            "INSERT INTO steps (id, job_id, attempt_id, workspace, project, name, step_spec,"
            " status, status_details, error_details, created_at, updated_at, db_version)"
            " VALUES (?, ?, ?, ?, '', 'work', '{}', ?, '{}', '{}', ?, ?, 1)",
            [(f"step-l{n}", f"job-l{n}", f"attempt-l{n}", workspace, STATUSES[n % 10], at, at)
             for n in range(jobs)])


# Waits poll the page at each animation frame (Playwright's expect backs off to 1 s).
STEP = f"[...document.querySelectorAll('.step')].find((s) => s.querySelector('h3').textContent === '{BIG}')"


def until(page, condition: str, arg=None, timeout: float = 60000) -> None:
    page.wait_for_function(f"(arg) => {{ const step = {STEP}; return step && ({condition}); }}",
                           arg=arg, timeout=timeout)


OLD: dict = {}  # --old-page: file name -> that revision's script, served instead of ours


def open_page(browser, url: str, tasks: int):
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    if OLD:
        context.route("**/ui/static/*.js", lambda route: route.fulfill(
            body=OLD[route.request.url.rsplit("/", 1)[1]], content_type="text/javascript"))
    page = context.new_page()
    started = time.monotonic()
    page.goto(url)
    until(page, f"step.querySelectorAll('tbody tr').length === {tasks}" if OLD else
          "step.querySelectorAll('tbody tr').length === 200 && step.querySelector('.counts').textContent !== ''")
    shown = time.monotonic() - started
    page.evaluate("performance.setResourceTimingBufferSize(1000000)")
    return context, page, shown


def wire(page) -> int:
    """Bytes the page received so far over the wire: headers and (compressed) bodies."""
    return page.evaluate("performance.getEntriesByType('resource').reduce((a, e) => a + e.transferSize, 0)")


class Reports:
    """PUTs paced at `rate` a second from 32 threads, each on its own task sequence."""

    def __init__(self, api: str, tasks: int, rate: int):
        self.api, self.rate = api, rate
        self.todo = [n for n in range(tasks) if PENDING(n)]
        self.lock = threading.Lock()
        self.done = self.failed = self.made = 0

    def _next(self) -> str:
        """The next task to report on: a pending one, then (none left) a new one."""
        with self.lock:
            self.made += not self.todo
            return f"shard-{self.todo.pop(0):05d}" if self.todo else f"extra-{self.made}"

    def run(self, seconds: float) -> None:
        stop = time.monotonic() + seconds
        threads = [threading.Thread(target=self._worker, args=(stop, 32)) for _ in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _worker(self, stop: float, share: int) -> None:
        session, gap = requests.Session(), share / self.rate
        due = time.monotonic()
        while True:
            name = self._next()
            for body in ({"status": "active"}, {"status": "active", "status_details": {"progress": 0.5}},
                         {"status": "completed"}):
                if time.monotonic() >= stop:
                    return
                due += gap
                time.sleep(max(0.0, due - time.monotonic()))
                ok = session.put(f"{self.api}/{name}", json=body, timeout=10).status_code == 200
                with self.lock:
                    self.done += ok
                    self.failed += not ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--list-jobs", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=5, help="pages open during the load")
    parser.add_argument("--screenshot", help="save the job page (round 1) as this PNG")
    parser.add_argument("--old-page", metavar="REV", help="the job page's scripts of this git "
                        "revision instead (before the feed: it polls the whole tree)")
    args = parser.parse_args()
    if args.old_page:
        for name in ("core.js", "job.js"):
            OLD[name] = subprocess.run(["git", "show", f"{args.old_page}:app/static/ui/{name}"],
                                       cwd=ROOT, check=True, capture_output=True).stdout
    tmp = Path(tempfile.mkdtemp(prefix="big-job-page-"))
    db = tmp / "jobs.db"
    t0 = time.monotonic()
    seed(db, tasks=args.tasks)
    if args.list_jobs:
        seed_list(db, args.list_jobs)
    print(f"seeded {args.tasks:,} tasks (and {args.list_jobs:,} jobs) in {time.monotonic() - t0:.1f} s")
    server = run.Gunicorn("wsgi:app", db, config=run.SERVICE_CONFIG)
    url = f"{server.url}/ui/workspaces/{WS}/jobs/{JOB}"
    api = f"{server.url}/apis/jobs/v2/workspaces/{WS}/jobs/{JOB}/steps/{BIG}/tasks"
    reports = Reports(api, args.tasks, args.rate)
    # The steps as a running job has them: the small first one done, the big one running.
    for step, moves in (("prepare", ("active", "completed")), (BIG, ("active",))):
        for status in moves:
            requests.patch(f"{server.url}/apis/jobs/v2/workspaces/{WS}/jobs/{JOB}/steps/{step}/status",
                           json={"status": status}, timeout=10).raise_for_status()
    figures = {k: [] for k in ("show", "find", "counts", "row", "bytes", "cpu_page", "cpu_none", "rate", "rate_none", "list")}
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            for r in range(args.rounds):
                context, page, shown = open_page(browser, url, args.tasks)
                figures["show"].append(shown)
                step = page.locator(".step", has=page.locator("h3", has_text=BIG))
                if not OLD:  # no search field nor counts there
                    started = time.monotonic()
                    step.get_by_role("searchbox").fill(f"shard-{(r * 7919) % args.tasks:05d}")
                    until(page, "step.querySelectorAll('tbody tr').length === 1")
                    figures["find"].append(time.monotonic() - started)
                    step.get_by_role("searchbox").fill("")
                    until(page, "step.querySelectorAll('tbody tr').length === 200")
                    # A report off the page: the counts move.
                    before = step.locator(".counts").inner_text()
                    off = reports._next()
                    started = time.monotonic()
                    requests.put(f"{api}/{off}", json={"status": "active"}, timeout=10)
                    until(page, "step.querySelector('.counts').textContent !== arg", before)
                    figures["counts"].append(time.monotonic() - started)
                # A report on a shown task: its row changes.
                name = step.locator("tbody th").first.inner_text()
                started = time.monotonic()
                requests.put(f"{api}/{name}", json={"status_details": {"round": r}}, timeout=10)
                until(page, "step.querySelector('tbody tr').textContent.includes(arg)", f"round: {r}")
                figures["row"].append(time.monotonic() - started)
                if args.screenshot and r == 0:
                    page.evaluate("document.getElementById('live').textContent = 'Live'")  # no clock
                    page.evaluate("document.activeElement.blur()")
                    page.screenshot(path=args.screenshot, clip={"x": 0, "y": 0, "width": 1024, "height": 1250},
                                    full_page=True)
                # The load with `--pages` pages open (one page's cost is small beside the
                # noise of a shared machine: N of them, divided by N), then without them.
                more = [open_page(browser, url, args.tasks) for _ in range(args.pages - 1)]
                pages = [page] + [p for _, p, _ in more]
                page.wait_for_timeout(1500)
                got, cpu, done = [wire(p) for p in pages], server.cpu_seconds(), reports.done
                reports.run(args.seconds)
                figures["cpu_page"].append(100 * (server.cpu_seconds() - cpu) / args.seconds)
                page.wait_for_timeout(1200)  # the answer of the window's last second
                figures["bytes"].append(statistics.mean(
                    (wire(p) - g) / args.seconds for p, g in zip(pages, got)))
                figures["rate"].append((reports.done - done) / args.seconds)
                for c in [context] + [c for c, _, _ in more]:
                    c.close()
                time.sleep(1.5)
                cpu, done = server.cpu_seconds(), reports.done
                reports.run(args.seconds)
                figures["cpu_none"].append(100 * (server.cpu_seconds() - cpu) / args.seconds)
                figures["rate_none"].append((reports.done - done) / args.seconds)
                if args.list_jobs:
                    context = browser.new_context(viewport={"width": 1024, "height": 900})
                    page = context.new_page()
                    started = time.monotonic()
                    page.goto(f"{server.url}/ui/?workspace=bench")
                    page.wait_for_function(
                        "(n) => document.querySelectorAll('#jobs tbody tr').length === 20 &&"
                        " document.querySelector('[data-count=active]').textContent === n",
                        arg=str(args.list_jobs // 10), timeout=30000)
                    figures["list"].append(time.monotonic() - started)
                    expect(page.locator("#jobs tbody td").nth(1)).not_to_have_text("—")
                    context.close()
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in figures.items() if v),
                      flush=True)
            browser.close()
    finally:
        server.stop()
    med = {k: statistics.median(v) for k, v in figures.items() if v}
    which = f"the page of {args.old_page}, " if OLD else ""
    print(f"\n{which}{args.tasks:,} tasks, medians of {args.rounds} rounds; PUTs {med['rate']:.0f}/s "
          f"({reports.failed} refused)")
    print(f"job page shown (counts + 200 rows): {med['show']:.2f} s")
    if "find" in med:
        print(f"search to its one row:              {med['find']:.2f} s")
        print(f"report off the page -> counts:      {med['counts']:.2f} s")
    print(f"report on a shown task -> its row:  {med['row']:.2f} s")
    # A shared machine does not keep the pace: the rate differs between windows, so the
    # CPU is also compared per report, and one page's share scaled to `--rate` reports/s.
    share = [(a - b) / args.pages for a, b in zip(figures["cpu_page"], figures["cpu_none"])]
    scaled = [args.rate * (a / ra - b / rb) / args.pages for a, b, ra, rb in zip(
        figures["cpu_page"], figures["cpu_none"], figures["rate"], figures["rate_none"]) if ra and rb]
    per_report = statistics.median(b / r for b, r in zip(figures["bytes"], figures["rate"]) if r)
    print(f"bytes per second, one open page:    {med['bytes'] / 1024:.1f} KiB/s "
          f"({per_report:.0f} B per report: {per_report * args.rate / 1024:.1f} KiB/s at {args.rate}/s)")
    print(f"server CPU, load with {args.pages} pages open:  {med['cpu_page']:.1f} % of a core "
          f"({med['rate']:.0f} PUTs/s)")
    print(f"server CPU, load without them:      {med['cpu_none']:.1f} % of a core "
          f"({med['rate_none']:.0f} PUTs/s)")
    print(f"  one page's share: {statistics.median(share):.1f} % of a core (rounds: "
          f"{', '.join(f'{x:.1f}' for x in share)}); per report, at {args.rate}/s: "
          f"{statistics.median(scaled):.1f} % (rounds: {', '.join(f'{x:.1f}' for x in scaled)})")
    if "list" in med:
        print(f"list page of {args.list_jobs:,} jobs, first 20 rows and counts: {med['list']:.2f} s")


if __name__ == "__main__":
    main()
