"""The dashboard end to end: headless Chromium against a real gunicorn.

One browser and one server per module; each test works in its own workspace, so none sees
another's jobs. Waits are Playwright's (they poll the page), bounded by the 2 s the
dashboard promises for live changes. Log lines and results reach the page the way workers
send them, through the service's own endpoints, with artifact files under the server's
JOBS_ARTIFACTS_DIR.
"""

import hashlib
import itertools
import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from .conftest import EXECUTOR
from .server import running

sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
expect = sync_api.expect
pytestmark = pytest.mark.slow

LIVE_MS = 2000  # what workers report shows within this, without a reload
_workspaces = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ui")
    with running(folder / "jobs.db", folder / "gunicorn.log", workers=2,
                 env={"JOBS_ARTIFACTS_DIR": str(folder / "artifacts")}) as server:
        server.artifacts = folder / "artifacts"
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

    def __init__(self, server, workspace: str, token: str | None = None):
        self.url, self.artifacts, self.ws = server.url, server.artifacts, workspace
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def api(self, *parts: str) -> str:
        return "/".join([self.url, "apis/jobs/v2/workspaces", self.ws, "jobs", *parts])

    def create_job(self, name: str, steps=("prep", "train"), executors=None, **extra) -> dict:
        """`executors`: step name -> executor, for steps that run elsewhere than locally."""
        body = {"name": name, "platform_spec": {"steps": [
            {"name": s, "executor": (executors or {}).get(s, EXECUTOR)}
            for s in steps]}, **extra}
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

    def append_logs(self, job, *messages: str, step="train", task="worker-0", at=None) -> None:
        """`at(n)`: the n-th line's timestamp (by default, when it arrives)."""
        for start in range(0, len(messages), 1000):  # the most one append takes
            lines = [{"job_step": step, "job_task": task, "message": m,
                      **({"timestamp": at(start + n)} if at else {})}
                     for n, m in enumerate(messages[start:start + 1000])]
            response = requests.post(self.api(job, "logs"), json={"data": lines},
                                     headers=self.headers, timeout=30)
            assert response.status_code == 201, response.text

    def create_result(self, job, name, path: str, content: bytes) -> dict:
        """A worker's result: the file written under JOBS_ARTIFACTS_DIR, then recorded."""
        file = self.artifacts / self.ws / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(content)
        response = requests.post(self.api(job, "results", name), headers=self.headers, timeout=10,
                                 json={"artifact_storage_type": "fileset",
                                       "artifact_url": f"fileset://{self.ws}/{path}"})
        assert response.status_code == 201, response.text
        return response.json()

    def act(self, job, action) -> None:
        response = requests.post(self.api(job, action), headers=self.headers, timeout=10)
        assert response.status_code == 200, response.text

    def list_page(self) -> str:
        return f"{self.url}/ui/?workspace={self.ws}"

    def job_page(self, name) -> str:
        return f"{self.url}/ui/workspaces/{self.ws}/jobs/{name}"


@pytest.fixture
def service(server):
    return Service(server, f"ws-{next(_workspaces)}")


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
    # No lines and no results yet: quiet empty states, no error.
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
    """The buttons follow the server's rules, so a refusal comes from a page behind the
    job: here it saw the job completed, then (its feed held empty) another caller reran
    it and started a step."""
    service.create_job("busy", steps=("prep",))
    service.move_step("busy", "prep", "active")
    service.move_step("busy", "prep", "completed")
    page.route("**/jobs/busy/events?**", lambda route: route.fulfill(json={
        "data": [], "next": parse_qs(urlsplit(route.request.url).query)["after"][0]}))
    page.goto(service.job_page("busy"))
    expect(page.locator("#job-status")).to_have_text("completed")
    service.act("busy", "rerun")
    service.move_step("busy", "prep", "active")
    refusal = requests.post(service.api("busy", "rerun"), timeout=10)  # writes nothing
    assert refusal.status_code == 422
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Rerun").click()
    expect(page.locator("#action-said")).to_have_text(refusal.json()["detail"][0]["msg"])
    assert service.job("busy")["status"] == "active"


