"""The dashboard end to end: headless Chromium against a real gunicorn.

One browser and one server per module; each test works in its own workspace, so none sees
another's jobs. Waits are Playwright's (they poll the page), bounded by the 2 s the
dashboard promises for live changes.
"""

import hashlib
import itertools
import json
import os
from pathlib import Path

import pytest
import requests

from .browser import launch
from .server import running

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
expect = sync_api.expect
pytestmark = pytest.mark.slow

LIVE_MS = 2000  # what workers report shows within this, without a reload
_workspaces = itertools.count(1)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui")
    with running(folder / "jobs.db", folder / "gunicorn.log", workers=2) as server:
        yield server


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1024, "height": 900})
    page = context.new_page()
    crashes = []
    page.on("pageerror", lambda error: crashes.append(error))
    yield page
    context.close()
    assert crashes == [], "the page's script failed"


class Service:
    """The JSON API of one workspace, as workers and controllers call it."""

    def __init__(self, url: str, workspace: str, token: str | None = None):
        self.url, self.ws = url, workspace
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def api(self, *parts: str) -> str:
        return "/".join([self.url, "apis/jobs/v2/workspaces", self.ws, "jobs", *parts])

    def create_job(self, name: str, steps=("prep", "train"), **extra) -> dict:
        body = {"name": name, "platform_spec": {"steps": [
            {"name": s, "executor": {"provider": "local"}} for s in steps]}, **extra}
        response = requests.post(self.api(), json=body, headers=self.headers, timeout=10)
        assert response.status_code == 201, response.text
        return response.json()

    def put_task(self, job, step, task, body) -> dict:
        response = requests.put(self.api(job, "steps", step, "tasks", task), json=body,
                                headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def move_step(self, job, step, status, **extra) -> None:
        response = requests.patch(self.api(job, "steps", step, "status"),
                                  json={"status": status, **extra}, headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text

    def job(self, name) -> dict:
        return requests.get(self.api(name), headers=self.headers, timeout=10).json()

    def list_page(self) -> str:
        return f"{self.url}/ui/?workspace={self.ws}"

    def job_page(self, name) -> str:
        return f"{self.url}/ui/workspaces/{self.ws}/jobs/{name}"


@pytest.fixture
def service(server):
    return Service(server.url, f"ws-{next(_workspaces)}")


def task_row(page, step: str, task: str):
    return page.locator(".step", has=page.locator("h3", has_text=step)).locator(
        "tbody tr", has=page.locator("th", has_text=task))


def test_a_created_job_appears_in_the_list(page, service):
    service.create_job("alpha")
    page.goto(service.list_page())
    row = page.locator("#jobs tbody tr").first
    expect(row.locator("th a")).to_have_text("alpha")
    expect(row.locator(".st")).to_have_text("created")
    expect(row.locator("td").nth(1)).to_have_text("2 created")
    # A job created while the list is open shows up first (newest first), without a reload.
    service.create_job("bravo", steps=("only",))
    expect(page.locator("#jobs tbody th a")).to_have_text(["bravo", "alpha"], timeout=LIVE_MS)
    expect(page.locator("#page-of")).to_have_text("Page 1 of 1 · 2 jobs")


def test_the_list_filters_by_status_and_pages(page, service):
    for n in range(23):
        service.create_job(f"job-{n:02d}", steps=("only",))
    service.move_step("job-05", "only", "active")
    page.goto(service.list_page() + "&status=active")
    expect(page.locator("#jobs tbody th a")).to_have_text(["job-05"])
    page.goto(service.list_page())
    expect(page.locator("#jobs tbody tr")).to_have_count(20)
    expect(page.locator("#jobs tbody th a").first).to_have_text("job-22")
    page.get_by_role("link", name="Older →").click()
    expect(page.locator("#jobs tbody th a")).to_have_text(["job-02", "job-01", "job-00"])
    expect(page.locator("#page-of")).to_have_text("Page 2 of 2 · 23 jobs")
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024


def test_the_job_page_shows_steps_in_order_with_their_tasks(page, service):
    service.create_job("train-llm", steps=("prepare", "train", "evaluate"))
    service.put_task("train-llm", "prepare", "download", {"status": "active"})
    service.put_task("train-llm", "prepare", "download", {"status": "completed"})
    service.put_task("train-llm", "train", "worker-0",
                     {"status": "error", "error_details": {"reason": "OOM"},
                      "error_stack": "Traceback ...\nMemoryError"})
    page.goto(service.job_page("train-llm"))
    expect(page.locator(".step h3")).to_have_text(["prepare", "train", "evaluate"])
    expect(task_row(page, "prepare", "download").locator(".st").first).to_have_text("completed")
    # The task's history, oldest first.
    expect(task_row(page, "prepare", "download").locator(".timeline .st")).to_have_text(
        ["active", "completed"])
    failed = task_row(page, "train", "worker-0")
    expect(failed.locator(".st").first).to_have_text("error")
    expect(failed.locator(".kv.bad")).to_have_text("reason: OOM")
    stack = failed.locator("details")
    expect(stack.locator("pre")).to_be_hidden()  # folded until asked for
    stack.locator("summary").click()
    expect(stack.locator("pre")).to_have_text("Traceback ...\nMemoryError")
    expect(page.locator(".step", has_text="evaluate")).to_contain_text("No tasks reported yet.")
    # The log and result endpoints answer 404 here: quiet empty states, no error.
    expect(page.locator("#no-logs")).to_be_visible()
    expect(page.locator("#no-results")).to_be_visible()
    expect(page.locator("#problem")).to_be_hidden()


def test_a_workers_put_shows_within_two_seconds_without_a_reload(page, service):
    service.create_job("live", steps=("train",))
    service.put_task("live", "train", "worker-0", {"status": "pending"})
    page.goto(service.job_page("live"))
    row = task_row(page, "train", "worker-0")
    expect(row.locator(".st").first).to_have_text("pending")
    page.evaluate("window.stillTheSamePage = true")
    service.put_task("live", "train", "worker-0",
                     {"status": "active", "status_details": {"epoch": 7}})
    expect(row.locator(".st").first).to_have_text("active", timeout=LIVE_MS)
    expect(row.locator(".kv").first).to_have_text("epoch: 7", timeout=LIVE_MS)
    assert page.evaluate("window.stillTheSamePage") is True
    # An open stack stays open while the page redraws around it.
    service.put_task("live", "train", "worker-0", {"status": "error", "error_stack": "boom"})
    row.locator("summary").click()
    service.put_task("live", "train", "worker-1", {"status": "active"})
    expect(task_row(page, "train", "worker-1")).to_be_visible(timeout=LIVE_MS)
    expect(row.locator("details pre")).to_have_text("boom")


def test_the_cancel_button_cancels_after_a_confirmation_with_the_keyboard(page, service):
    service.create_job("doomed")
    page.goto(service.job_page("doomed"))
    expect(page.locator("#job-status")).to_have_text("created")
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    cancel = page.get_by_role("button", name="Cancel")
    cancel.focus()
    page.keyboard.press("Enter")  # the first confirmation is declined: nothing happens
    page.wait_for_timeout(300)
    assert service.job("doomed")["status"] == "created"
    page.keyboard.press("Enter")
    expect(page.locator("#job-status")).to_have_text("cancelled", timeout=LIVE_MS)
    expect(page.locator("#action-said")).to_have_text("Cancel: the job is now cancelled.")
    assert asked == ["Cancel job 'doomed'?"] * 2
    assert service.job("doomed")["status"] == "cancelled"


def test_a_refused_action_shows_the_services_message(page, service):
    service.create_job("busy")
    service.move_step("busy", "prep", "active")
    refusal = requests.post(service.api("busy", "rerun"), timeout=10)  # writes nothing
    assert refusal.status_code == 422
    page.goto(service.job_page("busy"))
    expect(page.locator("#job-status")).to_have_text("active")
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Rerun").click()
    expect(page.locator("#action-said")).to_have_text(refusal.json()["detail"][0]["msg"])
    assert service.job("busy")["status"] == "active"


HOSTILE = "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=1</script>"


def test_what_clients_report_is_shown_as_text_never_markup(page, service):
    service.create_job("evil", steps=("train",), description=HOSTILE)
    service.put_task("evil", "train", "worker-0", {
        "status": "error", "status_details": {"note": HOSTILE}, "error_details": {HOSTILE: 1},
        "error_stack": HOSTILE})
    logs = {"data": [{"job": "evil", "job_step": "train", "job_task": "worker-0",
                      "message": HOSTILE, "timestamp": "2026-11-28T17:00:00Z"}],
            "next_page": "", "prev_page": "", "total": 1}
    results = {"data": [{"name": "weights", "job": "evil", "workspace": service.ws, "project": "",
                         "artifact_storage_type": "fileset", "artifact_url": HOSTILE,
                         "download_url": "javascript:window.pwned=1",
                         "created_at": "2026-11-28T17:00:00Z", "updated_at": "2026-11-28T17:00:00Z"}]}
    page.route("**/jobs/evil/logs?*", lambda route: route.fulfill(json=logs))
    page.route("**/jobs/evil/results", lambda route: route.fulfill(json=results))
    page.goto(service.job_page("evil"))
    expect(page.locator("#logs")).to_contain_text(HOSTILE)
    expect(page.locator("#results")).to_contain_text(HOSTILE)
    page.locator("summary").click()
    for shown in (page.locator(".meta"), page.locator(".step .kv").first,
                  page.locator(".kv.bad"), page.locator(".stack")):
        expect(shown).to_contain_text(HOSTILE)
    assert page.locator("#main img, #main script").count() == 0
    assert page.locator("#results a").count() == 0  # not this service's path: no link
    assert page.evaluate("window.pwned") is None


def test_logs_and_results_panels_read_the_shapes_of_the_contract(page, service):
    """Those endpoints live on another branch; their answers are played from the contract."""
    service.create_job("done", steps=("train",))
    line = lambda n: {"job": "done", "job_step": "train", "job_task": "worker-0",  # noqa: E731
                      "message": f"line {n}", "timestamp": f"2026-11-28T17:00:{n:02d}Z"}
    pages = {"": {"data": [line(n) for n in range(3)], "next_page": "c2", "prev_page": "", "total": 5},
             "c2": {"data": [line(n) for n in range(3, 5)], "next_page": "", "prev_page": "c1", "total": 5}}
    seen = []

    def logs(route):
        cursor = dict(p.split("=", 1) for p in route.request.url.split("?", 1)[1].split("&")).get("page_cursor", "")
        seen.append(cursor)
        route.fulfill(json=pages[cursor])

    download = f"/apis/jobs/v2/workspaces/{service.ws}/jobs/done/results/weights/download"
    results = {"data": [{"name": "weights", "job": "done", "workspace": service.ws, "project": "",
                         "artifact_storage_type": "fileset",
                         "artifact_url": f"fileset://{service.ws}/done/model.bin",
                         "download_url": download, "created_at": "2026-11-28T17:00:00Z",
                         "updated_at": "2026-11-28T17:00:00Z"}]}
    page.route("**/jobs/done/logs?*", logs)
    page.route("**/jobs/done/results", lambda route: route.fulfill(json=results))
    page.goto(service.job_page("done"))
    expect(page.locator("#logs")).to_have_text(
        "\n".join(f"2026-11-28T17:00:{n:02d}Z train/worker-0 line {n}" for n in range(5)))
    expect(page.locator("#results li")).to_contain_text(f"weights fileset://{service.ws}/done/model.bin")
    expect(page.get_by_role("link", name="Download")).to_have_attribute("href", download)
    expect(page.locator("#no-logs")).to_be_hidden()
    # Later polls ask again from the last page only, not from the start.
    for _ in range(30):
        if len(seen) >= 3:
            break
        page.wait_for_timeout(100)
    assert seen[:2] == ["", "c2"] and set(seen[2:]) == {"c2"}


def test_a_missing_job_says_so_without_data(page, service):
    page.goto(service.job_page("ghost"))
    expect(page.locator("#problem")).to_have_text(f"There is no job 'ghost' in workspace '{service.ws}'.")
    expect(page.locator(".step")).to_have_count(0)


def test_a_job_page_with_mixed_statuses_fits_1024_pixels(page, service):
    """Also what `docs/dashboard.png` shows: JOBS_UI_SCREENSHOT=<path> saves the picture."""
    service.ws = "team-a"  # the name the README's picture shows
    service.create_job("train-llm", steps=("prepare", "train", "evaluate"),
                       description="Fine-tune a 7B model on the support tickets")
    service.move_step("train-llm", "prepare", "active")
    service.put_task("train-llm", "prepare", "download", {"status": "active"})
    service.put_task("train-llm", "prepare", "download",
                     {"status": "completed", "status_details": {"files": 120}})
    service.put_task("train-llm", "prepare", "tokenize", {"status": "active"})
    service.put_task("train-llm", "prepare", "tokenize", {
        "status": "completed", "status_details": {"tokens": 48_000_000}})
    service.move_step("train-llm", "prepare", "completed")
    service.move_step("train-llm", "train", "active")
    for n, (status, details) in enumerate([
            ("active", {"epoch": 3, "loss": 0.412}), ("active", {"epoch": 3, "loss": 0.398}),
            ("paused", {"epoch": 2, "loss": 0.455})]):
        service.put_task("train-llm", "train", f"worker-{n}", {"status": "pending"})
        service.put_task("train-llm", "train", f"worker-{n}", {"status": "active"})
        service.put_task("train-llm", "train", f"worker-{n}", {"status": status, "status_details": details})
    service.put_task("train-llm", "train", "worker-3", {
        "status": "error", "error_details": {"message": "CUDA out of memory", "gpu": 3},
        "error_stack": "Traceback (most recent call last):\n  File \"train.py\", line 88, in step\n"
                       "    loss.backward()\ntorch.OutOfMemoryError: CUDA out of memory"})
    page.goto(service.job_page("train-llm"))
    expect(page.locator(".tasks tbody tr")).to_have_count(6)
    task_row(page, "train", "worker-3").locator("summary").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 1024
    if os.environ.get("JOBS_UI_SCREENSHOT"):
        page.evaluate("document.getElementById('live').textContent = 'Live'")  # no clock
        page.screenshot(path=os.environ["JOBS_UI_SCREENSHOT"], full_page=True)


TOKENS = {"writer-a": "w-a-0123456789", "reader-a": "r-a-0123456789", "writer-b": "w-b-0123456789"}
GRANTS = [("writer-a", ["team-a"], "writer"), ("reader-a", ["team-a"], "reader"),
          ("writer-b", ["team-b"], "writer")]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    """A second server with authentication on."""
    folder = tmp_path_factory.mktemp("ui-auth")
    tokens = folder / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [
        {"principal": who, "sha256": hashlib.sha256(TOKENS[who].encode()).hexdigest(),
         "workspaces": spaces, "role": role} for who, spaces, role in GRANTS]}))
    with running(folder / "jobs.db", folder / "gunicorn.log", workers=1,
                 env={"JOBS_AUTH_TOKENS": str(tokens)}) as server:
        Service(server.url, "team-a", TOKENS["writer-a"]).create_job("secret-job")
        yield server


