"""gunicorn's multiprocess metrics folder lives as long as its server, and no longer."""

import os

import pytest
import requests

from .server import Server

pytestmark = pytest.mark.slow


def metrics_dirs(tmp: str) -> list[str]:
    return sorted(name for name in os.listdir(tmp) if name.startswith("jobs-metrics-"))


def test_start_stop_cycles_leave_no_metrics_folder(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    for cycle in range(3):
        server = Server(tmp_path / "m.db", tmp_path / "g.log", workers=2,
                        env={"TMPDIR": str(tmp)}).start()
        assert len(metrics_dirs(tmp)) == 1  # it exists while the server runs
        server.stop()
        assert metrics_dirs(tmp) == [], f"cycle {cycle}"


def test_a_killed_servers_folder_is_swept_and_its_counts_do_not_leak(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    first = Server(tmp_path / "m.db", tmp_path / "g1.log", workers=2, env=env).start()
    for _ in range(7):
        requests.get(first.url + "/health/live")
    first.kill()
    [left] = metrics_dirs(tmp)

    second = Server(tmp_path / "m.db", tmp_path / "g2.log", workers=2, env=env).start()
    try:
        assert left not in metrics_dirs(tmp) and len(metrics_dirs(tmp)) == 1
        text = requests.get(second.url + "/metrics").text
        live = [line for line in text.splitlines()
                if line.startswith("jobs_http_requests_total") and "/health/live" in line]
        assert live == []  # the killed server's 7 requests are not counted here
    finally:
        second.stop()
    assert metrics_dirs(tmp) == []
