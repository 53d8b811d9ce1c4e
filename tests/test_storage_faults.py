"""Storage faults against a real gunicorn on real storage: a full disk, read-only storage,
a write lock held by another program, a damaged file. Each answers 503 with its cause,
readiness says so while it lasts, nothing acknowledged is lost, and the log says it once.

The tiny and read-only disks are tmpfs mounts, which need root."""

import collections
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.db import migrate

from .needs import unavailable
from .conftest import platform_spec
from .server import ROOT, Server

pytestmark = pytest.mark.slow

JOBS = "/apis/jobs/v2/workspaces/ws/jobs"
ROOT_ONLY = "storage-fault tests skipped: they mount a tmpfs, which needs root (run as root)"


@pytest.fixture
def as_root():
    if os.geteuid() != 0:
        unavailable(ROOT_ONLY)


@contextmanager
def tmpfs(path, size: str = "600k"):
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def remount(path, mode: str) -> None:
    subprocess.run(["mount", "-o", f"remount,{mode}", str(path)], check=True)


def create_job(server: Server) -> None:
    response = requests.post(server.url + JOBS, timeout=10,
                             json={"name": "j1", "platform_spec": platform_spec("s1")})
    assert response.status_code == 201, response.text


def task_url(server: Server, name: str) -> str:
    return f"{server.url}{JOBS}/j1/steps/s1/tasks/{name}"


def fault_lines(log: str, kind: str) -> tuple[list[str], list[str]]:
    began = [l for l in log.splitlines() if f"storage fault: {kind}" in l]
    cleared = [l for l in log.splitlines() if f"storage fault cleared: {kind}" in l]
    return began, cleared


def test_a_full_disk_answers_503_until_space_is_freed(as_root, tmp_path):
    # 2 MB: room for a few dozen writes (each appends several 4 KiB pages to the WAL).
    with tmpfs(tmp_path / "disk", size="2m") as disk:
        filler = disk / "filler"
        filler.write_bytes(b"\0" * 300_000)  # freed later, to end the fault
        server = Server(disk / "jobs.db", tmp_path / "g.log", workers=2).start()
        try:
            create_job(server)
            acked, codes, details = {}, collections.Counter(), set()
            with requests.Session() as session:
                for i in range(3000):
                    body = {"status": "active", "status_details": {"blob": f"{i}-" + "x" * 400}}
                    response = session.put(task_url(server, f"t{i}"), json=body, timeout=30)
                    codes[response.status_code] += 1
                    if response.status_code == 200:
                        acked[f"t{i}"] = body["status_details"]
                    elif response.status_code == 503:
                        details.add(response.json()["detail"])
                        assert int(response.headers["Retry-After"]) > 0
                    if codes[503] >= 20:
                        break
            ready_during = requests.get(server.url + "/health/ready", timeout=10)

            # Every acknowledged write is readable while the disk is still full.
            found = sum(requests.get(task_url(server, name), timeout=10).json()["status_details"]
                        == sent for name, sent in acked.items())
            counted = re.search(r'^jobs_storage_faults_total\{kind="disk_full"\} (\S+)$',
                                requests.get(server.url + "/metrics", timeout=10).text, re.M)
            filler.unlink()
            after = requests.put(task_url(server, "after"), json={"status": "active"}, timeout=30)
            ready_after = requests.get(server.url + "/health/ready", timeout=10)
        finally:
            server.stop()
        log = server.log()

    assert set(codes) == {200, 503}, codes
    assert details == {"The database's disk is full: free space on it. Nothing was written."}
    assert ready_during.status_code == 503 and ready_during.json()["database"] == "disk_full"
    assert found == len(acked) > 10
    assert counted and float(counted.group(1)) == codes[503]
    assert after.status_code == 200 and ready_after.status_code == 200
    began, cleared = fault_lines(log, "disk_full")
    assert len(began) == 1 and len(cleared) == 1, (began, cleared)
    assert "Traceback" not in log
    print(f"\ndisk full: answers {dict(codes)}; readiness during {ready_during.status_code}, "
          f"after {ready_after.status_code}; acknowledged {len(acked)}, found {found}; "
          f"log: {began + cleared}")


def test_read_only_storage_is_refused_at_start_with_one_line(as_root, tmp_path):
    with tmpfs(tmp_path / "disk") as disk:
        path = disk / "jobs.db"
        first = Server(path, tmp_path / "g1.log", workers=2).start()
        create_job(first)
        assert requests.put(task_url(first, "t0"), json={"status": "active"}).status_code == 200
        first.stop()
        remount(disk, "ro")
        refused = Server(path, tmp_path / "g2.log", workers=2)
        with pytest.raises(RuntimeError, match="exited early"):
            refused.start()
        remount(disk, "rw")
        again = Server(path, tmp_path / "g3.log", workers=2).start()
        try:
            task = requests.get(task_url(again, "t0"), timeout=10)
            write = requests.put(task_url(again, "t1"), json={"status": "active"}, timeout=10)
        finally:
            again.stop()
    lines = [l for l in refused.log().splitlines() if "cannot start" in l]
    assert len(lines) == 1 and "read-only" in lines[0] and str(disk) in lines[0], refused.log()
    assert "Traceback" not in refused.log()
    assert task.status_code == 200 and write.status_code == 200
    print(f"\nread-only storage at start: {lines[0].split('] ', 1)[-1]}")


HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()  # held until the test lets go (or ends, closing the pipe)
conn.execute("ROLLBACK")
"""
# The busy timeout the write waits out; the lock is held until the test has seen all it
# needs while held. (What is tested does not depend on the length: 10 s by default.)
LOCK_TIMEOUT_S = 2.0


def test_a_write_lock_held_past_the_timeout_by_another_program(tmp_path):
    path = tmp_path / "jobs.db"
    migrate(str(path))
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    # Started while the lock is held: starting and a fresh worker's reads never wait on it.
    server = Server(path, tmp_path / "g.log", workers=4,
                    env={"JOBS_DB_TIMEOUT_MS": str(int(LOCK_TIMEOUT_S * 1000))}).start()
    try:
        first_read = requests.get(server.url + JOBS, timeout=5)
        with ThreadPoolExecutor(2) as pool:
            sent = time.monotonic()
            write = pool.submit(requests.post, server.url + JOBS, timeout=30,
                                json={"name": "j1", "platform_spec": platform_spec("s1")})
            reads = []
            while not write.done():
                started = time.monotonic()
                reads.append((requests.get(server.url + JOBS, timeout=5).status_code,
                              time.monotonic() - started))
                time.sleep(0.5)
            refused = write.result()
        waited = time.monotonic() - sent
        ready_during = requests.get(server.url + "/health/ready", timeout=5)
        still_held = holder.poll() is None
        holder.stdin.close()  # let go
        holder.wait(30)
        created = requests.post(server.url + JOBS, timeout=30, json={
            "name": "j1", "platform_spec": platform_spec("s1")})
        ready_after = requests.get(server.url + "/health/ready", timeout=5)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
        server.stop()
    log = server.log()

    assert first_read.status_code == 200
    assert refused.status_code == 503 and "locked" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) > 0
    # The busy timeout, and no more: the lock was still held when the answer came.
    assert still_held and 0.9 * LOCK_TIMEOUT_S <= waited < LOCK_TIMEOUT_S + 5, waited
    assert reads and all(code == 200 and took < 1 for code, took in reads), reads
    assert ready_during.status_code == 503 and ready_during.json()["database"] == "locked"
    assert created.status_code == 201 and ready_after.status_code == 200
    began, cleared = fault_lines(log, "locked")
    assert len(began) == 1 and len(cleared) == 1, log
    assert "Traceback" not in log
    print(f"\nlock held past a {LOCK_TIMEOUT_S:.0f} s timeout: write answered "
          f"{refused.status_code} after {waited:.1f} s; "
          f"{len(reads)} reads meanwhile, slowest {max(t for _, t in reads) * 1000:.0f} ms; "
          f"readiness during {ready_during.status_code}, after {ready_after.status_code}; "
          f"log: {began + cleared}")


def garble_a_page(path, page: int = 3) -> None:
    with sqlite3.connect(path) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(path, "r+b") as f:
        f.seek((page - 1) * size)
        f.write(bytes((i * 37 + 11) % 256 for i in range(size)))


def test_a_damaged_file_is_never_served(tmp_path):
    path = tmp_path / "jobs.db"
    server = Server(path, tmp_path / "g1.log", workers=2).start()
    create_job(server)
    for i in range(50):
        requests.put(task_url(server, f"t{i}"), json={"status": "active",
                                                       "status_details": {"i": i}}, timeout=10)
    server.stop()
    garble_a_page(path)

    refused = Server(path, tmp_path / "g2.log", workers=2)
    with pytest.raises(RuntimeError, match="exited early"):
        refused.start()
    lines = [l for l in refused.log().splitlines() if "cannot start" in l]
    assert len(lines) == 1 and str(path) in lines[0] and "damaged" in lines[0], refused.log()
    assert "Page 3" in lines[0] or "malformed" in lines[0]  # the problem, on the same line
    assert "Traceback" not in refused.log()

    check = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "check-db"],
                           cwd=ROOT,
                           env={**os.environ, "JOBS_DB": str(path)}, capture_output=True,
                           text=True)
    assert check.returncode == 1
    assert "DAMAGED" in check.stderr and "backup" in check.stderr and ".recover" in check.stderr
    print(f"\ndamaged file: {lines[0].split('] ', 1)[-1]}\ncheck-db: {check.stderr.strip()}")


def test_a_backup_of_a_live_database_restores_and_reads(tmp_path):
    path, copy = tmp_path / "jobs.db", tmp_path / "backup.db"
    server = Server(path, tmp_path / "g1.log", workers=2).start()
    stop = threading.Event()

    def keep_writing():
        n = 0
        with requests.Session() as session:
            while not stop.is_set():
                n += 1
                session.put(task_url(server, f"t{n % 20}"), json={"status_details": {"n": n}},
                            timeout=10)

    try:
        create_job(server)
        writer = threading.Thread(target=keep_writing)
        writer.start()
        time.sleep(0.5)
        done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "backup",
                               str(copy)], cwd=ROOT, env={**os.environ, "JOBS_DB": str(path)},
                              capture_output=True, text=True)
        stop.set()
        writer.join()
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert "To restore" in done.stdout
    check = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "check-db"],
                           cwd=ROOT, env={**os.environ, "JOBS_DB": str(copy)},
                           capture_output=True, text=True)
    assert check.returncode == 0 and "ok" in check.stdout
    restored = Server(copy, tmp_path / "g2.log", workers=2).start()
    try:
        tasks = requests.get(f"{restored.url}{JOBS}/j1/steps/s1/tasks", timeout=10).json()["data"]
    finally:
        restored.stop()
    assert re.fullmatch(r"t\d+", tasks[0]["name"]) and len(tasks) >= 1