# How to bring a job of steps prep and train to a status, as workers and controllers do.
SCENARIOS = {
    "created": [],
    "active": [("move", "prep", "active")],
    "paused": [("act", "pause")],
    "pausing": [("move", "prep", "active"), ("act", "pause")],
    "resuming": [("act", "pause"), ("act", "resume")],
    "cancelling": [("move", "prep", "active"), ("act", "cancel")],
    "cancelled": [("act", "cancel")],
    "error": [("move", "prep", "active"), ("move", "prep", "error")],
    "completed": [("move", step, status) for step in ("prep", "train")
                  for status in ("active", "completed")],
}
ACTIONS = ("cancel", "pause", "resume", "rerun")


def bring(service, job, moves) -> None:
    service.create_job(job)
    for kind, *args in moves:
        service.move_step(job, *args) if kind == "move" else service.act(job, *args)


def state(service, job) -> tuple:
    """What an action can change: the attempt, the job's status and its steps'."""
    tree = requests.get(service.api(job, "status"), timeout=10).json()
    return (service.job(job)["attempt_id"], tree["status"],
            [(s["name"], s["status"]) for s in tree["steps"]])


def test_a_button_is_on_exactly_when_its_action_changes_the_job(page, service):
    """Against what the server does: for each status, a copy of the job per action gets it
    through the API; the action applies when it is accepted and changes the job or a step
    (resuming a pausing job's paused step leaves the job pausing)."""
    for status, moves in SCENARIOS.items():
        applies = set()
        for action in ACTIONS:
            bring(service, f"{status}-{action}", moves)
            before = state(service, f"{status}-{action}")
            assert before[1] == status
            answer = requests.post(service.api(f"{status}-{action}", action), timeout=10)
            if answer.status_code == 200 and state(service, f"{status}-{action}") != before:
                applies.add(action)
        bring(service, status, moves)
        page.goto(service.job_page(status))
        expect(page.locator("#job-status")).to_have_text(status)
        for action in ACTIONS:
            button = page.locator(f"[data-action={action}]")
            (expect(button).to_be_enabled if action in applies else expect(button).to_be_disabled)()
        enabled = {a for a in ACTIONS if page.locator(f"[data-action={a}]").is_enabled()}
        assert enabled == applies, (status, enabled)
    # The case that once reported "Resume: the job is now created." as a success.
    page.goto(service.job_page("created"))
    expect(page.get_by_role("button", name="Cancel")).to_be_enabled()
    expect(page.get_by_role("button", name="Resume")).to_be_disabled()


def test_a_job_deleted_while_open_says_so_and_stops_polling(page, service):
    service.create_job("fleeting")
    calls = []
    page.on("request", lambda r: calls.append(r.url) if "/apis/" in r.url else None)
    page.goto(service.job_page("fleeting"))
    expect(page.get_by_role("button", name="Cancel")).to_be_enabled()
    assert requests.delete(service.api("fleeting"), timeout=10).status_code == 204
    expect(page.locator("#problem")).to_have_text(
        f"There is no job 'fleeting' in workspace '{service.ws}'.", timeout=LIVE_MS)
    expect(page.locator("#live")).to_have_text("Stopped · reload to look again")
    expect(page.locator("[data-action]:enabled")).to_have_count(0)
    settled = len(calls)
    page.wait_for_timeout(3000)  # three polls' worth, and a return to the tab
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_timeout(300)
    assert calls[settled:] == []


RULE = ("Name must start with a lowercase letter, be 2-63 characters of lowercase letters, "
        "digits and '-@.+_', with no '--' and no trailing '-'.")


