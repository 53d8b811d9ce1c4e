"""What broken or hostile clients send, endpoint by endpoint: every answer is a clear JSON
4xx, and nothing is written. The case ids name their category (`body-`, `type-`, `path-`,
`query-`, `header-`, `method-`, ...), so `pytest --collect-only -q tests/test_hostile.py`
counts them."""

import socket
import sqlite3

import pytest

from app import create_app
from app.db import migrate

from .conftest import platform_spec
from .server import running

W = "/apis/jobs/v2/workspaces/ws"
BODY_ENDPOINTS = {
    "create-job": ("POST", f"{W}/jobs"),
    "put-task": ("PUT", f"{W}/jobs/j1/steps/train/tasks/t0"),
    "step-status": ("PATCH", f"{W}/jobs/j1/steps/train/status"),
    "status-details": ("PATCH", f"{W}/jobs/j1/status-details"),
    "create-result": ("POST", f"{W}/jobs/j1/results/r1"),
    "append-logs": ("POST", f"{W}/jobs/j1/logs"),
}
NO_IF_MATCH = {"append-logs"}  # lines are not entities: no version to hold
# Endpoint -> {field: types it accepts}, for the wrong-type cases.
FIELDS = {
    "create-job": {"name": str, "description": str, "project": str, "source": str, "spec": dict,
                   "ownership": dict, "custom_fields": dict, "platform_spec": dict},
    "put-task": {"status": str, "status_details": dict, "error_details": dict, "error_stack": str},
    "step-status": {"status": str, "status_details": dict, "error_details": dict},
    "create-result": {"artifact_storage_type": str, "artifact_url": str},
    "append-logs": {"data": list},
}
VALID = {
    "create-job": {"name": "j2", "platform_spec": platform_spec("s1")},
    "put-task": {"status": "active"},
    "step-status": {"status": "active"},
    "status-details": {"a": 1},
    # r1 exists already, so the valid body is a 409 and writes nothing.
    "create-result": {"artifact_storage_type": "fileset", "artifact_url": "fileset://ws/j1/out"},
    "append-logs": {"data": [{"job_step": "train", "job_task": "t0", "message": "x"}]},
}
SAMPLES = [None, 1, 1.5, True, "text", [], {}]
PATH_TEMPLATES = {
    "create-job": ("POST", W.replace("ws", "{ws}") + "/jobs"),
    "get-job": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}"),
    "delete-job": ("DELETE", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}"),
    "cancel": ("POST", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/cancel"),
    "rerun": ("POST", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/rerun"),
    "status-tree": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/status"),
    "job-history": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/history"),
    "list-steps": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps"),
    "get-step": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps/{step}"),
    "step-status": ("PATCH", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps/{step}/status"),
    "list-tasks": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps/{step}/tasks"),
    "get-task": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps/{step}/tasks/{task}"),
    "put-task": ("PUT", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/steps/{step}/tasks/{task}"),
    "create-result": ("POST", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/results/{result}"),
    "list-results": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/results"),
    "get-result": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/results/{result}"),
    "download-result": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/results/{result}/download"),
    "read-logs": ("GET", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/logs"),
    "append-logs": ("POST", "/apis/jobs/v2/workspaces/{ws}/jobs/{job}/logs"),
}
BAD_SEGMENTS = {
    "upper": "Train", "digit-first": "1abc", "one-char": "a", "long-64": "a" * 64,
    "long-1000": "a" * 1000, "double-dash": "a--b", "trailing-dash": "ab-", "space": "a%20b",
    "nul": "a%00b", "newline": "a%0Ab", "control": "a%1Fb", "del": "a%7Fb", "unicode": "t%C3%A2sk",
    "emoji": "%F0%9F%94%A5ab", "percent": "a%25b", "quote": "a%22b", "semicolon": "a%3Bb",
    "encoded-slash": "a%2Fb", "dot": ".", "dot-dot": "..", "encoded-dot-dot": "%2E%2E",
    "backslash": "a%5Cb", "invalid-utf8": "a%FFb",
}
GOOD = {"ws": "ws", "job": "j1", "step": "train", "task": "t0", "result": "r1"}


def cases():
    for endpoint, (method, url) in BODY_ENDPOINTS.items():
        raw = {
            "truncated": b'{"status": "act', "trailing-comma": b'{"a": 1,}', "single-quotes":
            b"{'a': 1}", "bare-word": b"status", "nul-byte": b'{"a": "\x00"', "nan": b'{"a": NaN}',
            "infinity": b'{"a": Infinity}', "minus-infinity": b'{"a": -Infinity}',
            "bad-utf8": b'{"a": "\xff\xfe"}', "overlong-utf8": b'{"a": "\xc0\xaf"}',
            "lone-surrogate-bytes": b'{"a": "\xed\xa0\x80"}', "array": b"[]", "string": b'"x"',
            "lone-surrogate-escape": b'{"a": "\\ud800", "status_details": {"b": "x\\uDFFF"}}',
            "lone-surrogate-key": b'{"\\udc00": 1}',
            "number": b"1", "null": b"null", "true": b"true",
            "deep-40": b'{"a": ' * 40 + b"1" + b"}" * 40,
            "deep-100000": b"[" * 100000 + b"]" * 100000,
        }
        for name, body in raw.items():
            yield pytest.param(method, url, body, "application/json", None, (422,),
                               id=f"body-{name}-{endpoint}")
        if endpoint != "put-task":  # an empty PUT-task body means {}
            yield pytest.param(method, url, b"", "application/json", None, (422,),
                               id=f"body-empty-{endpoint}")
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                      "application/xml", "application/jsonx"):
            yield pytest.param(method, url, b'{"status": "active"}', ctype, None, (415,),
                               id=f"content-type-{ctype.replace('/', '_')}-{endpoint}")
        for field, accepted in FIELDS.get(endpoint, {}).items():
            for sample in SAMPLES:
                if isinstance(sample, accepted) and not isinstance(sample, bool):
                    continue
                yield pytest.param(method, url, {**VALID[endpoint], field: sample}, None, None,
                                   (422,), id=f"type-{field}-{type(sample).__name__}-{endpoint}")
        if endpoint in ("put-task", "step-status"):
            for status in ("running", "ACTIVE", "", " active", "active\n", "pending,active"):
                yield pytest.param(method, url, {"status": status}, None, None, (422,),
                                   id=f"status-{status.strip() or 'empty'}-{endpoint}")
            deep = 1
            for _ in range(40):
                deep = [deep]
            yield pytest.param(method, url, {"status": "active", "status_details": {"x": deep}},
                               None, None, (422,), id=f"deep-details-{endpoint}")
        yield pytest.param(method, url, {"status_details": {"blob": "x" * 2_000_000}}, None,
                           None, (413,), id=f"oversize-{endpoint}")
        if endpoint in NO_IF_MATCH:
            continue
        yield pytest.param(method, url, VALID[endpoint], None, {"If-Match": '"999"'},
                           (412, 404, 409), id=f"header-stale-if-match-{endpoint}")
        yield pytest.param(method, url, VALID[endpoint], None, {"If-Match": "garbage\x01"},
                           (422,), id=f"header-garbage-if-match-{endpoint}")
    for endpoint, (method, template) in PATH_TEMPLATES.items():
        for key in [k for k in GOOD if "{" + k + "}" in template]:
            for name, bad in BAD_SEGMENTS.items():
                url = template.format(**{**GOOD, key: bad})
                yield pytest.param(method, url, VALID.get(endpoint, {}), None, None,
                                   (404, 405, 422), id=f"path-{key}-{name}-{endpoint}")
    for url in (f"{W}/jobs", f"{W}/jobs/j1/steps", f"{W}/jobs/-/steps", f"{W}/jobs/j1/history"):
        for query in ("page=0", "page=-1", "page=1e3", "page=", "page=99999999999999999999",
                      "page_size=0", "page_size=1001", "page_size=x", "sort=drop%20table",
                      "filter[status]=nope", "filter[status]=,,,", "filter[zzz]=1",
                      "filter[name][$gt]=x", "filter[name][$in]=" + ",".join(["a"] * 101),
                      "filter[created_at][$gte]=yesterday", "filter[name][$like]=a%5C",
                      "filter[updated_at][$lte]=2026-01-01T00:00:00", "page=%00"):
            if "history" in url and ("sort" in query or "filter" in query):
                continue
            yield pytest.param("GET", f"{url}?{query}", None, None, None, (422,),
                               id=f"query-{query}-{url.rsplit('/', 1)[-1]}")
    for query in ("limit=0", "limit=-1", "limit=1001", "limit=x", "attempt_id=0", "attempt_id=x",
                  "attempt_id=99999999999999999999", "step_id=Bad", "task_id=a--b",
                  "page_cursor=garbage", "page_cursor=" + "a" * 1025, "page_cursor=e30.e30",
                  "limit=%00"):
        yield pytest.param("GET", f"{W}/jobs/j1/logs?{query}", None, None, None, (422,),
                           id=f"query-{query[:40]}-logs")
    for query in ("sort=name", "sort=source", "sort=drop%20table", "sort="):
        yield pytest.param("GET", f"{W}/jobs/j1/results?{query}", None, None, None, (422,),
                           id=f"query-{query}-results")
    for method, url in [("DELETE", f"{W}/jobs/j1/steps/train/tasks/t0"), ("POST", f"{W}/jobs/j1"),
                        ("PUT", f"{W}/jobs/j1"), ("PATCH", f"{W}/jobs"), ("GET", f"{W}/jobs/j1/cancel"),
                        ("PUT", f"{W}/jobs/j1/steps/train/status"), ("TRACE", f"{W}/jobs"),
                        ("DELETE", f"{W}/jobs/j1/results/r1"),
                        ("PUT", f"{W}/jobs/j1/results/r1"),
                        ("POST", f"{W}/jobs/j1/results/r1/download"),
                        ("DELETE", f"{W}/jobs/j1/logs"), ("PUT", f"{W}/jobs/j1/logs"),
                        ("POST", f"{W}/jobs/j1/results"),
                        ("POST", "/apis/jobs/v2/execution-profiles")]:
        yield pytest.param(method, url, None, None, None, (405,), id=f"method-{method}-{url[len(W):]}")
    for url in ("/nothing", "/apis", f"{W}", f"{W}/jobs/j1/steps/train/tasks/t0/x", "/admin",
                "/apis/jobs/v1/workspaces/ws/jobs", "/%2e%2e/etc/passwd"):
        yield pytest.param("GET", url, None, None, None, (404,), id=f"route-{url}")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    path = tmp_path_factory.mktemp("hostile") / "hostile.db"
    migrate(str(path))
    client = create_app({"JOBS_DB": str(path)}).test_client()
    client.post(f"{W}/jobs", json={"name": "j1", "platform_spec": platform_spec("train")})
    client.put(f"{W}/jobs/j1/steps/train/tasks/t0", json={"status": "active"})
    client.post(f"{W}/jobs/j1/results/r1", json=VALID["create-result"])
    client.post(f"{W}/jobs/j1/logs", json=VALID["append-logs"])
    return client, path


def fingerprint(path) -> tuple:
    with sqlite3.connect(path) as conn:
        return tuple(conn.execute(
            """SELECT (SELECT count(*) || ':' || total(db_version) FROM jobs),
                      (SELECT count(*) || ':' || total(db_version) FROM steps),
                      (SELECT count(*) || ':' || total(db_version) FROM tasks),
                      (SELECT count(*) FROM history),
                      (SELECT count(*) FROM results), (SELECT count(*) FROM logs)""").fetchone())


@pytest.mark.parametrize("method,url,body,content_type,headers,expected", list(cases()))
def test_hostile_input_is_a_json_4xx_that_changes_nothing(seeded, method, url, body,
                                                         content_type, headers, expected):
    client, path = seeded
    before = fingerprint(path)
    kwargs = {"headers": headers or {}}
    if isinstance(body, (bytes, str)):
        kwargs.update(data=body, content_type=content_type)
    elif body is not None:
        kwargs["json"] = body
    response = client.open(url, method=method, **kwargs)
    text = response.get_data(as_text=True)
    assert response.status_code in expected, (response.status_code, text[:300])
    assert response.mimetype == "application/json"
    assert "detail" in response.json or response.status_code == 200
    for leak in ("Traceback", "<html", "sqlite", "SELECT ", "Error:", "/work/", "site-packages"):
        assert leak not in text, leak
    assert fingerprint(path) == before


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile-http")
    with running(tmp / "h.db", tmp / "g.log", workers=2) as server:
        yield server
    assert "Traceback" not in server.log()


def raw_http(server, data: bytes) -> tuple[int, str, bytes]:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin1").split("\r\n")
    ctype = next((l.split(":", 1)[1].strip() for l in lines if l.lower().startswith("content-type")), "")
    return int(lines[0].split()[1]), ctype, body


@pytest.mark.parametrize("request_bytes,expected", [
    pytest.param(b"GET /" + b"a" * 10000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414, id="http-request-line-too-long"),
    pytest.param(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 10000 + b"\r\n\r\n", 431, id="http-header-too-long"),
    pytest.param(b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, id="http-bad-method"),
    pytest.param(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", 400, id="http-bad-version"),
    pytest.param(b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", 400, id="http-bad-header"),
    pytest.param(b"PUT /apis/jobs/v2/workspaces/ws/jobs/j1/steps/train/tasks/t0 HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, id="http-smuggling-headers"),
    pytest.param(b"GET /apis/jobs/v2/workspaces/ws/jobs/a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 422, id="http-nul-in-path"),
    pytest.param(b"GET /apis/jobs/v2/workspaces/ws/jobs/../../etc HTTP/1.1\r\nHost: x\r\n\r\n", 404, id="http-dot-segments"),
])
@pytest.mark.slow
def test_malformed_http_gets_json_from_the_server_itself(server, request_bytes, expected):
    status, ctype, body = raw_http(server, request_bytes)
    assert status == expected
    assert ctype == "application/json" and b"<html" not in body
