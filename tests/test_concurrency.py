"""Racing writers against a real gunicorn with several workers on one new database file."""

import collections
import sqlite3
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .conftest import platform_spec
from .server import running

pytestmark = pytest.mark.slow

TARGETS = ["completed", "error", "cancelled"] * 16  # 48 requests, three rival outcomes
TASK = "/apis/jobs/v2/workspaces/ws/jobs/j1/steps/train/tasks/t0"


@pytest.fixture
def server(tmp_path):
    with running(tmp_path / "race.db", tmp_path / "gunicorn.log", workers=4) as server:
        created = requests.post(server.url + "/apis/jobs/v2/workspaces/ws/jobs", timeout=10,
                                json={"name": "j1", "platform_spec": platform_spec("train")})
        assert created.status_code == 201
        assert requests.put(server.url + TASK, json={"status": "active"}, timeout=10).ok
        yield server
    assert "Traceback" not in server.log()
    assert "database is locked" not in server.log()


def race(url: str, bodies: list[dict], headers: dict | None = None) -> list[requests.Response]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(lambda b: requests.put(url, json=b, headers=headers, timeout=30),
                             bodies))


def stored_task(server) -> dict:
    with sqlite3.connect(server.db_path) as conn:
        conn.row_factory = sqlite3.Row
        return dict(conn.execute("SELECT * FROM tasks WHERE name = 't0'").fetchone())


def test_one_status_wins_a_race_of_48_moves(server):
    responses = race(server.url + TASK, [{"status": t} for t in TARGETS])

    outcomes = collections.Counter((r.status_code, t) for r, t in zip(responses, TARGETS))
    winners = {t for (code, t) in outcomes if code == 200}
    assert len(winners) == 1, outcomes
    [winner] = winners
    for response, target in zip(responses, TARGETS):
        if target == winner:  # the first move, then same-status retries: all accepted
            assert response.status_code == 200 and response.json()["status"] == winner
        else:
            assert response.status_code == 422, response.text
            assert response.json()["detail"][0]["type"] == "invalid_transition"
    row = stored_task(server)
    assert row["status"] == winner
    assert row["db_version"] == 1 + TARGETS.count(winner)


def test_with_if_match_exactly_one_request_wins(server):
    responses = race(server.url + TASK, [{"status": t} for t in TARGETS],
                     headers={"If-Match": '"1"'})
    codes = collections.Counter(r.status_code for r in responses)
    assert codes[200] == 1 and codes[412] + codes[422] == len(TARGETS) - 1, codes
    [winner] = [r.json() for r in responses if r.status_code == 200]
    row = stored_task(server)
    assert (row["status"], row["db_version"]) == (winner["status"], 2)


def test_racing_results_of_one_name_leave_one_and_the_rest_409(server):
    url = server.url + "/apis/jobs/v2/workspaces/ws/jobs/j1/results/model"
    bodies = [{"artifact_storage_type": "fileset", "artifact_url": f"fileset://ws/j1/m{i}.bin"}
              for i in range(24)]
    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(lambda b: requests.post(url, json=b, timeout=30), bodies))
    codes = collections.Counter(r.status_code for r in responses)
    assert codes == {201: 1, 409: 23}, codes
    [winner] = [r.json() for r in responses if r.status_code == 201]
    assert requests.get(url, timeout=10).json() == winner


def test_racing_log_appends_keep_every_line(server):
    url = server.url + "/apis/jobs/v2/workspaces/ws/jobs/j1/logs"
    batches = [{"data": [{"job_step": "train", "job_task": f"w{b}", "message": f"{b}-{i}"}
                         for i in range(50)]} for b in range(16)]
    with ThreadPoolExecutor(len(batches)) as pool:
        responses = list(pool.map(lambda b: requests.post(url, json=b, timeout=30), batches))
    assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
    seen, cursor = [], ""
    while True:
        page = requests.get(url, params={"limit": 97, "page_cursor": cursor}, timeout=10).json()
        seen += [line["message"] for line in page["data"]]
        cursor = page["next_page"]
        if not cursor:
            break
    assert sorted(seen) == sorted(f"{b}-{i}" for b in range(16) for i in range(50))
    assert page["total"] == 800
