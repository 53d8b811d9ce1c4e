"""The request log line and the metrics, made cheaply, say what they said before.

- the log line is the JSON object json.dumps makes of the same fields, whichever way it is
  written (straight to the handler's stream, or through `logging`);
- the metrics files are the ones prometheus_client itself writes for the same counts, and a
  request's counts are in them before its answer leaves (what keeps /metrics exact across
  gunicorn workers; tests/test_operability.py checks that end to end).
"""

import io
import json
import logging

import pytest
from prometheus_client import CollectorRegistry, generate_latest, multiprocess, values
from prometheus_client import Counter as PromCounter, Histogram as PromHistogram

from app import create_app, metrics, observability
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


@pytest.fixture
def fresh_counts(monkeypatch):
    """Numbers from zero, as in a new worker (earlier tests counted in this process)."""
    monkeypatch.setattr(metrics, "_changed", [])
    for metric in metrics._ALL:
        monkeypatch.setattr(metric, "children", {})


@pytest.fixture
def folder(tmp_path, monkeypatch, fresh_counts):
    """Multiprocess mode in this process: a fresh folder and fresh files of our own."""
    path = tmp_path / "metrics"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    monkeypatch.setattr(metrics, "_files", metrics._Files())
    yield path
    metrics._files.close()


def collected(path) -> str:
    """What /metrics would say, read from the folder only (no flush on the way)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    return generate_latest(registry).decode()


def samples(text: str, name: str, **labels) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{")
               and all(f'{k}="{v}"' in line for k, v in labels.items()))


def test_a_requests_counts_are_in_the_folder_before_its_answer_leaves(app, folder):
    client = app.test_client()
    base = "/apis/jobs/v2/workspaces/ws/jobs"
    client.post(base, json={"name": "j1", "platform_spec": {"steps": [{"name": "s1"}]}})
    for status in ("active", "completed", "active"):
        client.put(f"{base}/j1/steps/s1/tasks/t0", json={"status": status})
    after = collected(folder)  # nobody flushed since the last answer

    assert samples(after, "jobs_http_requests_total", route=TASK_ROUTE, status="200") == 2
    assert samples(after, "jobs_http_requests_total", route=TASK_ROUTE, status="422") == 1
    assert samples(after, "jobs_http_request_duration_seconds_count", route=TASK_ROUTE) == 3
    assert samples(after, "jobs_http_request_duration_seconds_bucket", route=TASK_ROUTE,
                   le="+Inf") == 3
    assert samples(after, "jobs_transitions_total", kind="task", outcome="accepted") == 2
    assert samples(after, "jobs_transitions_total", kind="task", outcome="refused") == 1
    # /metrics reads the same folder
    served = client.get("/metrics").get_data(as_text=True)
    assert samples(served, "jobs_transitions_total", kind="task") == \
        samples(after, "jobs_transitions_total", kind="task")


def test_the_files_are_what_prometheus_client_writes_for_the_same_counts(tmp_path, monkeypatch,
                                                                       fresh_counts):
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    ours.mkdir()
    theirs.mkdir()
    observations = [((TASK_ROUTE, "PUT", "200"), 0.0007), ((TASK_ROUTE, "PUT", "422"), 0.004),
                    (("/health/live", "GET", "200"), 0.03), ((TASK_ROUTE, "PUT", "200"), 11.0)]

    # prometheus_client's own writer, as the service used it before
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(theirs))
    monkeypatch.setattr(values, "ValueClass", values.MultiProcessValue(lambda: 4242))
    requests = PromCounter(metrics.REQUESTS.name, metrics.REQUESTS.documentation,
                           metrics.REQUESTS.labelnames, registry=None)
    latency = PromHistogram(metrics.LATENCY.name, metrics.LATENCY.documentation,
                            metrics.LATENCY.labelnames, buckets=metrics.LATENCY.bounds,
                            registry=None)
    faults = PromCounter(metrics.STORAGE_FAULTS.name, metrics.STORAGE_FAULTS.documentation,
                         metrics.STORAGE_FAULTS.labelnames, registry=None)
    for labels, seconds in observations:
        requests.labels(*labels).inc()
        latency.labels(*labels[:2]).observe(seconds)
    faults.labels("locked").inc()

    # ours, into fresh metric objects
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(ours))
    files = metrics._Files()
    r, lat, f = metrics.REQUESTS, metrics.LATENCY, metrics.STORAGE_FAULTS
    mine = (metrics.Counter(r.name, r.documentation, list(r.labelnames)),
            metrics.Histogram(lat.name, lat.documentation, list(lat.labelnames),
                              buckets=lat.bounds[:-1]),
            metrics.Counter(f.name, f.documentation, list(f.labelnames)))
    with metrics._lock:
        for labels, seconds in observations:
            mine[0].inc(labels)
            mine[1].observe(labels[:2], seconds)
        mine[2].inc(("locked",))
        files.write(metrics._changed)
        metrics._changed.clear()
    files.close()
    values.close_all_multiprocess_files()

    def families(text):  # in the order the folder lists the files: that order is the disk's
        return sorted("# HELP" + block for block in text.split("# HELP")[1:])

    assert families(collected(ours)) == families(collected(theirs))


def test_this_process_alone_reports_every_metric_name(app):
    text = app.test_client().get("/metrics").get_data(as_text=True)
    for name in ("jobs_http_requests_total", "jobs_http_request_duration_seconds",
                 "jobs_transitions_total", "jobs_storage_faults_total"):
        assert f"# TYPE {name} " in text


def test_a_forked_child_counts_from_zero_into_files_of_its_own(app, folder):
    import os

    app.test_client().get("/health/live")
    pid = os.fork()
    if pid == 0:  # the child: two requests of its own, then out without pytest's cleanup
        try:
            app.test_client().get("/health/live")
            app.test_client().get("/health/live")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    text = collected(folder)
    assert samples(text, "jobs_http_requests_total", route="/health/live") == 3
    assert len(list(folder.glob("counter_jobs_*.db"))) == 2
