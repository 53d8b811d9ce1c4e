"""A body over JOBS_MAX_BODY_BYTES is a 413 that writes nothing, however it is framed: with a
Content-Length (refused before reading) or chunked (no length: refused once the limit is
passed, never parsed as the prefix that fits)."""

import http.client
import json
import sqlite3
from io import BytesIO

import pytest
import requests
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from app import create_app
from app.config import DEFAULT_MAX_BODY_BYTES

from .conftest import platform_spec
from .server import running

JOBS = "/apis/jobs/v2/workspaces/ws/jobs"
TASKS = f"{JOBS}/j1/steps/train/tasks"
DETAIL = f"The body is over {DEFAULT_MAX_BODY_BYTES} bytes, the most this service accepts."


def padded(size: int) -> bytes:
    """A valid task body of exactly `size` bytes: JSON, then spaces (what a prefix cut keeps
    valid, so only the limit can refuse it)."""
    body = b'{"status": "active"}'
    return body + b" " * (size - len(body))


def one_string(size: int) -> bytes:
    """A valid task body of exactly `size` bytes that is one long string (cut, it is not JSON)."""
    head, tail = b'{"status": "active", "status_details": {"blob": "', b'"}}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


# Over by one byte, the reported 1.1 MB of padding, 2 MB of one string; at and under the limit.
OVER = {"one-byte-over": padded(DEFAULT_MAX_BODY_BYTES + 1), "padded-1100kb": padded(1_100_000),
        "string-2mb": one_string(2_000_000)}
FITS = {"at-the-limit": one_string(DEFAULT_MAX_BODY_BYTES),
        "just-under": padded(DEFAULT_MAX_BODY_BYTES - 1)}


def chunked(body: bytes, path: str, method: str = "PUT") -> Request:
    """What a server that decodes chunked bodies passes on: no CONTENT_LENGTH, and
    wsgi.input_terminated to say the stream ends where the body does."""
    environ = EnvironBuilder(path=path, method=method, content_type="application/json",
                             headers={"Transfer-Encoding": "chunked"}).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": BytesIO(body), "wsgi.input_terminated": True})
    return Request(environ)  # as it is: an environ dict would be rebuilt, with a length


@pytest.fixture
def client(db_path):
    app = create_app({"JOBS_DB": str(db_path)})
    client = app.test_client()
    assert client.post(JOBS, json={"name": "j1", "platform_spec": platform_spec("train")}
                       ).status_code == 201
    yield client
    app.extensions["jobs_db"].close()


@pytest.mark.parametrize("body", OVER.values(), ids=OVER.keys())
def test_a_chunked_body_over_the_limit_is_413_and_writes_nothing(client, body):
    response = client.open(chunked(body, f"{TASKS}/t0"))
    assert response.status_code == 413 and response.json == {"detail": DETAIL}
    assert client.get(f"{TASKS}/t0").status_code == 404


@pytest.mark.parametrize("body", OVER.values(), ids=OVER.keys())
def test_a_body_over_the_limit_by_its_length_gets_the_same_answer(client, body):
    response = client.put(f"{TASKS}/t0", data=body, content_type="application/json")
    assert response.status_code == 413 and response.json == {"detail": DETAIL}
    assert client.get(f"{TASKS}/t0").status_code == 404


@pytest.mark.parametrize("body", FITS.values(), ids=FITS.keys())
def test_a_chunked_body_within_the_limit_is_read_whole(client, body):
    response = client.open(chunked(body, f"{TASKS}/t0"))
    assert response.status_code == 200, response.json
    assert response.json["status_details"] == json.loads(body).get("status_details", {})


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_a_write_that_reads_no_body_is_413_with_one_over_the_limit(client, framing):
    body, cancel = OVER["string-2mb"], f"{JOBS}/j1/cancel"
    if framing == "chunked":
        response = client.open(chunked(body, cancel, "POST"))
    else:
        response = client.post(cancel, data=body, content_type="application/json")
    assert response.status_code == 413 and response.json == {"detail": DETAIL}
    assert client.get(f"{JOBS}/j1").json["status"] != "cancelled"


# Under gunicorn: the chunked framing is decoded by the server itself, as in production.

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("body-limit")
    with running(tmp / "b.db", tmp / "g.log", workers=2) as server:
        created = requests.post(server.url + JOBS, timeout=10,
                                json={"name": "j1", "platform_spec": platform_spec("train")})
        assert created.status_code == 201
        yield server
    assert "Traceback" not in server.log()


def put_chunked(server, path: str, body: bytes) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        pieces = (body[i:i + 65536] for i in range(0, len(body), 65536))
        connection.request("PUT", path, body=pieces, encode_chunked=True,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def task_rows(server, name: str) -> list:
    with sqlite3.connect(server.db_path) as conn:
        return conn.execute("SELECT name FROM tasks WHERE name = ?", (name,)).fetchall()


@pytest.mark.slow
@pytest.mark.parametrize("name", OVER)
def test_under_gunicorn_a_chunked_body_over_the_limit_is_413_and_writes_nothing(server, name):
    status, answer = put_chunked(server, f"{TASKS}/{name}", OVER[name])
    assert (status, answer) == (413, {"detail": DETAIL})
    assert task_rows(server, name) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", FITS)
def test_under_gunicorn_a_chunked_body_within_the_limit_is_stored(server, name):
    status, answer = put_chunked(server, f"{TASKS}/{name}", FITS[name])
    assert status == 200, answer
    assert answer["status_details"] == json.loads(FITS[name]).get("status_details", {})
    assert task_rows(server, name) == [(name,)]
