"""A PostgreSQL crash under load, timed: how fast service hosts say the database is down
and how fast they serve writes again once it is back. Used by tests/test_multihost.py
(which asserts bounds) and bench/pg_outage.py (which prints the figures of several runs)."""

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import requests

from .conftest import platform_spec
from .pg import PostgresServer

JOBS = "/apis/jobs/v2/workspaces/ws/jobs"


def crash(server: PostgresServer, how: str) -> None:
    """`immediate`: pg_ctl's crash-like stop; `kill-9`: SIGKILL of the postmaster alone
    (its backends notice and exit by themselves)."""
    if how == "immediate":
        server._run("pg_ctl", "-D", str(server.data), "-m", "immediate", "stop")
        return
    pid = int((server.data / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)


def restart_and_wait(server: PostgresServer) -> float:
    """Start the server again (retrying while a killed one's backends still linger) and
    return the monotonic time at which it first accepted a connection."""
    deadline = time.monotonic() + 30
    while True:
        try:
            server.pg_ctl("start", wait=False)
            break
        except subprocess.CalledProcessError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    while True:
        try:
            psycopg.connect(server.url(), connect_timeout=2).close()
            return time.monotonic()
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _writer(host: int, url: str, stop: threading.Event, log: list) -> None:
    """PUT progress to one task of its own in a loop; log (host, sent, answered, code)."""
    task = f"{url}{JOBS}/j1/steps/train/tasks/h{host}-{threading.get_ident()}"
    with requests.Session() as session:
        n = 0
        while not stop.is_set():
            n += 1
            sent = time.monotonic()
            try:
                code = session.put(task, json={"status_details": {"n": n}}, timeout=15).status_code
            except requests.RequestException as exc:
                code = type(exc).__name__
            log.append((host, sent, time.monotonic(), code))
            if code != 200:
                time.sleep(0.02)  # a client retrying at once, but not spinning


def _timed(method: str, url: str, body: dict | None = None) -> tuple[float, int]:
    sent = time.monotonic()
    code = requests.request(method, url, json=body, timeout=15).status_code
    return time.monotonic() - sent, code


def measure(server: PostgresServer, host_urls: list[str], how: str = "immediate",
            down_seconds: float = 2.0, after_seconds: float = 3.0,
            writers_per_host: int = 2) -> dict:
    """Crash the server under writes to every host, keep it down `down_seconds`, restart.

    Figures (seconds): `ready_while_down` and `put_while_down`: the slowest readiness
    answer and the slowest answer to a PUT while it is down (each host asked once, all at
    once, 0.5 s after the crash; one still pending at the restart may be a 200);
    `first_ack_after_accept`: per host, from the server accepting connections again to the
    first acknowledged PUT; `last_503_after_accept`: the latest 503 (if any) answered after
    it accepted; `codes`: every answer while the run lasted.
    """
    created = requests.post(host_urls[0] + JOBS, timeout=15, json={
        "name": "j1", "platform_spec": platform_spec("train")})
    assert created.status_code == 201, created.text
    stop, log = threading.Event(), []
    writers = [threading.Thread(target=_writer, args=(i, url, stop, log))
               for i, url in enumerate(host_urls) for _ in range(writers_per_host)]
    for writer in writers:
        writer.start()
    try:
        time.sleep(1.0)
        crash(server, how)
        crashed = time.monotonic()
        time.sleep(0.5)  # the writers meet the crash: what follows is "while down"
        # One readiness check and one PUT per host, all at once, while it stays down.
        with ThreadPoolExecutor(2 * len(host_urls)) as pool:
            ready = [pool.submit(_timed, "get", url + "/health/ready") for url in host_urls]
            put = [pool.submit(_timed, "put", url + f"{JOBS}/j1/steps/train/tasks/probe",
                               {"status": "active"}) for url in host_urls]
            time.sleep(max(0.0, crashed + down_seconds - time.monotonic()))
            accepted = restart_and_wait(server)
        ready, put = [f.result() for f in ready], [f.result() for f in put]
        time.sleep(after_seconds)
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    first_ack = []
    for i in range(len(host_urls)):
        acks = [answered for host, _, answered, code in log
                if host == i and code == 200 and answered > accepted]
        first_ack.append(round(min(acks) - accepted, 3) if acks else None)
    late_503 = [answered - accepted for _, _, answered, code in log
                if code == 503 and answered > accepted]
    codes: dict = {}
    for *_, code in log:
        codes[code] = codes.get(code, 0) + 1
    return {
        "ready_while_down": round(max(t for t, _ in ready), 3),
        "ready_codes": sorted({c for _, c in ready}),
        "put_while_down": round(max(t for t, _ in put), 3),
        "put_codes": sorted({c for _, c in put}),
        "first_ack_after_accept": first_ack,
        "last_503_after_accept": round(max(late_503), 3) if late_503 else None,
        "codes": codes,
    }
