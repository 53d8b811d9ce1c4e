"""The job page on a big job, end to end: 20,000 tasks in one step beside two small ones,
seeded into the database before gunicorn starts, watched in headless Chromium. The page
must show counts and a progress bar, at most 200 rows, find, filter, page and sort through
the API, and show a worker's report within 2 s by following the job's change feed."""

import random
import sqlite3
import time

import pytest
import requests

from app import create_app
from app.db import migrate

from .conftest import platform_spec
from .server import running

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
expect = sync_api.expect
pytestmark = pytest.mark.slow

WS, JOB, BIG = "team-a", "sweep", "evaluate"
TASKS = 20_000
SHOW_MS, FIND_MS, LIVE_MS = 2000, 1000, 2000  # what the page promises
# Statuses by task number: counted below by the same rule.
STATUS = lambda n: ("error" if n % 20 == 0 else "active" if n % 20 == 1  # noqa: E731
                    else "pending" if n % 20 == 2 else "completed")


def seed(db_path, workspace=WS, job=JOB, tasks=TASKS, status=STATUS) -> None:
    """The job through the API (its steps, events and history as any job's), then the big
    step's tasks as rows, in a shuffled order so that creation order is not name order."""
    migrate(str(db_path))
    client = create_app({"JOBS_DB": str(db_path), "TESTING": True}).test_client()
    api = f"/apis/jobs/v2/workspaces/{workspace}/jobs"
    assert client.post(api, json={"name": job, "platform_spec": platform_spec(
        "prepare", BIG, "report")}).status_code == 201
    for step, names in (("prepare", ["download", "tokenize"]), ("report", ["summary"])):
        for name in names:
            assert client.put(f"{api}/{job}/steps/{step}/tasks/{name}",
                              json={"status": "completed"}).status_code == 200
    order = list(range(tasks))
    random.Random(7).shuffle(order)
    at = "2026-12-01T10:00:00.000000Z"
    with sqlite3.connect(db_path) as db:
        step_id, project = db.execute(
            "SELECT s.id, s.project FROM steps s JOIN jobs j ON s.attempt_id = j.attempt_id "
            "WHERE j.workspace = ? AND j.name = ? AND s.name = ?", (workspace, job, BIG)).fetchone()
        db.executemany(
            "INSERT INTO tasks (id, step_id, workspace, project, name, status, status_details,"
            " error_details, error_stack, created_at, created_by, updated_at, updated_by,"
            " db_version) VALUES (?, ?, ?, ?, ?, ?, '{}', '{}', '', ?, NULL, ?, NULL, 1)",
            [(f"task-{n:032x}", step_id, workspace, project, f"shard-{n:05d}", status(n), at, at)
             for n in order])


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui-big")
    seed(folder / "jobs.db")
    with running(folder / "jobs.db", folder / "gunicorn.log", workers=2) as server:
        yield server


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    crashes = []
    page.on("pageerror", lambda error: crashes.append(error))
    page.asked = []  # the API reads the page made
    page.on("request", lambda r: page.asked.append(r.url.split("/jobs/sweep", 1)[-1])
            if "/apis/" in r.url else None)
    page.goto(f"{server.url}/ui/workspaces/{WS}/jobs/{JOB}")
    page.server = server
    yield page
    context.close()
    assert crashes == [], "the page's script failed"


def big(page):
    return page.locator(".step", has=page.locator("h3", has_text=BIG))


def names(step) -> list[str]:
    return step.locator("tbody th").all_inner_texts()


def put(server, task, body, step=BIG) -> None:
    response = requests.put(f"{server.url}/apis/jobs/v2/workspaces/{WS}/jobs/{JOB}/steps/{step}"
                            f"/tasks/{task}", json=body, timeout=10)
    assert response.status_code == 200, response.text


def test_the_page_shows_counts_a_bar_and_200_rows(page):
    step = big(page)
    expect(step.locator(".counts")).to_have_text(
        "1,000 pending · 1,000 active · 1,000 error · 17,000 completed", timeout=SHOW_MS)
    expect(step.locator("progress")).to_have_attribute("value", "18000")
    expect(step.locator("progress")).to_have_attribute("max", str(TASKS))
    expect(step.locator(".progress")).to_contain_text("18,000 of 20,000 finished (90%)")
    expect(step.locator(".range")).to_have_text("1–200 of 20,000", timeout=SHOW_MS)
    assert step.locator("tbody tr").count() == 200
    assert page.locator("tbody tr").count() == 203  # and the small steps' three
    expect(page.locator(".step", has=page.locator("h3", has_text="prepare")).locator(".counts")
           ).to_have_text("2 completed")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    # Never the whole tree nor a whole task list: the tree without tasks once, then the feed.
    page.wait_for_timeout(1500)
    assert [a for a in page.asked if a.startswith("/status")] == ["/status?tasks=none"]
    tasks = [a for a in page.asked if "/tasks" in a]
    assert tasks and all("page_size=200" in a for a in tasks), tasks
    assert any(a.startswith("/events?after=") for a in page.asked)


