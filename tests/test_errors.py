"""Every error is JSON in one shape: routing, bodies, path values, limits, failures."""

import pytest

from app import create_app

from .conftest import platform_spec

TASK = "/apis/jobs/v2/workspaces/ws/jobs/j1/steps/train/tasks/t0"
ENDPOINTS = [
    ("post", "/apis/jobs/v2/workspaces/{ws}/jobs"),
    ("get", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}"),
    ("get", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps/{step}"),
    ("get", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps/{step}/tasks"),
    ("get", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps/{step}/tasks/{task}"),
    ("put", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps/{step}/tasks/{task}"),
]
GOOD = {"ws": "ws", "job": "j1", "step": "train", "task": "t0"}


@pytest.fixture(autouse=True)
def job(api):
    api.create_job("j1")


def assert_json_error(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert "detail" in response.json
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "<html" not in text.lower()


@pytest.mark.parametrize("method,template", ENDPOINTS)
@pytest.mark.parametrize("bad", ["UPPER", "x", "a--b", "ends-", "a" * 64, "1abc", "a b", "-"])
def test_bad_names_in_the_path_are_422(client, method, template, bad):
    for key in [k for k in GOOD if "{" + k + "}" in template]:
        url = template.format(**{**GOOD, key: bad})
        response = getattr(client, method)(url, json={})
        assert_json_error(response, 422)
        assert response.json["detail"][0]["loc"][0] == "path"


@pytest.mark.parametrize("url", ["/nothing", "/apis/jobs/v2", "/apis/jobs/v2/workspaces/ws/nothing",
                                 TASK + "/extra"])
def test_unknown_routes_are_json_404(client, url):
    assert_json_error(client.get(url), 404)


@pytest.mark.parametrize("method,url", [("post", TASK), ("delete", TASK), ("patch", TASK),
                                        ("put", "/apis/jobs/v2/workspaces/ws/jobs")])
def test_wrong_methods_are_json_405_with_allow(client, method, url):
    response = getattr(client, method)(url, json={})
    assert_json_error(response, 405)
    assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


@pytest.mark.parametrize("body,kind", [
    (b"{", "json_invalid"),
    (b'{"status": NaN}', "json_invalid"),
    (b'{"status": Infinity}', "json_invalid"),
    (b'{"status": "\xff"}', "json_invalid"),
    (b"[]", "dict_type"),
    (b'"active"', "dict_type"),
    (b"null", "dict_type"),
    (b'{"status": null}', "null_forbidden"),
    (b'{"status": "running"}', "enum"),
    (b'{"status": 3}', "string_type"),
    (b'{"status_details": []}', "dict_type"),
    (b'{"status_details": null}', "null_forbidden"),
    (b'{"error_details": "x"}', "dict_type"),
    (b'{"error_stack": {}}', "string_type"),
])
def test_bad_task_bodies_are_422_and_write_nothing(api, client, body, kind):
    api.put_task("j1", "train", "t0", {"status": "active"})
    response = client.put(TASK, data=body, content_type="application/json")
    assert_json_error(response, 422)
    assert response.json["detail"][0]["type"] == kind
    assert response.json["detail"][0]["loc"][0] == "body"
    assert api.get_task("j1", "train", "t0").json["db_version"] == 1


def test_non_json_content_type_is_415(api, client):
    response = client.put(TASK, data="status=active",
                          content_type="application/x-www-form-urlencoded")
    assert_json_error(response, 415)
    assert api.get_task("j1", "train", "t0").status_code == 404


def test_json_without_content_type_is_read(client):
    response = client.put(TASK, data=b'{"status": "active"}')
    assert response.status_code == 200 and response.json["status"] == "active"


@pytest.mark.parametrize("content_type,status", [
    ("application/json", 200), ("application/json; charset=utf-8", 200),
    ("Application/JSON", 200), (" application/json ", 200), ("application/merge-patch+json", 200),
    ("application/jsonx", 415), ("text/json", 415), ("application/json-seq", 415),
    ("text/plain; x=application/json", 415),
])
def test_json_content_types_spelled_any_way_are_read_and_others_are_415(client, content_type,
                                                                        status):
    response = client.put(TASK, data=b'{"status": "active"}', content_type=content_type)
    assert response.status_code == status, response.get_data(as_text=True)
    if status == 415:
        assert response.json["detail"] == \
            f"Content-Type '{content_type.split(';')[0].strip().lower()}' is not supported; " \
            "send 'application/json'."


def test_body_over_the_limit_is_413(db_path):
    app = create_app({"JOBS_DB": str(db_path), "JOBS_MAX_BODY_BYTES": 1000})
    client = app.test_client()
    client.post("/apis/jobs/v2/workspaces/ws/jobs",
                json={"name": "j1", "platform_spec": platform_spec("train")})
    response = client.put(TASK, json={"status_details": {"blob": "x" * 2000}})
    assert_json_error(response, 413)
    assert client.get(TASK).status_code == 404


def test_a_database_that_cannot_be_opened_is_a_json_503(tmp_path):
    # A directory where the database file should be: SQLite cannot open it.
    app = create_app({"JOBS_DB": str(tmp_path)})
    response = app.test_client().get(TASK)
    assert_json_error(response, 503)
    assert "cannot be reached" in response.json["detail"] and str(tmp_path) not in response.text
    assert int(response.headers["Retry-After"]) > 0


def test_an_unexpected_failure_is_a_bare_json_500(tmp_path):
    app = create_app({"JOBS_DB": str(tmp_path / "x.db")})

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert_json_error(response, 500)
    assert response.json == {"detail": "Internal server error."}


def test_a_lone_surrogate_escape_is_422_and_a_pair_is_text(client, api):
    lone = client.put(TASK, content_type="application/json",
                      data=b'{"status_details": {"note": "\\ud800"}}')
    assert_json_error(lone, 422)
    assert lone.json["detail"][0]["type"] == "json_invalid"
    assert "lone surrogate" in lone.json["detail"][0]["msg"]
    assert api.get_task("j1", "train", "t0").status_code == 404  # nothing written
    pair = client.put(TASK, content_type="application/json",
                      data=b'{"status_details": {"note": "\\ud83d\\ude00"}}')
    assert pair.status_code == 200 and pair.json["status_details"] == {"note": "\U0001F600"}


@pytest.mark.parametrize("path,body", [
    ("tasks", b'{"status_details": {"note": "a\\u0000b"}}'),
    ("tasks", b'{"status_details": {"a\\u0000": 1}}'),
    ("tasks", b'{"error_stack": "\\u0000"}'),
    ("jobs", b'{"name": "j2", "description": "x\\u0000", "platform_spec": {"steps": '
             b'[{"name": "s", "executor": {"provider": "cpu", "container": {}}}]}}'),
])
def test_a_nul_character_is_422_on_every_backend(client, api, path, body):
    # PostgreSQL's text cannot hold U+0000; refusing it everywhere keeps both backends alike.
    url = TASK if path == "tasks" else "/apis/jobs/v2/workspaces/ws/jobs"
    send = client.put if path == "tasks" else client.post
    response = send(url, content_type="application/json", data=body)
    assert_json_error(response, 422)
    assert response.json["detail"][0]["type"] == "json_invalid"
    assert "NUL" in response.json["detail"][0]["msg"]
    assert api.get_task("j1", "train", "t0").status_code == 404
    assert client.get("/apis/jobs/v2/workspaces/ws/jobs/j2").status_code == 404


def test_an_escaped_backslash_before_u0000_is_just_text(client, api):
    response = client.put(TASK, content_type="application/json",
                          data=b'{"status_details": {"note": "\\\\u0000"}}')
    assert response.status_code == 200 and response.json["status_details"] == {"note": "\\u0000"}
