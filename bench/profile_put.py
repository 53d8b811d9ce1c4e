"""Where a PUT task's time goes, stage by stage, in one process. Prints a table; asserts nothing.

    python bench/profile_put.py                  # 3 rounds x 3,000 PUTs, auth on
    python bench/profile_put.py --no-auth        # as bench/run.py serves it (auth off)
    python bench/profile_put.py --json           # the same figures as one JSON object
    python bench/profile_put.py --pyinstrument   # one round under pyinstrument, call tree
                                                 # (pip install pyinstrument)

The service is made as gunicorn makes it in production: a real SQLite file seeded like
bench/run.py (100 jobs x 10 tasks), Prometheus in multiprocess mode (a fresh
PROMETHEUS_MULTIPROC_DIR) and the request log written to a file. The PUTs follow
bench/mix.lua (progress reports, legal moves, same-status retries, new tasks, illegal moves)
and go through Flask's test client.

Each stage is timed by wrapping the function that does it; a stage's figure is its own time,
without the stages nested in it (the transitions counter runs inside the store's commit, the
error answer inside Flask's dispatch). "Flask/werkzeug dispatch" is what is left of the time
inside `app.wsgi_app`: routing, request and response objects, contexts, signals, hooks'
bookkeeping. The test client's own work (building the environ) is outside every row. The
wrappers cost a little (the last lines compare with an app timed only as a whole).
"""

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from functools import wraps
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

JOBS, TASKS = 100, 10
TOKEN = "bench-token"
ROUTE = "/apis/jobs/v2/workspaces/bench/jobs/job-{}/steps/work/tasks/{}"


def mix(n: int, seed: int) -> list[tuple[str, bytes]]:
    """n (path, body) pairs drawn like bench/mix.lua draws them."""
    rng = random.Random(seed)
    half, created, out = TASKS // 2, 0, []
    for _ in range(n):
        job, roll = rng.randrange(JOBS), rng.randint(1, 100)
        if roll <= 55:
            path = ROUTE.format(job, f"task-{rng.randrange(TASKS)}")
            body = {"status_details": {"progress": rng.randint(1, 1000)}}
        elif roll <= 75:
            path = ROUTE.format(job, f"task-{rng.randrange(half)}")
            body = {"status": rng.choice(["paused", "active"])}
        elif roll <= 90:
            path = ROUTE.format(job, f"task-{rng.randrange(half, TASKS)}")
            body = {"status": "active", "status_details": {"beat": 1}}
        elif roll <= 95:
            created += 1
            path = ROUTE.format(job, f"new-{seed}-{created}")
            body = {"status": "active"}
        else:
            path = ROUTE.format(job, f"task-{rng.randrange(half, TASKS)}")
            body = {"status": "created"}
        out.append((path, json.dumps(body).encode()))
    return out


class Stages:
    """Exclusive time per stage: a stage's nested stages are subtracted from it."""

    def __init__(self):
        self.seconds = defaultdict(float)
        self._children = []
        self.on = False  # module-level functions are shared by every app in the process

    def wrap(self, name: str, fn):
        seconds, children = self.seconds, self._children

        @wraps(fn)
        def timed(*args, **kwargs):
            if not self.on:
                return fn(*args, **kwargs)
            started = time.perf_counter()
            children.append(0.0)
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                seconds[name] += elapsed - children.pop()
                if children:
                    children[-1] += elapsed

        return timed


DISPATCH = "Flask/werkzeug dispatch"
ORDER = [DISPATCH, "auth hook", "request id (before-request hook)", "JSON parsing (json_body)",
         "marshmallow load", "view glue (check_names, if_match, principal)",
         "store call (put_task)", "transitions counter (blinker, inside the commit)",
         "answer building (entity)", "error answers (5 % illegal moves)",
         "after-request: metrics", "after-request: log line, X-Request-ID",
         "teardown (connection back)"]


def instrument(app, stages: Stages) -> None:
    import app as package
    from app import api, metrics, observability, tasks

    app.wsgi_app = stages.wrap(DISPATCH, app.wsgi_app)
    # The view's decorators (app/api.py) parse and load the body by these module names.
    api.json_body = stages.wrap(ORDER[3], api.json_body)
    api.load = stages.wrap(ORDER[4], api.load)
    app.view_functions["tasks.put_task"] = stages.wrap(ORDER[5],
                                                       app.view_functions["tasks.put_task"])
    package.store.put_task = stages.wrap(ORDER[6], package.store.put_task)
    tasks.entity = stages.wrap(ORDER[8], tasks.entity)
    metrics.observe_request = stages.wrap(ORDER[10], metrics.observe_request)
    for funcs in app.before_request_funcs.values():
        funcs[:] = [stages.wrap(ORDER[2] if f is observability._start else ORDER[1], f)
                    for f in funcs]
    for funcs in app.after_request_funcs.values():
        funcs[:] = [stages.wrap(ORDER[11], f) for f in funcs]
    app.teardown_appcontext_funcs[:] = [stages.wrap(ORDER[12], f)
                                        for f in app.teardown_appcontext_funcs]
    for handlers in app.error_handler_spec[None].values():
        for exc_class, handler in handlers.items():
            handlers[exc_class] = stages.wrap(ORDER[9], handler)