def test_a_name_that_does_not_fit_shows_the_rule(page, service):
    calls = []
    page.on("request", lambda r: calls.append(r.url) if "/apis/" in r.url else None)
    page.goto(service.list_page())
    expect(page.locator("#page-of, #empty").first).to_be_attached()
    page.get_by_label("Workspace").fill("Team_A")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#name-rule")).to_have_text(f"'Team_A' is not a valid workspace name. {RULE}")
    expect(page.get_by_label("Workspace")).to_have_attribute("aria-invalid", "true")
    asked = len(calls)
    page.wait_for_timeout(1500)
    assert all("/Team_A/" not in url for url in calls) and len(calls) == asked
    page.goto(f"{service.url}/ui/workspaces/{service.ws}/jobs/Train-LLM")
    expect(page.locator("#name-rule")).to_have_text(f"'Train-LLM' is not a valid job name. {RULE}")
    page.goto(f"{service.url}/ui/workspaces/ws--x/jobs/train")
    expect(page.locator("#name-rule")).to_have_text(f"'ws--x' is not a valid workspace name. {RULE}")


def test_the_job_page_shows_each_steps_executor_and_the_attempt(page, service):
    executor = {"provider": "gpu", "profile": "a100",
                "container": {"image": "nvcr.io/nvidia/nemo:24.09"}}
    service.create_job("tuned", executors={"train": executor})
    page.goto(service.job_page("tuned"))
    expect(page.locator(".step .exec")).to_have_text([
        'Executor: cpu · container {"image":"python:3.11"}',
        'Executor: gpu · profile a100 · container {"image":"nvcr.io/nvidia/nemo:24.09"}'])
    attempt = page.locator(".meta dt", has_text="Attempt").locator("xpath=following-sibling::dd[1]")
    expect(attempt).to_have_text("1")
    service.act("tuned", "cancel")
    service.act("tuned", "rerun")
    expect(attempt).to_have_text("2", timeout=LIVE_MS)
    service.act("tuned", "cancel")
    service.act("tuned", "rerun")
    expect(attempt).to_have_text("3", timeout=LIVE_MS)
    expect(page.locator(".step .exec")).to_have_count(2)


def test_the_api_docs_page_loads_with_its_tags_and_authorize(page, server):
    page.goto(server.url + "/docs/")
    expect(page.locator(".opblock-tag")).to_contain_text(
        ["jobs", "steps", "tasks", "history", "logs", "results", "execution profiles"],
        timeout=10000)
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()


HOSTILE = "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=1</script>"


def test_what_clients_report_is_shown_as_text_never_markup(page, service):
    service.create_job("evil", steps=("train",), description=HOSTILE)
    service.put_task("evil", "train", "worker-0", {
        "status": "error", "status_details": {"note": HOSTILE}, "error_details": {HOSTILE: 1},
        "error_stack": HOSTILE})
    service.append_logs("evil", HOSTILE, f"{HOSTILE} again")
    page.goto(service.job_page("evil"))
    expect(page.locator("#logs")).to_contain_text(f"train/worker-0 {HOSTILE}\n")
    expect(page.locator("#logs")).to_contain_text(f"train/worker-0 {HOSTILE} again")
    page.locator("summary").click()
    for shown in (page.locator(".meta"), page.locator(".step .kv").first,
                  page.locator(".kv.bad"), page.locator(".stack")):
        expect(shown).to_contain_text(HOSTILE)
    # A line appended while the page is open goes in the same way.
    service.append_logs("evil", f"live {HOSTILE}")
    expect(page.locator("#logs")).to_contain_text(f"live {HOSTILE}", timeout=LIVE_MS)
    assert page.locator("#main img, #main script").count() == 0
    assert page.evaluate("window.pwned") is None


