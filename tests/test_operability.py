"""OpenAPI, docs page, health, metrics, request logs, history and the CLI."""

import json
import logging
import re
import time

import pytest
from openapi_spec_validator import validate
from prometheus_client import CONTENT_TYPE_LATEST

import statemachine
from app import create_app
from app.db.schema import MIGRATIONS
from app.docs import document

from .conftest import EXECUTOR, platform_spec
from .server import running

SEED_COMPONENTS = ["PlatformJobTask", "PlatformJobTaskUpdate", "PlatformJobStatus",
                   "HTTPValidationError", "ValidationError"]


class TestOpenAPI:
    def test_the_document_is_valid_openapi_3_1(self, client):
        doc = client.get("/openapi.json").json
        assert doc["openapi"].startswith("3.1")
        validate(doc)

    def test_it_uses_the_seeds_component_names(self):
        assert set(SEED_COMPONENTS) <= set(document()["components"]["schemas"])
        task = document()["components"]["schemas"]["PlatformJobTask"]
        assert task["properties"]["status"] == {"$ref": "#/components/schemas/PlatformJobStatus"}
        statuses = document()["components"]["schemas"]["PlatformJobStatus"]["enum"]
        assert statuses == [s.value for s in statemachine.Status]

    def test_every_api_route_is_documented_with_its_errors(self, app):
        paths = document()["paths"]
        for rule in app.url_map.iter_rules():
            if not rule.rule.startswith("/apis/"):
                continue
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                if "{action}" in path:
                    for action in ("cancel", "pause", "resume"):
                        assert method.lower() in paths[path.replace("{action}", action)]
                    continue
                operation = paths[path][method.lower()]
                if "{workspace}" not in path:  # execution profiles: no input to refuse
                    assert set(operation["responses"]) == {"200", "401", "503"}, (path, method)
                    continue
                assert {"404", "422"} <= set(operation["responses"]), (path, method)

    def test_the_seed_task_operation_keeps_its_id(self):
        put = document()["paths"]["/apis/jobs/v2/workspaces/{workspace}/jobs/{job}/steps/{step}/tasks/{name}"]["put"]
        assert put["operationId"].startswith("update-job-step-task")


def test_docs_page_and_its_assets_come_from_the_installed_package(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    for asset in re.findall(r'(?:src|href)="(/docs/[^"]+)"', page.get_data(as_text=True)):
        with client.get(asset) as response:
            assert response.status_code == 200 and len(response.data) > 0, asset
    assert "http" not in page.get_data(as_text=True).replace("http-equiv", "")


class TestHealth:
    def test_live_and_ready(self, client):
        assert client.get("/health/live").json == {"status": "ok"}
        assert client.get("/health/ready").json == {"status": "ok", "database": "ok"}

    def test_ready_is_503_when_the_database_cannot_be_opened(self, tmp_path):
        client = create_app({"JOBS_DB": str(tmp_path)}).test_client()  # a directory
        response = client.get("/health/ready")
        assert response.status_code == 503 and response.json["status"] == "unavailable"
        assert client.get("/health/live").status_code == 200


class TestRequestLogs:
    def test_one_json_line_per_request_with_the_callers_id(self, client, caplog):
        with caplog.at_level(logging.INFO, logger="jobs.access"):
            response = client.get("/apis/jobs/v2/workspaces/ws/jobs/nope",
                                  headers={"X-Request-ID": "abc-123", "Authorization": "Bearer s3cret"})
        assert response.headers["X-Request-ID"] == "abc-123"
        assert "s3cret" not in caplog.text
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "jobs.access"]
        assert len(lines) == 1
        line = lines[0]
        assert line["request_id"] == "abc-123" and line["status"] == 404
        assert line["method"] == "GET" and line["route"] == "/apis/jobs/v2/workspaces/<workspace>/jobs/<name>"
        assert line["duration_ms"] >= 0

    @pytest.mark.parametrize("given", [None, "", "x" * 200, "bad id with spaces", "<script>"])
    def test_a_missing_or_unsafe_id_is_replaced(self, client, given):
        headers = {} if given is None else {"X-Request-ID": given}
        returned = client.get("/health/live", headers=headers).headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", returned)


