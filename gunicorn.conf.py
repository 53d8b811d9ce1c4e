"""gunicorn settings, read from the environment so one file serves every deployment."""

import glob
import os
import shutil
import sys
import tempfile

# Importing app.config costs nothing more: server_errors below imports the app package too.
from app import config as _config  # "config" would be a gunicorn setting

try:
    _settings = _config.gunicorn_settings()
except _config.ConfigError as exc:
    # gunicorn would print a traceback for an error while reading this file.
    print(f"cannot start: {exc}", file=sys.stderr)
    raise SystemExit(1) from None
bind = _settings["bind"]
workers = _settings["workers"]
worker_class = _settings["worker_class"]
if worker_class == "gevent":
    # psycopg picks how it waits for the server when first imported, and this master imports
    # it (on_starting) before any worker patches for gevent: its default would then block a
    # worker's every greenlet. select.poll, which gevent makes cooperative, does not.
    os.environ.setdefault("PSYCOPG_WAIT_FUNC", "wait_poll")
    # gunicorn imports its gevent worker in this master anyway; nothing is patched here.
    import time
    from functools import partial

    import gevent
    from gevent.event import Event
    from gevent.pool import Pool
    from gevent.server import StreamServer
    from gunicorn.workers.ggevent import GeventWorker

    class PromptGeventWorker(GeventWorker):
        """gunicorn's gevent worker looks at its stop flag once a second, and once a second
        again while its last requests finish: each stop or restart waited up to two seconds
        for nothing. This one starts to stop when the signal comes, and exits as soon as its
        last request is answered; graceful_timeout still bounds that wait."""

        _stopping = None  # made in the worker, after the fork

        def handle_exit(self, sig, frame):
            super().handle_exit(sig, frame)  # alive = False
            if self._stopping is not None:
                self._stopping.set()  # no switch: safe in a signal handler

        def run(self):
            # gunicorn 27's GeventWorker.run, its sleeps woken by the signal; for what this
            # service does not configure (TLS, the pywsgi server class), gunicorn's own.
            if self.cfg.is_ssl or self.server_class is not None:
                return super().run()
            self._stopping = Event()
            servers = []
            for listener in self.sockets:
                listener.setblocking(1)
                server = StreamServer(listener, handle=partial(self.handle, listener),
                                      spawn=Pool(self.worker_connections))
                if self.cfg.workers > 1:
                    server.max_accept = 1
                server.start()
                servers.append(server)
            while self.alive:
                self.notify()
                self._stopping.wait(1.0)
            for server in servers:
                server.close()  # no new connections
            ends = time.monotonic() + self.cfg.graceful_timeout
            while time.monotonic() < ends:
                if all(s.pool.free_count() == s.pool.size for s in servers):
                    return
                self.notify()
                gevent.sleep(0.05)
            self.log.warning("Worker graceful timeout (pid:%s)", self.pid)
            for server in servers:
                server.stop(timeout=1)

        def init_process(self):
            super().init_process()  # returns when run() does: the worker has stopped
            self.stopped = True

    worker_class = PromptGeventWorker
worker_connections = _settings["worker_connections"]
threads = _settings["threads"]
timeout = _settings["timeout"]
accesslog = _settings["accesslog"]  # e.g. "-"; the app logs each request anyway
# gunicorn 27's runtime control socket lives at one per-user path; several servers on one
# host (tests, blue/green) would fight over it, and nothing here uses it.
control_socket_disable = True
# No preload: each worker imports the app itself, so no connection ever crosses a fork.
preload_app = False

# Malformed HTTP that gunicorn answers itself gets JSON too, not gunicorn's HTML page.
from app import server_errors  # noqa: E402

server_errors.install()

# Workers share their Prometheus counts through files in this folder; it must be set before
# any worker imports prometheus_client, and start empty so old counts do not leak in. A folder
# made here is named after the master's pid, removed when the master exits, and swept at the
# next start if a killed master could not remove it.
_OWN_PREFIX = f"jobs-metrics-{os.getpid()}-"


def _sweep_metrics_dirs_of_dead_masters() -> None:
    for path in glob.glob(os.path.join(tempfile.gettempdir(), "jobs-metrics-*-*")):
        pid = os.path.basename(path).split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _sweep_metrics_dirs_of_dead_masters()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_OWN_PREFIX)


