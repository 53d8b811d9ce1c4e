"""The dashboard's pages as the server sends them (no browser): routes, escaping, headers,
assets served from the package, and a weight budget."""

import configparser
import fnmatch
import hashlib
import json
import re
from pathlib import Path

import pytest

from app import create_app
from app.db import migrate

from .conftest import platform_spec

APP = Path(__file__).resolve().parent.parent / "app"
ASSETS = sorted(p for folder in ("templates/ui", "static/ui") for p in (APP / folder).iterdir())
JOB_PAGE = "/ui/workspaces/team-a/jobs/train-llm"


@pytest.mark.parametrize("url, status, holds", [
    ("/ui/", 200, ['data-workspace="default"', 'data-page="1"', 'data-statuses=""']),
    ("/ui/?workspace=team-a&status=active&status=error&status=bogus&page=3", 200,
     ['data-workspace="team-a"', 'data-statuses="active,error"', 'data-page="3"',
      'value="active" checked', 'value="error" checked', 'value="paused">']),
    ("/ui/?workspace=%20&page=-2", 200, ['data-workspace="default"', 'data-page="1"']),
    ("/ui/?page=1000000000", 200, ['data-page="1"']),
    (JOB_PAGE, 200, ['data-workspace="team-a"', 'data-name="train-llm"']),
    ("/ui/?workspace=Team-A", 200, ["data-bad-name", 'aria-invalid="true"',
                                     "&#39;Team-A&#39; is not a valid workspace name. Name must"]),
    ("/ui/workspaces/Team-A/jobs/train-llm", 404,
     ["Not found", "&#39;Team-A&#39; is not a valid workspace name. Name must"]),
    ("/ui/workspaces/team-a/jobs/a--b", 404,
     ["Not found", "&#39;a--b&#39; is not a valid job name. Name must"]),
    ("/ui/workspaces/team-a/jobs/train-llm/steps", 404, ["Not found"]),
    ("/ui/no/such/page", 404, ["Not found"]),
])
def test_pages(client, url, status, holds):
    response = client.get(url)
    assert (response.status_code, response.mimetype) == (status, "text/html")
    for text in holds:
        assert text in response.get_data(as_text=True)


def test_a_valid_workspace_carries_no_name_rule(client):
    page = client.get("/ui/?workspace=team-a").get_data(as_text=True)
    assert "data-bad-name" not in page and "name-rule" not in page


def test_the_job_pages_buttons_start_off_and_carry_the_servers_rules(client):
    """Off until the job is read; which apply is then up to the page (tests/test_ui.py)."""
    page = client.get(JOB_PAGE).get_data(as_text=True)
    buttons = re.findall(r'<button type="button" data-action="(\w+)"([^>]*)>', page)
    assert [action for action, _ in buttons] == ["cancel", "pause", "resume", "rerun"]
    assert all(attrs.endswith(" disabled") and 'data-when="' in attrs for _, attrs in buttons)


def test_ui_without_a_slash_redirects(client):
    assert client.get("/ui").status_code == 308


def test_values_from_the_url_are_escaped(client):
    hostile = '"><script>alert(1)</script>'
    body = client.get("/ui/", query_string={"workspace": hostile}).get_data(as_text=True)
    assert "<script>alert" not in body and "&#34;&gt;&lt;script&gt;" in body


@pytest.mark.parametrize("url", ["/ui/", JOB_PAGE, "/ui/nowhere", "/ui/static/core.js"])
def test_every_ui_answer_forbids_inline_script_and_foreign_sources(client, url):
    with client.get(url) as response:
        headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    assert "unsafe-inline" not in policy
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("url", ["/ui/", JOB_PAGE])
def test_everything_a_page_loads_is_served_here(client, url):
    page = client.get(url).get_data(as_text=True)
    assets = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/ui/static/") for a in assets)
    for asset in assets:
        with client.get(asset) as response:
            assert response.status_code == 200 and response.data, asset
    assert "<script>" not in page and " style=" not in page  # nothing inline


@pytest.mark.parametrize("path", ASSETS, ids=lambda p: p.name)
def test_no_asset_reaches_outside_the_service(path):
    text = path.read_text()
    assert not re.search(r"(https?:)?//[a-z0-9]", text.replace("://{workspace}", "")), path.name


def test_the_job_page_stays_light(client):
    """HTML, CSS and JS of the job page, uncompressed (the big job's controls, the feed
    and per-row history took it from 27 to 41 KB)."""
    page = client.get(JOB_PAGE).data
    total = len(page)
    for asset in re.findall(r'(?:src|href)="(/ui/static/[^"]+)"', page.decode()):
        with client.get(asset) as response:
            total += len(response.data)
    assert total < 44 * 1024, total


def test_the_package_ships_every_page_and_asset():
    config = configparser.ConfigParser()
    config.read(APP.parent / "setup.cfg")
    patterns = config["options.package_data"]["app"].split()
    for path in ASSETS:
        relative = path.relative_to(APP).as_posix()
        assert any(fnmatch.fnmatch(relative, p) for p in patterns), relative


def test_with_tokens_on_pages_come_without_one_and_carry_no_data(tmp_path):
    token = "w-0123456789"
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{
        "principal": "bob", "sha256": hashlib.sha256(token.encode()).hexdigest(),
        "workspaces": ["team-a"], "role": "writer"}]}))
    migrate(str(tmp_path / "jobs.db"))
    client = create_app({"JOBS_DB": str(tmp_path / "jobs.db"), "JOBS_AUTH_TOKENS": str(tokens),
                         "TESTING": True}).test_client()
    created = client.post("/apis/jobs/v2/workspaces/team-a/jobs", headers={
        "Authorization": f"Bearer {token}"}, json={
        "name": "secret-job", "description": "classified", "platform_spec": platform_spec("s1")})
    assert created.status_code == 201
    listing = client.get("/ui/?workspace=team-a")
    assert listing.status_code == 200 and "secret-job" not in listing.get_data(as_text=True)
    job = client.get("/ui/workspaces/team-a/jobs/secret-job")
    assert job.status_code == 200 and "classified" not in job.get_data(as_text=True)
    assert client.get("/apis/jobs/v2/workspaces/team-a/jobs").status_code == 401


@pytest.mark.parametrize("url", [
    "/ui/static/nope.js", "/ui/static/../ui.py", "/ui/static/..%2f..%2fui.py", "/ui/%00",
    "/ui/workspaces/" + "a" * 5000 + "/jobs/b", "/ui/?page=%ff&status=%00&workspace=%c0",
    "/ui/workspaces/team-a/jobs/%E2%80%AE", "/ui/static/",
])
def test_nothing_under_ui_is_a_server_error(client, url):
    with client.get(url) as response:
        assert response.status_code in (200, 404), response.status_code
        assert b"Traceback" not in response.data and b"ui.py" not in response.data
