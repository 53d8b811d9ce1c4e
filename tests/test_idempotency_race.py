"""Requests racing with one Idempotency-Key, over real gunicorn workers on each backend: the
work is done once, and every racer gets that one answer (none a 409: a duplicate waits for
the first request and replays it)."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .conftest import platform_spec
from .server import running

pytestmark = pytest.mark.slow

JOBS = "/apis/jobs/v2/workspaces/ws/jobs"
RACERS = 16


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    if request.param == "sqlite":
        target = tmp_path / "race.db"
    else:
        postgres = request.getfixturevalue("postgres")
        target = postgres.create_database("idem_" + re.sub(r"\W", "_", request.node.name)[:40])
    with running(target, tmp_path / "gunicorn.log", workers=4) as server:
        yield server
    assert "Traceback" not in server.log()


def race(url: str, body: dict, key: str) -> list[requests.Response]:
    with ThreadPoolExecutor(RACERS) as pool:
        return list(pool.map(lambda _: requests.post(
            url, json=body, headers={"Idempotency-Key": key}, timeout=30), range(RACERS)))


def test_racing_creates_with_one_key_make_one_job_and_one_answer(server):
    answers = race(server.url + JOBS, {"name": "j1", "platform_spec": platform_spec("train")},
                   "create-race")
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == RACERS - 1
    listed = requests.get(server.url + JOBS, timeout=10).json()
    assert listed["pagination"]["total_results"] == 1


def test_racing_log_appends_with_one_key_store_the_lines_once(server):
    assert requests.post(server.url + JOBS, timeout=10, json={
        "name": "j1", "platform_spec": platform_spec("train")}).status_code == 201
    lines = [{"job_step": "train", "job_task": "t0", "message": f"m{i}"} for i in range(5)]
    answers = race(server.url + JOBS + "/j1/logs", {"data": lines}, "logs-race")
    assert {(a.status_code, a.text.strip()) for a in answers} == {(201, '{"accepted":5}')}
    page = requests.get(server.url + JOBS + "/j1/logs", params={"limit": 100}, timeout=10)
    assert [line["message"] for line in page.json()["data"]] == [f"m{i}" for i in range(5)]