def test_a_result_links_only_to_this_services_own_download_path(page, service):
    """The service never answers such a result (artifact URLs follow a strict grammar and
    download_url is its own path), so this one is played to the page: if some proxy or
    future change did, the URL would still be text and no link would lead elsewhere."""
    service.create_job("odd", steps=("train",))
    result = {"name": "weights", "job": "odd", "workspace": service.ws, "project": "",
              "artifact_storage_type": "fileset", "artifact_url": HOSTILE,
              "created_at": "2026-11-28T17:00:00Z", "updated_at": "2026-11-28T17:00:00Z"}
    played = {"data": [{**result, "name": name, "download_url": url} for name, url in [
        ("script", "javascript:window.pwned=1"), ("elsewhere", "https://example.com/apis/x"),
        ("not-the-api", "/ui/"), ("broken", "http://[")]]}
    page.route("**/jobs/odd/results", lambda route: route.fulfill(json=played))
    page.goto(service.job_page("odd"))
    expect(page.locator("#results li")).to_have_count(4)
    expect(page.locator("#results li").first).to_contain_text(HOSTILE)
    assert page.locator("#results a, #main img, #main script").count() == 0
    assert page.evaluate("window.pwned") is None


def log_reads(page) -> list:
    """Every answer to the page's log reads, as they come."""
    answers = []
    page.on("response", lambda r: answers.append(r) if "/logs?" in r.url else None)
    return answers


def query(response) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(response.url).query).items()}


def test_log_lines_a_worker_appends_show_within_two_seconds_without_a_reload(page, service):
    service.create_job("chatty", steps=("train",))
    service.append_logs("chatty", "loading data", "epoch 1 loss=0.91", task="worker-0")
    answers = log_reads(page)
    page.goto(service.job_page("chatty"))
    logs = page.locator("#logs")
    expect(logs).to_have_text(re.compile(r"^[\d:]+ train/worker-0 loading data\n"
                                         r"[\d:]+ train/worker-0 epoch 1 loss=0\.91$"))
    expect(page.locator("#no-logs")).to_be_hidden()
    page.evaluate("window.stillTheSamePage = true")
    service.append_logs("chatty", "epoch 2 loss=0.72", task="worker-1")
    expect(logs).to_contain_text("train/worker-1 epoch 2 loss=0.72", timeout=LIVE_MS)
    service.append_logs("chatty", "epoch 3 loss=0.55", task="worker-0")
    expect(logs).to_have_text(re.compile(r"loss=0\.72\n[\d:]+ train/worker-0 epoch 3 loss=0\.55$"),
                              timeout=LIVE_MS)
    assert page.evaluate("window.stillTheSamePage") is True
    # While nothing is appended, a poll is a 304 with no lines in it.
    since = len(answers)
    for _ in range(50):
        if any(r.status == 304 for r in answers[since:]):
            break
        page.wait_for_timeout(100)
    assert [r.status for r in answers[since:]][:1] == [304]
    # A rerun starts a new attempt, whose logs start empty.
    service.act("chatty", "cancel")
    service.act("chatty", "rerun")
    expect(page.locator("#no-logs")).to_be_visible(timeout=LIVE_MS)
    service.append_logs("chatty", "attempt 2 begins")
    expect(logs).to_have_text(re.compile(r"^[\d:]+ train/worker-0 attempt 2 begins$"),
                              timeout=LIVE_MS)