def on_starting(server):
    """Check the tokens and execution profiles files and apply migrations once, in the
    master, before any worker serves: a bad file stops the whole server here, with its
    reason."""
    from app.auth import load_grants, warn_if_off
    from app.db import check_at_start, describe, migrate
    from app.faults import classify
    from app.profiles import load_profiles

    try:
        settings = _config.from_environment()
        if settings["JOBS_AUTH_TOKENS"]:
            load_grants(settings["JOBS_AUTH_TOKENS"])
        if settings["JOBS_EXECUTION_PROFILES"]:
            load_profiles(settings["JOBS_EXECUTION_PROFILES"])
    except _config.ConfigError as exc:
        _refuse(server, str(exc))

    metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    shutil.rmtree(metrics_dir, ignore_errors=True)
    try:
        os.makedirs(metrics_dir, exist_ok=True)
    except OSError as exc:
        _refuse(server, f"PROMETHEUS_MULTIPROC_DIR={metrics_dir}: cannot make the folder: "
                        f"{exc.strerror}")

    target = settings["JOBS_DB"]
    problem = check_at_start(target)
    if problem:
        _refuse(server, problem)
    warn_if_off(settings, server.log)  # here, once per start; workers do not repeat it
    try:
        applied = migrate(target)
    except Exception as exc:
        fault = classify(exc)
        if fault is None:
            raise
        # The database may come back (PostgreSQL restarting, a lock released): start, answer
        # 503 meanwhile, and let the workers migrate once they can.
        server.log.error("database %s: %s (%s); answering 503 until it is fixed",
                         describe(target), fault.detail, fault.cause)
        return
    server.log.info("database %s ready (%d migration(s) applied)", describe(target), len(applied))


def post_worker_init(worker):
    """Each worker runs the reconciler's thread; the one holding the lease does the work
    (app/reconciler.py). On SIGTERM, a worker ends its event streams and long-polls before
    gunicorn waits for its requests to finish: otherwise a restart waits out every stream."""
    import signal

    from app import reconciler, watch

    app = worker.wsgi
    reconciler.start(app.config, app.extensions.get("jobs_profiles"))

    # A waiting request holds a greenlet under gevent, a thread under gthread, and the
    # whole process under sync: app/watch.py caps how many may wait by it.
    # gunicorn names our gevent class by its class name; "sync" with threads is "gthread".
    kind = "gevent" if _settings["worker_class"] == "gevent" else worker.cfg.worker_class_str
    watch.THREADS = {"gevent": None, "gthread": worker.cfg.threads}.get(kind, 1)
    stop = worker.handle_exit

    def handle_exit(sig, frame):
        watch.close_all()
        stop(sig, frame)

    signal.signal(signal.SIGTERM, handle_exit)
    worker.log.info("Worker ready (pid: %s)", worker.pid)


def worker_exit(server, worker):
    """The worker has finished its requests: close its idle database connections (the
    server then sees a clean goodbye), and, after a stop, exit at once."""
    # No app: the worker failed while booting.
    pool = getattr(getattr(worker, "wsgi", None), "extensions", {}).get("jobs_db")
    if pool is not None:
        pool.close()
    if getattr(worker, "stopped", False):
        _exit_now()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _refuse(server, reason: str) -> None:
    """Stop before any worker starts, in one line, leaving nothing behind."""
    server.log.error("cannot start: %s", reason)
    on_exit(server)
    raise SystemExit(1)


def on_exit(server):
    """Remove the metrics folder this master made (never one the operator named)."""
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if os.path.basename(metrics_dir).startswith(_OWN_PREFIX):
        shutil.rmtree(metrics_dir, ignore_errors=True)
    _skip_the_last_collection()


def _exit_now() -> None:
    """Exit 0 as a stopped worker does, without the interpreter's teardown, as forked
    children of multiprocessing do: its last garbage collections walk every object of the
    app (0.3-1 s of CPU per worker, more than all else a stop does) to free memory the
    exit frees anyway. What is registered to run at exit runs; the streams are flushed."""
    import atexit

    atexit._run_exitfuncs()  # logging's shutdown among them
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _skip_the_last_collection() -> None:
    """The master is about to exit: its last garbage collections would walk every object
    it imported (0.3-0.6 s of CPU) to free memory the exit frees anyway."""
    import gc

    gc.freeze()