class TestHistory:
    def test_task_history_oldest_first_and_refusals_leave_none(self, api):
        api.create_job("j1")
        for status in ("pending", "active", "active", "completed"):
            api.put_task("j1", "train", "t0", {"status": status})
        assert api.put_task("j1", "train", "t0", {"status": "active"}).status_code == 422
        history = api.client.get(api.url("j1", "steps", "train", "tasks", "t0", "history")).json
        moves = [(e["from"], e["to"], e["db_version"]) for e in history["data"]]
        assert moves == [(None, "pending", 1), (("pending"), "active", 2), ("active", "completed", 4)]
        assert all(e["entity_kind"] == "task" and e["by"] is None for e in history["data"])
        assert history["pagination"]["total_results"] == 3

    def test_job_history_covers_job_steps_and_tasks_and_pages(self, api):
        api.create_job("j1", steps=("prep", "train"))
        api.put_task("j1", "prep", "t0", {"status": "active"})
        api.client.patch(api.url("j1", "steps", "prep", "status"), json={"status": "active"})
        first = api.client.get(api.url("j1", "history") + "?page_size=2").json
        everything = api.client.get(api.url("j1", "history") + "?page_size=100").json["data"]
        assert [(e["entity_kind"], e["entity_name"], e["to"]) for e in everything] == [
            ("job", "j1", "created"), ("step", "prep", "created"), ("step", "train", "created"),
            ("task", "t0", "active"), ("step", "prep", "active"), ("job", "j1", "active")]
        assert first["data"] == everything[:2] and first["pagination"]["total_pages"] == 3

    def test_history_of_unknown_things_is_404_and_bad_pages_422(self, api):
        api.create_job("j1")
        assert api.client.get(api.url("j1", "steps", "train", "tasks", "t9", "history")).status_code == 404
        assert api.client.get(api.url("j9", "history")).status_code == 404
        assert api.client.get(api.url("j1", "history") + "?page=0").status_code == 422


class TestCli:
    def test_init_db(self, tmp_path):
        app = create_app({"JOBS_DB": str(tmp_path / "cli.db")})
        first = app.test_cli_runner().invoke(args=["init-db"])
        again = app.test_cli_runner().invoke(args=["init-db"])
        assert first.exit_code == 0 and f"applied {len(MIGRATIONS)} migration(s)" in first.output
        assert "applied 0 migration(s)" in again.output

    def test_machine(self, app):
        runner = app.test_cli_runner()
        assert runner.invoke(args=["machine"]).output == statemachine.table()
        assert runner.invoke(args=["machine", "--mermaid"]).output == statemachine.mermaid()

    def test_reap_stale(self, app, api):
        api.client.post(api.url(), json={"name": "j1", "platform_spec": {"steps": [
            {"name": "quick", "executor": EXECUTOR, "lifecycle": {"staleness_timeout_seconds": 1}},
            {"name": "slow", "executor": EXECUTOR,
             "lifecycle": {"staleness_timeout_seconds": 3600}},
            {"name": "none", "executor": EXECUTOR}]}})
        for step in ("quick", "slow", "none"):
            api.put_task("j1", step, "t0", {"status": "active"})
        api.put_task("j1", "quick", "t1", {"status": "paused"})  # paused cannot become error
        api.put_task("j1", "quick", "t2", {"status": "completed"})
        time.sleep(1.2)
        api.put_task("j1", "quick", "t3", {"status": "active"})  # fresh report
        runner = app.test_cli_runner()

        dry = runner.invoke(args=["reap-stale", "--dry-run"])
        assert "1 stale task(s) (dry run)" in dry.output
        assert api.get_task("j1", "quick", "t0").json["status"] == "active"
        result = runner.invoke(args=["reap-stale"])

        assert result.exit_code == 0 and "reaped ws/j1/quick/t0" in result.output
        reaped = api.get_task("j1", "quick", "t0").json
        assert reaped["status"] == "error" and reaped["error_details"]["reason"] == "stale"
        statuses = {(s, t): api.get_task("j1", s, t).json["status"] for s, t in
                    [("slow", "t0"), ("none", "t0"), ("quick", "t1"), ("quick", "t2"), ("quick", "t3")]}
        assert statuses == {("slow", "t0"): "active", ("none", "t0"): "active",
                            ("quick", "t1"): "paused", ("quick", "t2"): "completed",
                            ("quick", "t3"): "active"}
        history = api.client.get(api.url("j1", "steps", "quick", "tasks", "t0", "history")).json
        assert history["data"][-1]["to"] == "error"
        assert "0 stale task(s)" in runner.invoke(args=["reap-stale"]).output


