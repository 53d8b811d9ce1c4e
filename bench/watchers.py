"""Watchers: PUT throughput with N open watchers beside none, server memory per watcher,
and how long an event takes from its write to each watcher.

    .venv/bin/python bench/watchers.py --watchers 1000                  # SQLite, one host
    .venv/bin/python bench/watchers.py --watchers 1000 --backend postgresql
    .venv/bin/python bench/watchers.py --worker-class gthread --threads 1100   # the other model

With `--backend postgresql` (a local server, fsync on) two hosts serve one database: the
watchers are on the second, while wrk and the probe write through the first, so the delays
are those of an event from one host to the watchers of another.

One client process (asyncio, plain sockets on 127.0.0.1) opens N watchers, half Server-Sent
Events streams and half long-polls (`wait=60`, re-asked as each answers), spread over
`--jobs` jobs `probe-K` (scripts each waiting for their job; `--jobs 1`: all on one). While
wrk drives the PUT mix of bench/run.py at the service, the client writes to the next probe
job every PROBE_SECONDS and times each of that job's watchers' arrival of the event. Rounds
alternate none / N watchers; medians are printed.
"""

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.request import Request, urlopen

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: gunicorn, seeding, wrk)

PROBE_SECONDS = 0.1
WS = "bench"


def rss_kib(server) -> int:
    """Resident memory of the master and its workers, KiB."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            if int(entry) != server.process.pid and parent != server.process.pid:
                continue
            with open(f"/proc/{entry}/status") as f:
                total += next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue
    return total


def call(url: str, method: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=30) as answer:
        return json.loads(answer.read() or b"{}")


class Watchers:
    """N watchers on one asyncio loop in a thread; `arrivals` collects (sent mark, delay)."""

    def __init__(self, base: str, count: int, jobs: int):
        self.host, self.port = base.split("//")[1].split(":")
        self.count, self.open, self.jobs = count, 0, jobs
        self.delays: list[float] = []
        self.sent: dict[str, float] = {}
        self.loop = asyncio.new_event_loop()
        self.stopping = False
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.tasks = [asyncio.run_coroutine_threadsafe(self._one(i), self.loop)
                      for i in range(count)]

    def _seen(self, event: dict) -> None:
        """The delay from the event's commit (its `at`, this host's clock) to its arrival."""
        mark = (event.get("object") or {}).get("status_details", {}).get("mark")
        if mark in self.sent:
            at = datetime.strptime(event["at"], "%Y-%m-%dT%H:%M:%S.%fZ")
            self.delays.append(time.time() - at.replace(tzinfo=timezone.utc).timestamp())

    async def _request(self, path: str, stream: bool):
        reader, writer = await asyncio.open_connection(self.host, int(self.port), limit=1 << 22)
        accept = "text/event-stream" if stream else "application/json"
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n"
                     f"Connection: close\r\n\r\n".encode())
        await writer.drain()
        return reader, writer

    async def _one(self, i: int) -> None:
        base = path = f"/apis/jobs/v2/workspaces/{WS}/jobs/probe-{i % self.jobs}/events"
        stream = (i // self.jobs) % 2 == 0
        while not self.stopping:
            try:
                if stream:
                    reader, writer = await self._request(path, True)
                    self.open += 1
                    try:
                        while not self.stopping:
                            line = await reader.readline()
                            if not line:
                                break
                            if line.startswith(b"data: "):
                                self._seen(json.loads(line[6:]))
                    finally:
                        self.open -= 1
                        writer.close()
                else:
                    joiner = "&" if "?" in path else "?"
                    reader, writer = await self._request(f"{path}{joiner}wait=60", False)
                    self.open += 1
                    try:
                        raw = await reader.read()
                    finally:
                        self.open -= 1
                        writer.close()
                    body = raw.split(b"\r\n\r\n", 1)[1]
                    if b"chunked" in raw.split(b"\r\n\r\n", 1)[0].lower():
                        body = b"".join(body.split(b"\r\n")[1::2])
                    page = json.loads(body)
                    for event in page["data"]:
                        self._seen(event)
                    path = f"{base}?after={page['next']}"
            except (OSError, ValueError, IndexError, KeyError):
                await asyncio.sleep(0.2)
            except asyncio.CancelledError:
                return

    def stop(self) -> None:
        self.stopping = True
        for task in self.tasks:
            task.cancel()
        time.sleep(0.5)  # the cancellations run before the loop stops
        self.loop.call_soon_threadsafe(self.loop.stop)


def probe(base: str, watchers: Watchers, jobs: int, until: float, every: float) -> None:
    n = 0
    while every and time.monotonic() < until:
        url = f"{base}/apis/jobs/v2/workspaces/{WS}/jobs/probe-{n % jobs}/status-details"
        mark = f"m{n}"
        watchers.sent[mark] = time.monotonic()
        call(url, "PATCH", {"mark": mark})
        n += 1
        time.sleep(every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--probe-seconds", type=float, default=PROBE_SECONDS,
                        help="between two writes to watched jobs (0: none, idle watchers)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gevent")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    run.GUNICORN.update(workers=args.workers, worker_class=args.worker_class,
                        threads=args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="bench-watchers-"))
    pg = None
    if args.backend == "postgresql":
        from tests.pg import PostgresServer, find_bindir
        pg = PostgresServer(find_bindir(), durable=True).start()
        db = pg.create_database("bench_watch")
        run.seed_through_store(db, 100, 10)
    else:
        db = run.fresh_db(tmp, "watch")
        run.seed(db, 100, 10)
    server = run.Gunicorn("wsgi:app", db, config="gunicorn.conf.py")
    # The watchers' host: another gunicorn on the same PostgreSQL; on SQLite, the same one.
    watched = run.Gunicorn("wsgi:app", db, config="gunicorn.conf.py") if pg else server
    env = {"BENCH_JOBS": "100", "BENCH_TASKS": "10"}
    try:
        for k in range(args.jobs):
            call(f"{server.url}/apis/jobs/v2/workspaces/{WS}/jobs", "POST",
                 {"name": f"probe-{k}", "platform_spec": run.BENCH_SPEC})
        rows = {"none": [], "watchers": []}
        for _ in range(args.rounds):
            for case in ("none", "watchers"):
                before = rss_kib(watched)
                watchers = Watchers(watched.url, args.watchers if case == "watchers" else 0,
                                    args.jobs)
                deadline = time.monotonic() + 60
                while watchers.open < watchers.count and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(1)
                held = rss_kib(watched)
                opened = watchers.open
                prober = threading.Thread(target=probe, args=(
                    server.url, watchers, args.jobs, time.monotonic() + args.seconds,
                    args.probe_seconds))
                prober.start()
                figures = run.wrk_cpu(server, "mix.lua", args.seconds, env)
                prober.join()
                time.sleep(1)
                delays = sorted(watchers.delays)
                watchers.stop()
                rows[case].append({
                    "rps": figures["rps"], "cpu_us": figures["cpu_us"], "open": opened,
                    "kib_per": (held - before) / max(opened, 1),
                    "p50": delays[len(delays) // 2] * 1000 if delays else float("nan"),
                    "p99": delays[int(len(delays) * .99)] * 1000 if delays else float("nan"),
                    "deliveries": len(delays)})
                print(case, rows[case][-1], flush=True)
                time.sleep(3)  # let closed watchers end server-side
        where = "on a second host (PostgreSQL)" if pg else "on the same host (SQLite)"
        print(f"\n{run.settings()}, {args.watchers} watchers {where} (half streams, half long-polls) "
              f"over {args.jobs} jobs, "
              f"{args.rounds} interleaved rounds of {args.seconds} s; medians")
        print("| case | PUT req/s | server CPU µs per PUT | watchers open | server KiB per "
              "watcher | event p50 ms | event p99 ms |")
        print("|---|---|---|---|---|---|---|")
        for case, found in rows.items():
            med = {k: statistics.median(r[k] for r in found) for k in found[0]}
            print(f"| {case} | {med['rps']:.0f} | {med['cpu_us']:.0f} | {med['open']:.0f} | "
                  f"{med['kib_per']:.1f} | {med['p50']:.1f} | {med['p99']:.1f} |")
        none = statistics.median(r["rps"] for r in rows["none"])
        many = statistics.median(r["rps"] for r in rows["watchers"])
        print(f"PUT ratio with watchers / without: {many / none:.2f}")
    finally:
        server.stop()
        if pg:
            watched.stop()
            pg.stop()


if __name__ == "__main__":
    main()