def transitions_counter_wrapped(stages: Stages) -> None:
    """The counter is connected to the blinker signals in create_app: wrap it before."""
    from app import metrics

    for name in ("_accepted", "_refused"):
        setattr(metrics, name, stages.wrap(ORDER[7], getattr(metrics, name)))


def make_service(tmp: Path, auth: bool):
    from app import create_app
    from run import seed

    db = tmp / "profile.db"
    seed(db, JOBS, TASKS)
    overrides = {"JOBS_DB": str(db)}
    if auth:
        tokens = tmp / "tokens.json"
        tokens.write_text(json.dumps({"tokens": [{
            "principal": "bench", "sha256": hashlib.sha256(TOKEN.encode()).hexdigest(),
            "workspaces": ["bench"], "role": "writer"}]}))
        overrides["JOBS_AUTH_TOKENS"] = str(tokens)
    return create_app(overrides)


def drive(app, requests: list, headers: dict, stages: Stages | None = None) -> float:
    """Send the PUTs; seconds spent inside app.wsgi_app per request (test client excluded)."""
    inside = [0.0]
    wsgi = app.wsgi_app

    def timed(environ, start_response):
        started = time.perf_counter()
        try:
            return wsgi(environ, start_response)
        finally:
            inside[0] += time.perf_counter() - started

    app.wsgi_app = timed
    client = app.test_client()
    if stages:
        stages.on = True
    try:
        for path, body in requests:
            response = client.put(path, data=body, headers=headers)
            if response.status_code not in (200, 422):
                raise RuntimeError(f"{path}: {response.status_code} {response.get_data()!r}")
    finally:
        app.wsgi_app = wsgi
        if stages:
            stages.on = False
    return inside[0] / len(requests)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-auth", action="store_true", help="authentication off")
    parser.add_argument("--json", action="store_true",
                        help="print the medians as one JSON object instead of a table")
    parser.add_argument("--pyinstrument", action="store_true",
                        help="one round under pyinstrument; print its call tree")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=ROOT / "bench") as tmp:
        tmp = Path(tmp)
        # As under gunicorn.conf.py: set before prometheus_client is imported.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp / "metrics")
        os.mkdir(tmp / "metrics")
        stages = Stages()
        transitions_counter_wrapped(stages)
        # Two apps on their own databases: one instrumented, one timed only as a whole.
        (tmp / "a").mkdir()
        (tmp / "b").mkdir()
        log_fd = os.open(tmp / "requests.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        saved_stderr = os.dup(2)
        os.dup2(log_fd, 2)  # the request log goes to a file, as under a process manager
        try:
            plain = make_service(tmp / "b", not args.no_auth)
            timed = make_service(tmp / "a", not args.no_auth)
            from control_app import app as bare

            instrument(timed, stages)
            headers = {"Content-Type": "application/json"}
            if not args.no_auth:
                headers["Authorization"] = f"Bearer {TOKEN}"
            drive(plain, mix(300, 1), headers)  # warm up: imports, caches, the page cache
            drive(timed, mix(300, 1), headers)
            drive(bare, mix(300, 1), headers)
            stages.seconds.clear()

            if args.pyinstrument:
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0001)
                with profiler:
                    drive(plain, mix(args.requests, 99), headers)
                os.dup2(saved_stderr, 2)
                print(profiler.output_text(unicode=True, color=False, show_all=False))
                return

            rounds = {"per stage": [], "instrumented": [], "plain": [], "bare": []}
            for r in range(args.rounds):
                requests = mix(args.requests, 100 + r)
                stages.seconds.clear()
                runs = [("instrumented", timed), ("plain", plain), ("bare", bare)]
                for name, app in (runs if r % 2 == 0 else runs[::-1]):
                    rounds[name].append(drive(app, requests, headers,
                                              stages if app is timed else None))
                rounds["per stage"].append({k: v / args.requests
                                            for k, v in stages.seconds.items()})
        finally:
            os.dup2(saved_stderr, 2)
            os.close(log_fd)

    def median_us(values) -> float:
        return statistics.median(values) * 1e6

    if args.json:
        medians = {name: median_us([r.get(name, 0.0) for r in rounds["per stage"]])
                   for name in ORDER}
        medians.update({f"inside app.wsgi_app: {name}": median_us(rounds[name])
                        for name in ("instrumented", "plain", "bare")})
        print(json.dumps(medians))
        return
    print(f"# PUT task, in process: {args.rounds} rounds x {args.requests} PUTs (bench/mix.lua's "
          f"mix), SQLite file, multiprocess metrics, auth {'off' if args.no_auth else 'on'}\n")
    print("| stage | µs per PUT (median of rounds) |")
    print("|---|---|")
    total = 0.0
    for name in ORDER:
        us = median_us([r.get(name, 0.0) for r in rounds["per stage"]])
        total += us
        print(f"| {name} | {us:.1f} |")
    print(f"| **sum of stages** | **{total:.1f}** |")
    print(f"\ninside app.wsgi_app, medians of rounds: instrumented app "
          f"{median_us(rounds['instrumented']):.0f} µs, the same app without stage timers "
          f"(only idle ones) {median_us(rounds['plain']):.0f} µs, bare Flask route "
          f"(bench/control_app.py) {median_us(rounds['bare']):.0f} µs")


if __name__ == "__main__":
    main()