def metric(text: str, name: str, **labels) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith((name + "{", name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_in_one_process(api):
    api.create_job("j1")
    api.put_task("j1", "train", "t0", {"status": "completed"})
    api.put_task("j1", "train", "t0", {"status": "active"})
    text = api.client.get("/metrics").get_data(as_text=True)
    route = "/apis/jobs/v2/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>"
    assert metric(text, "jobs_http_requests_total", route=route, method="PUT", status="422") >= 1
    assert metric(text, "jobs_transitions_total", kind="task", to="active", outcome="refused") >= 1
    assert metric(text, "jobs_http_request_duration_seconds_count", route=route) >= 2


def test_metrics_content_type_is_prometheus_exactly(client):
    # Once, as prometheus_client spells it: a repeated charset is refused by Prometheus 3.
    assert client.get("/metrics").headers["Content-Type"] == CONTENT_TYPE_LATEST


def test_metrics_cover_results_logs_and_profiles(api, tmp_path, app):
    app.config["JOBS_ARTIFACTS_DIR"] = str(tmp_path / "art")
    (tmp_path / "art" / "ws" / "j1").mkdir(parents=True)
    (tmp_path / "art" / "ws" / "j1" / "out.txt").write_text("x")
    api.create_job("j1")
    for name, path in (("r1", "out.txt"), ("r2", "missing.txt")):
        api.client.post(api.url("j1", "results", name), json={
            "artifact_storage_type": "fileset", "artifact_url": f"fileset://ws/j1/{path}"})
        with api.client.get(api.url("j1", "results", name, "download")):
            pass
    api.client.post(api.url("j1", "logs"), json={"data": [
        {"job_step": "train", "job_task": "t0", "message": m} for m in ("a", "b")]})
    api.client.get(api.url("j1", "logs"))
    api.client.get(api.url("j1", "results"))
    api.client.get("/apis/jobs/v2/execution-profiles")
    text = api.client.get("/metrics").get_data(as_text=True)
    for route, method, status in [
            ("/apis/jobs/v2/workspaces/<workspace>/jobs/<job>/results/<name>", "POST", "201"),
            ("/apis/jobs/v2/workspaces/<workspace>/jobs/<job>/results/<name>/download", "GET",
             "200"),
            ("/apis/jobs/v2/workspaces/<workspace>/jobs/<job>/results/<name>/download", "GET",
             "404"),
            ("/apis/jobs/v2/workspaces/<workspace>/jobs/<name>/results", "GET", "200"),
            ("/apis/jobs/v2/workspaces/<workspace>/jobs/<name>/logs", "POST", "201"),
            ("/apis/jobs/v2/workspaces/<workspace>/jobs/<name>/logs", "GET", "200"),
            ("/apis/jobs/v2/execution-profiles", "GET", "200")]:
        assert metric(text, "jobs_http_requests_total", route=route, method=method,
                      status=status) >= 1, route
    assert metric(text, "jobs_log_lines_appended_total") >= 2
    assert metric(text, "jobs_result_downloads_total", outcome="sent") >= 1
    assert metric(text, "jobs_result_downloads_total", outcome="missing") >= 1


@pytest.mark.slow
def test_metrics_add_up_across_gunicorn_workers(tmp_path):
    import requests

    with running(tmp_path / "m.db", tmp_path / "g.log", workers=3) as server:
        for i in range(30):
            assert requests.get(f"{server.url}/health/live", timeout=5).ok
        base = f"{server.url}/apis/jobs/v2/workspaces/ws/jobs"
        requests.post(base, json={"name": "j1", "platform_spec": platform_spec("s1")})
        for status in ("active", "completed", "active"):
            requests.put(f"{base}/j1/steps/s1/tasks/t0", json={"status": status}, timeout=5)
        answer = requests.get(f"{server.url}/metrics", timeout=5)
        text = answer.text
    assert answer.headers["Content-Type"] == CONTENT_TYPE_LATEST  # multiprocess path too
    assert metric(text, "jobs_http_requests_total", route="/health/live", status="200") == 30
    assert metric(text, "jobs_transitions_total", kind="task", outcome="accepted") == 2
    assert metric(text, "jobs_transitions_total", kind="task", outcome="refused") == 1