def test_an_expired_cursor_lists_again(page):
    """A 410 cursor_expired (events no longer kept) makes the page read the tree again."""
    step = big(page)
    expect(step.locator(".range")).to_have_text("1–200 of 20,000", timeout=SHOW_MS)
    expired = {"detail": [{"type": "cursor_expired", "loc": ["query", "after"], "msg": "gone"}]}
    answered = []

    def once(route):
        answered.append(route.request.url)
        route.fulfill(status=410, json=expired) if len(answered) == 1 else route.continue_()

    page.route("**/jobs/sweep/events?**", once)
    put(page.server, "shard-00001", {"status_details": {"note": "ends the waiting ask"}})
    for _ in range(50):
        if page.asked.count("/status?tasks=none") >= 2:
            break
        page.wait_for_timeout(100)
    assert page.asked.count("/status?tasks=none") == 2
    expect(step.locator(".range")).to_have_text("1–200 of 20,000")
    expect(step.locator(".counts")).to_have_text(
        "1,000 pending · 1,000 active · 1,000 error · 17,000 completed")
    page.wait_for_timeout(1500)  # and it watches again, from the new cursor
    assert page.asked.count("/status?tasks=none") == 2 and len(answered) >= 2


def test_search_finds_a_task_by_name_within_a_second(page):
    step = big(page)
    expect(step.locator(".range")).to_have_text("1–200 of 20,000", timeout=SHOW_MS)
    started = time.monotonic()
    step.get_by_role("searchbox", name="Find a task").fill("shard-12345")
    expect(step.locator("tbody th")).to_have_text(["shard-12345"], timeout=FIND_MS)
    print(f"found in {time.monotonic() - started:.2f} s")
    step.get_by_role("searchbox").fill("shard-1234")  # part of a name: ten of them
    expect(step.locator("tbody tr")).to_have_count(10, timeout=FIND_MS)
    step.get_by_role("searchbox").fill("no_such%")  # the API's wildcards, matched literally
    expect(step.locator(".quiet", has_text="No task matches.")).to_be_visible(timeout=FIND_MS)


def test_a_status_control_filters_next_pages_and_name_sorts(page):
    step = big(page)
    expect(step.locator(".range")).to_have_text("1–200 of 20,000", timeout=SHOW_MS)
    step.get_by_role("button", name="error", exact=True).click()
    expect(step.locator(".range")).to_have_text("1–200 of 1,000", timeout=FIND_MS)
    assert set(step.locator("tbody td:nth-child(2)").all_inner_texts()) == {"error"}
    expect(step.get_by_role("button", name="error", exact=True)).to_have_attribute("aria-pressed", "true")
    step.get_by_role("button", name="Next →").click()
    expect(step.locator(".range")).to_have_text("201–400 of 1,000", timeout=FIND_MS)
    step.get_by_label("Sort by").select_option("name")
    expect(step.locator("tbody th").first).to_have_text("shard-00000", timeout=FIND_MS)
    expect(step.locator(".range")).to_have_text("1–200 of 1,000")
    assert names(step)[:3] == ["shard-00000", "shard-00020", "shard-00040"]
    step.get_by_role("button", name="error", exact=True).click()  # off again: every task
    expect(step.locator(".range")).to_have_text("1–200 of 20,000", timeout=FIND_MS)
    step.get_by_label("Sort by").select_option("-name")
    expect(step.locator("tbody th").first).to_have_text("shard-19999", timeout=FIND_MS)
    step.get_by_role("button", name="Next →").click()
    expect(step.locator("tbody th").first).to_have_text("shard-19799", timeout=FIND_MS)
    step.get_by_role("button", name="← Previous").click()
    expect(step.locator(".range")).to_have_text("1–200 of 20,000", timeout=FIND_MS)


def test_a_report_moves_the_counts_and_its_row_within_two_seconds(page, server):
    step = big(page)
    expect(step.locator(".range")).to_have_text("1–200 of 20,000", timeout=SHOW_MS)
    step.get_by_label("Sort by").select_option("name")
    expect(step.locator("tbody th").first).to_have_text("shard-00000", timeout=FIND_MS)
    # Off the page: only the counts show it.
    put(server, "shard-19981", {"status": "completed"})  # was active
    expect(step.locator(".counts")).to_have_text(
        "1,000 pending · 999 active · 1,000 error · 17,001 completed", timeout=LIVE_MS)
    expect(step.locator(".progress")).to_contain_text("18,001 of 20,000 finished")
    # On the page: its row too.
    put(server, "shard-00002", {"status": "active", "status_details": {"epoch": 4}})
    row = step.locator("tbody tr", has=page.locator("th", has_text="shard-00002"))
    expect(row.locator("td:nth-child(2)")).to_have_text("active", timeout=LIVE_MS)
    expect(row.locator(".kv")).to_have_text("epoch: 4")
    # Its history when asked for (never the whole job's: past one page, it is read per row).
    row.get_by_role("button", name="Show history").click()
    expect(row.get_by_role("list", name="History of task shard-00002").locator(".st")).to_have_text(
        ["active"], timeout=LIVE_MS)
    expect(step.locator(".counts")).to_have_text(
        "999 pending · 1,000 active · 1,000 error · 17,001 completed")
    # A new task past the shown page (by name): counted in the total, no page read.
    reads = []
    page.on("request", lambda r: reads.append(r.url) if "/tasks?" in r.url else None)
    put(server, "zz-late", {"status": "active"})
    expect(step.locator(".range")).to_have_text("1–200 of 20,001", timeout=LIVE_MS)
    page.wait_for_timeout(1200)  # a tick's worth
    assert reads == []
    # A new task under a filter it fits joins the page.
    step.get_by_role("button", name="pending", exact=True).click()
    expect(step.locator(".range")).to_have_text("1–200 of 999", timeout=FIND_MS)
    put(server, "shard-00000a", {"status": "pending"})
    expect(step.locator("tbody th").first).to_have_text("shard-00000a", timeout=LIVE_MS)
    expect(step.locator(".range")).to_have_text("1–200 of 1,000")
