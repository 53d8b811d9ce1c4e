"""Start the real service under gunicorn on 127.0.0.1 for tests that need processes."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, db_path: Path, log_path: Path, workers: int = 4, env: dict | None = None):
        self.db_path, self.log_path, self.workers = db_path, log_path, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "JOBS_DB": str(db_path),
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            # What the server leaves in the temporary folder (a killed one cannot tidy up)
            # stays in the test's own folder.
            "TMPDIR": str(log_path.parent),
            **(env or {}),
        }
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "Server":
        """Started once it answers and every worker has booted: a signal that reaches a
        worker still booting is lost, and its stop would wait for the timeout."""
        self._log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log()}")
            try:
                requests.get(self.url + "/apis/jobs/v2/workspaces/ws/jobs/probe", timeout=1)
                if self._booted() >= self.workers:
                    return self
                time.sleep(0.05)
            except (requests.ConnectionError, requests.Timeout):
                # Not listening yet, or too slow to answer on a busy machine: ask again.
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer in {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _booted(self) -> int:
        with open(self.log_path, "rb") as log:
            log.seek(self._log_from)
            return log.read().count(b"] Worker ready (pid: ")

    def kill(self) -> None:
        """SIGKILL the master and every worker at once (they share a process group)."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def running(db_path: Path, log_path: Path, **kwargs):
    server = Server(db_path, log_path, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()