def test_a_long_log_shows_its_newest_lines_and_polls_stay_small(page, service):
    """2,500 lines: two full pages, then a last page of 500 that is trimmed so that later
    polls ask from a cursor 200 lines from the end."""
    service.create_job("long", steps=("train",))
    at = lambda n: f"2026-11-28T17:{n // 60 % 60:02d}:{n % 60:02d}.{n:06d}Z"  # noqa: E731
    service.append_logs("long", *(f"line {n}" for n in range(2500)), at=at)
    answers = log_reads(page)
    page.goto(service.job_page("long"))
    logs = page.locator("#logs")
    expect(logs).to_contain_text("train/worker-0 line 2499")
    shown = logs.inner_text().split("\n")
    assert len(shown) == 200 and shown[0].endswith(" line 2300"), shown[:2]
    # The walk from the start, the last page of 500 trimmed, then the newest 200 again.
    reads = [(query(r).get("page_cursor", ""), query(r)["limit"], len(r.json()["data"]))
             for r in answers[:5]]
    assert [read[1:] for read in reads] == [
        ("1000", 1000), ("1000", 1000), ("1000", 500), ("300", 300), ("1000", 200)]
    cursors = [read[0] for read in reads]
    assert cursors[0] == "" and cursors[3] == cursors[2] and len(set(cursors)) == 4
    # New lines (stamped after the last) come on the poll of that last short page, which
    # later polls ask for again and again from the same cursor.
    service.append_logs("long", *(f"new {n}" for n in range(3)), at=lambda n: at(2500 + n))
    expect(logs).to_contain_text("train/worker-0 new 2", timeout=LIVE_MS)
    shown = logs.inner_text().split("\n")
    assert len(shown) == 200 and shown[0].endswith(" line 2303") and shown[-1].endswith(" new 2")
    later = answers[5:]
    assert later and {query(r)["page_cursor"] for r in later} == {cursors[4]}
    assert all(r.status == 304 or len(r.json()["data"]) <= 400 for r in later)


def test_a_result_shows_within_two_seconds_and_downloads_its_bytes(page, service):
    service.create_job("trained", steps=("train",))
    page.goto(service.job_page("trained"))
    expect(page.locator("#no-results")).to_be_visible()
    content = bytes(range(256)) * 300 + b"\x00end"  # not text, not a round size
    service.create_result("trained", "weights", "trained/checkpoints/model.bin", content)
    item = page.locator("#results li")
    expect(item).to_contain_text("weights Download", timeout=LIVE_MS)
    expect(item.locator("code")).to_have_text(
        f"fileset://{service.ws}/trained/checkpoints/model.bin")
    link = item.get_by_role("link", name="Download")
    expect(link).to_have_attribute(
        "href", f"/apis/jobs/v2/workspaces/{service.ws}/jobs/trained/results/weights/download")
    with page.expect_download() as saved:
        link.click()
    assert saved.value.suggested_filename == "model.bin"
    assert Path(saved.value.path()).read_bytes() == content


def test_a_missing_job_says_so_without_data(page, service):
    page.goto(service.job_page("ghost"))
    expect(page.locator("#problem")).to_have_text(f"There is no job 'ghost' in workspace '{service.ws}'.")
    expect(page.locator(".step")).to_have_count(0)


def test_a_job_page_with_mixed_statuses_fits_1024_pixels(page, service):
    """Also what `docs/dashboard.png` shows (with log lines and a result, sent as workers
    send them): JOBS_UI_SCREENSHOT=<path> saves the picture."""
    service.ws = "team-a"  # the name docs/dashboard.md's picture shows
    gpus = {"provider": "gpu", "profile": "a100-x4",
            "container": {"image": "nvcr.io/nvidia/nemo:24.09"}}
    service.create_job("train-llm", steps=("prepare", "train", "evaluate"),
                       description="Fine-tune a 7B model on the support tickets",
                       executors={"train": gpus, "evaluate": gpus})
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
    for task, lines in [
            ("download", ["fetched 120 files (14.2 GiB) from fileset team-a/support-tickets"]),
            ("tokenize", ["48,000,000 tokens written to shards 0-15"]),
            ("worker-0", ["epoch 1 step 1200 loss=0.631 lr=2.0e-5", "epoch 2 step 2400 loss=0.455",
                          "epoch 3 step 3600 loss=0.412"]),
            ("worker-3", ["torch.OutOfMemoryError: CUDA out of memory on GPU 3 (79.2 GiB in use)"])]:
        step = "prepare" if task in ("download", "tokenize") else "train"
        service.append_logs("train-llm", *lines, step=step, task=task)
    service.create_result("train-llm", "checkpoint-epoch-2",
                          "train-llm/checkpoints/epoch-2.safetensors", b"weights" * 1000)
    page.goto(service.job_page("train-llm"))
    expect(page.locator(".tasks tbody tr")).to_have_count(6)
    expect(page.locator("#logs")).to_contain_text("GPU 3")
    expect(page.locator("#results li")).to_contain_text("checkpoint-epoch-2")
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
                 env={"JOBS_AUTH_TOKENS": str(tokens),
                      "JOBS_ARTIFACTS_DIR": str(folder / "artifacts")}) as server:
        server.artifacts = folder / "artifacts"
        Service(server, "team-a", TOKENS["writer-a"]).create_job("secret-job")
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


