"""The request log line, made cheaply, says what it said before: the JSON object json.dumps
makes of the same fields, whichever way it is written (straight to the handler's stream, or
through `logging`). And /metrics names every metric, counted or not."""

import io
import json
import logging

import pytest

from app import create_app, observability
from app.db import migrate

TASK_ROUTE = "/apis/jobs/v2/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>"


@pytest.fixture
def app(tmp_path):
    """SQLite only: nothing here depends on the backend."""
    migrate(str(tmp_path / "jobs.db"))
    return create_app({"JOBS_DB": str(tmp_path / "jobs.db"), "TESTING": True})


@pytest.mark.parametrize("fields", [
    ("abc-123", "PUT", TASK_ROUTE, "/apis/jobs/v2/workspaces/ws/jobs/j/steps/s/tasks/t", 200,
     0.0012345678),
    ("0" * 32, "GET", "<unmatched>", '/a"quote\\back\nline\x00nul', 404, 0.0),
    ("x", "DELETE", "/r", "/caf\u00e9/\u6f22\u5b57/\U0001f600/\udcff", 503, 12.3456789),
    ("y", "PATCH", "/r", "/</script>", 422, 1e-9),
])
def test_the_log_line_is_what_json_dumps_makes_of_the_fields(fields):
    request_id, method, route, path, status, seconds = fields
    expected = json.dumps({"request_id": request_id, "method": method, "route": route,
                           "path": path, "status": status,
                           "duration_ms": round(seconds * 1000, 3)}, separators=(",", ":"))
    assert observability.access_line(*fields) == expected


def test_the_lone_handler_gets_one_line_per_request_written_directly(app, monkeypatch):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(observability._FORMAT)
    monkeypatch.setattr(observability, "_own_handler", handler)
    monkeypatch.setattr(observability.log, "handlers", [handler])  # as in production
    monkeypatch.setattr(observability.log, "propagate", False)
    calls = []
    monkeypatch.setattr(observability.log, "info", lambda *a, **k: calls.append(a))

    response = app.test_client().get("/health/live", headers={"X-Request-ID": "r-1"})

    assert calls == []  # not through logging: straight to the stream
    [line] = stream.getvalue().splitlines(keepends=True)
    assert line.endswith("\n")
    entry = json.loads(line)
    assert list(entry) == ["request_id", "method", "route", "path", "status", "duration_ms"]
    assert entry["request_id"] == "r-1" == response.headers["X-Request-ID"]
    assert (entry["method"], entry["route"], entry["path"], entry["status"]) == \
        ("GET", "/health/live", "/health/live", 200)


def test_another_format_on_the_own_handler_goes_through_logging(app, monkeypatch):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("access %(levelname)s %(message)s"))
    monkeypatch.setattr(observability, "_own_handler", handler)
    monkeypatch.setattr(observability.log, "handlers", [handler])
    monkeypatch.setattr(observability.log, "propagate", False)
    app.test_client().get("/health/live")
    assert stream.getvalue().startswith('access INFO {"request_id":')


def test_any_other_logging_set_up_goes_through_logging(app, monkeypatch):
    stream = io.StringIO()
    own = logging.StreamHandler(stream)
    monkeypatch.setattr(observability, "_own_handler", own)
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    monkeypatch.setattr(observability.log, "handlers", [own, Keep()])
    app.test_client().get("/health/live")
    assert len(records) == 1 and json.loads(records[0])["route"] == "/health/live"
    assert stream.getvalue() == records[0] + "\n"  # the own handler, through logging


def test_this_process_alone_reports_every_metric_name(app):
    text = app.test_client().get("/metrics").get_data(as_text=True)
    for name in ("jobs_http_requests_total", "jobs_http_request_duration_seconds",
                 "jobs_transitions_total", "jobs_storage_faults_total"):
        assert f"# TYPE {name} " in text