def give_token(page, token):
    form = page.locator("#token-form")
    expect(form).to_be_visible()
    form.get_by_label("Access token").fill(token)
    form.get_by_role("button", name="Use token").click()


@pytest.mark.parametrize("token, says", [
    ("not-a-token", "That token was not accepted. The bearer token is not valid."),
    (TOKENS["writer-b"], "This token may not do that in this workspace."),
], ids=["wrong-token", "other-workspace"])
def test_with_tokens_on_a_token_that_may_not_read_sees_no_job(page, guarded, token, says):
    page.goto(f"{guarded.url}/ui/?workspace=team-a")
    expect(page.locator("#token-why")).to_have_text("This service needs an access token.")
    give_token(page, token)
    expect(page.locator("#token-why")).to_have_text(says)
    expect(page.locator("#jobs tbody tr")).to_have_count(0)
    assert "secret-job" not in page.content()
    page.goto(f"{guarded.url}/ui/workspaces/team-a/jobs/secret-job")  # the token stays in the tab
    expect(page.locator("#token-why")).to_have_text(says)
    expect(page.locator(".step")).to_have_count(0)


def test_with_tokens_on_a_reader_sees_the_job_but_may_not_act(page, guarded):
    page.goto(f"{guarded.url}/ui/workspaces/team-a/jobs/secret-job")
    give_token(page, TOKENS["reader-a"])
    expect(page.locator(".step h3")).to_have_text(["prep", "train"])
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#action-said")).to_have_text("This token may not do that in this workspace.")
    page.get_by_role("link", name="Jobs in team-a").click()
    expect(page.locator("#jobs tbody th a")).to_have_text(["secret-job"])
    page.get_by_role("button", name="Forget token").click()
    expect(page.locator("#token-form")).to_be_visible()
    expect(page.locator("#jobs tbody tr")).to_have_count(0)