def test_with_tokens_on_a_download_is_fetched_with_the_bearer_token(page, guarded):
    """A plain link cannot carry the header (the service would answer 401), so the page
    fetches the bytes with it and saves them; a refusal shows the service's words."""
    worker = Service(guarded, "team-a", TOKENS["writer-a"])
    content = os.urandom(100_003)
    made = worker.create_result("secret-job", "weights", "secret-job/model.safetensors", content)
    worker.create_result("secret-job", "gone", "secret-job/gone.bin", b"soon deleted")
    (guarded.artifacts / "team-a" / "secret-job" / "gone.bin").unlink()
    assert requests.get(guarded.url + made["download_url"], timeout=10).status_code == 401
    page.goto(f"{guarded.url}/ui/workspaces/team-a/jobs/secret-job")
    give_token(page, TOKENS["reader-a"])
    weights = page.locator("#results li", has_text="weights")
    with page.expect_download() as saved:
        weights.get_by_role("link", name="Download").click()
    assert saved.value.suggested_filename == "model.safetensors"
    assert Path(saved.value.path()).read_bytes() == content
    page.locator("#results li", has_text="gone").get_by_role("link", name="Download").click()
    expect(page.locator("#action-said")).to_have_text(
        "Download failed: The artifact of result 'gone' for job 'secret-job' is not there.")


def test_the_list_counts_each_status_and_cancels_the_matching_jobs_after_a_confirmation(
        page, service):
    for n in range(3):
        service.create_job(f"sweep-{n}", steps=("only",))
    service.move_step("sweep-1", "only", "active")
    service.create_job("done", steps=("only",))
    service.move_step("done", "only", "active")
    service.move_step("done", "only", "completed")
    page.goto(service.list_page() + "&status=created&status=active")
    count = page.locator("[data-count]")
    expect(page.locator("[data-count=created]")).to_have_text("2")
    expect(page.locator("[data-count=active]")).to_have_text("1")
    expect(page.locator("[data-count=completed]")).to_have_text("1")
    expect(page.locator("[data-count=error]")).to_have_text("0")
    assert count.count() == 10
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.dismiss() if len(asked) == 1 else dialog.accept()

    page.on("dialog", answer)
    button = page.get_by_role("button", name="Cancel matching")
    button.click()  # dismissed: nothing happens
    expect(page.locator("#bulk-said")).to_be_hidden()
    assert service.job("sweep-0")["status"] == "created"
    button.click()
    assert asked == [f"Cancel 3 jobs (created, active) in '{service.ws}'?"] * 2
    expect(page.locator("#bulk-said")).to_have_text(
        "Cancel matching: 3 cancelled, 0 unchanged, 0 refused.")
    assert [service.job(f"sweep-{n}")["status"] for n in range(3)] == [
        "cancelled", "cancelling", "cancelled"]
    assert service.job("done")["status"] == "completed"
    expect(page.locator("[data-count=cancelled]")).to_have_text("2", timeout=LIVE_MS)
    expect(button).to_be_disabled(timeout=LIVE_MS)  # no job is created or active any more


def test_without_a_status_ticked_there_is_no_cancel_matching(page, service):
    service.create_job("alpha", steps=("only",))
    page.goto(service.list_page())
    expect(page.locator("[data-count=created]")).to_have_text("1")
    expect(page.get_by_role("button", name="Cancel matching")).to_have_count(0)
