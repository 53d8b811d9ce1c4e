"""The official NeMo Platform client drives the service, unchanged, over real HTTP.

Every call must come back as the client's own model with each field the client marks
required actually sent (pydantic's `model_fields_set`), and refusals must surface as the
client's own exceptions.
"""

import json
import time
from datetime import datetime, timedelta, timezone

import pydantic
import pytest
import requests

nemo_platform = pytest.importorskip("nemo_platform")
from nemo_platform import (ConflictError, NeMoPlatform, NotFoundError,  # noqa: E402
                           UnprocessableEntityError)
from nemo_platform.types.jobs import (PlatformJobResponse, PlatformJobStep,  # noqa: E402
                                      PlatformJobStepWithContext, PlatformJobTask)
from nemo_platform.types.shared import (PlatformJobListResultResponse,  # noqa: E402
                                        PlatformJobLog, PlatformJobResultResponse,
                                        PlatformJobStatusResponse)

from .proxy import LosingProxy  # noqa: E402
from .server import running  # noqa: E402

pytestmark = pytest.mark.slow

EXECUTOR = {"provider": "cpu", "container": {"image": "python:3.11"}}


def assert_complete(model: pydantic.BaseModel, kind: type) -> None:
    """The model is `kind`, and every field the client requires was sent, recursively."""
    assert isinstance(model, kind), type(model)
    required = {n for n, f in type(model).model_fields.items() if f.is_required()}
    assert required <= model.model_fields_set, required - model.model_fields_set
    for name in model.model_fields_set:
        value = getattr(model, name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, pydantic.BaseModel):
                assert_complete(item, type(item))


PROFILES = [{"backend": "docker", "provider": "cpu", "profile": "default",
             "config": {"default_task_image": "python:3.11"}},
            {"backend": "kubernetes_job", "provider": "gpu", "profile": "a100",
             "config": {"namespace": "train", "num_gpus": 8}}]
ARTIFACT = b"\x00weights\xff" * 50_000  # 500 kB, binary


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client")
    (tmp / "profiles.json").write_text(json.dumps(PROFILES))
    (tmp / "artifacts" / "compat" / "results-job" / "out").mkdir(parents=True)
    (tmp / "artifacts" / "compat" / "results-job" / "out" / "model.bin").write_bytes(ARTIFACT)
    env = {"JOBS_EXECUTION_PROFILES": str(tmp / "profiles.json"),
           "JOBS_ARTIFACTS_DIR": str(tmp / "artifacts")}
    with running(tmp / "client.db", tmp / "gunicorn.log", workers=2, env=env) as server:
        yield server
    assert "Traceback" not in server.log()


@pytest.fixture(scope="module")
def client(server):
    # Strict validation makes the client check every response against its own models.
    with NeMoPlatform(base_url=server.url, workspace="compat", max_retries=0,
                      _strict_response_validation=True) as client:
        yield client


def make_job(client, name, steps=("prep", "train"), source="compat-test"):
    return client.jobs.create(
        name=name, source=source, spec={"k": "v"}, project="p1",
        platform_spec={"steps": [{"name": s, "executor": EXECUTOR, "config": {"n": 1}}
                                 for s in steps]},
    )


def test_create_retrieve_and_list_with_auto_pagination(client):
    created = [make_job(client, f"page-{i:02d}", source="paging") for i in range(23)]
    for job in created:
        assert_complete(job, PlatformJobResponse)
    assert_complete(client.jobs.retrieve("page-07"), PlatformJobResponse)

    page = client.jobs.list(page_size=5, sort="created_at", filter={"source": "paging"})
    listed = [job.name for job in page]  # iterating follows every page
    assert listed == [job.name for job in created]
    assert page.pagination.total_pages == 5
    for job in page.data:
        assert_complete(job, PlatformJobResponse)
    filtered = client.jobs.list(filter={"status": ["created"], "name": "page-03"})
    assert [job.name for job in filtered.data] == ["page-03"]


def test_steps_and_tasks(client):
    make_job(client, "steps-tasks")
    steps = list(client.jobs.steps.list("steps-tasks", page_size=1))
    assert [s.name for s in steps] == ["prep", "train"]
    for step in steps:
        assert_complete(step, PlatformJobStepWithContext)
    assert [s.job for s in client.jobs.steps.list("-", filter={"job": "steps-tasks"})] == [
        "steps-tasks", "steps-tasks"]

    step = client.jobs.steps.retrieve("prep", job="steps-tasks")
    assert_complete(step, PlatformJobStep)
    moved = client.jobs.steps.update_status("prep", job="steps-tasks", status="active",
                                            status_details={"phase": "warmup"})
    assert_complete(moved, PlatformJobStep)
    assert moved.status == "active" and moved.status_details == {"phase": "warmup"}

    task = client.jobs.tasks.create_or_update("t0", job="steps-tasks", step="prep")
    assert_complete(task, PlatformJobTask)
    assert task.status == "pending"
    task = client.jobs.tasks.create_or_update("t0", job="steps-tasks", step="prep",
                                              status="active", status_details={"pct": 50})
    assert task.status == "active" and task.status_details == {"pct": 50}
    assert_complete(client.jobs.tasks.retrieve("t0", job="steps-tasks", step="prep"),
                    PlatformJobTask)
    listed = client.jobs.tasks.list("prep", job="steps-tasks")
    assert [t.name for t in listed.data] == ["t0"]
    for item in listed.data:
        assert_complete(item, PlatformJobTask)

    tree = client.jobs.get_status("steps-tasks")
    assert_complete(tree, PlatformJobStatusResponse)
    assert [s.name for s in tree.steps] == ["prep", "train"]
    assert tree.steps[0].tasks[0].status_details == {"pct": 50}


def test_refused_moves_raise_the_clients_error(client):
    make_job(client, "refusals")
    client.jobs.tasks.create_or_update("t0", job="refusals", step="prep", status="completed")
    with pytest.raises(UnprocessableEntityError) as raised:
        client.jobs.tasks.create_or_update("t0", job="refusals", step="prep", status="active")
    assert raised.value.body["detail"][0]["type"] == "invalid_transition"
    with pytest.raises(UnprocessableEntityError):
        client.jobs.steps.update_status("prep", job="refusals", status="completed")
    with pytest.raises(NotFoundError):
        client.jobs.retrieve("no-such-job")


def test_details_pause_resume_cancel_delete(client):
    make_job(client, "lifecycle")
    client.jobs.update_status_details("lifecycle", body={"progress": 10})
    assert client.jobs.retrieve("lifecycle").status_details == {"progress": 10}

    paused = client.jobs.pause("lifecycle")
    assert_complete(paused, PlatformJobResponse)
    assert paused.status == "paused"
    resumed = client.jobs.resume("lifecycle")
    assert resumed.status == "resuming"
    cancelled = client.jobs.cancel("lifecycle")
    assert cancelled.status == "cancelling"
    with pytest.raises(UnprocessableEntityError):
        client.jobs.pause("lifecycle")

    assert client.jobs.delete("lifecycle") is None
    with pytest.raises(NotFoundError):
        client.jobs.retrieve("lifecycle")


def test_results_create_retrieve_list_and_download(client):
    make_job(client, "results-job")
    created = client.jobs.results.create(
        "model", job="results-job", artifact_storage_type="fileset",
        artifact_url="fileset://compat/results-job/out/model.bin")
    assert_complete(created, PlatformJobResultResponse)
    assert created.download_url.endswith("/jobs/results-job/results/model/download")
    client.jobs.results.create("metrics", job="results-job", artifact_storage_type="fileset",
                               artifact_url="fileset://compat/results-job/metrics.json")
    assert_complete(client.jobs.results.retrieve("model", job="results-job"),
                    PlatformJobResultResponse)
    listed = client.jobs.results.list("results-job", sort="created_at")
    assert_complete(listed, PlatformJobListResultResponse)
    assert [r.name for r in listed.data] == ["model", "metrics"]
    assert client.jobs.results.download("model", job="results-job").read() == ARTIFACT
    with client.jobs.results.with_streaming_response.download("model", job="results-job") as r:
        assert b"".join(r.iter_bytes(chunk_size=65536)) == ARTIFACT
    with pytest.raises(NotFoundError):  # recorded, but no file there
        client.jobs.results.download("metrics", job="results-job")
    with pytest.raises(ConflictError):
        client.jobs.results.create("model", job="results-job", artifact_storage_type="fileset",
                                   artifact_url="fileset://compat/results-job/x")
    with pytest.raises(UnprocessableEntityError):
        client.jobs.results.create("evil", job="results-job", artifact_storage_type="fileset",
                                   artifact_url="fileset://compat/results-job/../../etc/passwd")


LOG_LINES, LOG_PAGE = 1234, 100


def test_get_logs_auto_pagination_walks_every_page(client, server):
    make_job(client, "logs-job")
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    lines = [{"job_step": "train" if i % 3 else "prep", "job_task": f"worker-{i % 2}",
              "message": f"line {i:04d}",
              "timestamp": (start + timedelta(milliseconds=i)).isoformat()}
             for i in range(LOG_LINES)]
    url = f"{server.url}/apis/jobs/v2/workspaces/compat/jobs/logs-job/logs"
    for batch in range(0, LOG_LINES, 500):  # appends are at most 1,000 lines
        appended = requests.post(url, json={"data": lines[batch:batch + 500]}, timeout=10)
        assert appended.status_code == 201, appended.text

    first = client.jobs.get_logs("logs-job", limit=LOG_PAGE)
    assert first.total == LOG_LINES and first.prev_page == ""
    pages = list(first.iter_pages())
    walked = [entry for page in pages for entry in page.data]
    assert len(pages) == -(-LOG_LINES // LOG_PAGE) == 13
    assert [e.message for e in walked] == [line["message"] for line in lines]
    for entry in walked[:5]:
        assert_complete(entry, PlatformJobLog)
    assert pages[-1].next_page == ""
    # The same walk through the client's item iterator, with filters carried along.
    train = [e.message for e in client.jobs.get_logs("logs-job", limit=50, step_id="train",
                                                     task_id="worker-1")]
    assert train == [l["message"] for l in lines
                     if l["job_step"] == "train" and l["job_task"] == "worker-1"]
    assert client.jobs.get_logs("logs-job", attempt_id=2).data == []
    with pytest.raises(UnprocessableEntityError):
        client.jobs.get_logs("logs-job", page_cursor="forged.cursor")


def test_execution_profiles_listed_and_enforced(client):
    profiles = client.jobs.list_execution_profiles()
    assert [(p.backend, p.provider, p.profile) for p in profiles] == [
        ("docker", "cpu", "default"), ("kubernetes_job", "gpu", "a100")]
    assert profiles[1].config.namespace == "train"
    with pytest.raises(UnprocessableEntityError) as raised:
        client.jobs.create(name="no-profile", source="s", spec={}, platform_spec={"steps": [
            {"name": "s1", "executor": {"provider": "gpu", "profile": "h100",
                                        "container": {"image": "x"}}}]})
    assert raised.value.body["detail"][0]["type"] == "unknown_execution_profile"


def test_the_list_grammar_the_client_sends(client):
    for name, source in (("grammar-a", "g-sdk"), ("grammar-b", "g-cli"), ("grammar-c", "g-cli")):
        make_job(client, name, source=source)
    names = lambda page: [job.name for job in page]
    assert names(client.jobs.list(filter={"name": {"$in": ["grammar-a", "grammar-c"]}},
                                  sort="created_at")) == ["grammar-a", "grammar-c"]
    assert names(client.jobs.list(filter={"source": {"$like": "g-%"}, "name": {
        "$nin": ["grammar-b"]}}, sort="created_at")) == ["grammar-a", "grammar-c"]
    assert names(client.jobs.list(filter={"source": {"$eq": "g-cli"}}, sort="-source")) == [
        "grammar-b", "grammar-c"]
    created = client.jobs.retrieve("grammar-b").created_at
    assert names(client.jobs.list(filter={"created_at": {"$gte": created, "$lte": created}})) == [
        "grammar-b"]
    assert names(client.jobs.list(filter={"workspace": "compat", "name": "grammar-a"})) == [
        "grammar-a"]
    assert names(client.jobs.list(filter={"workspace": "elsewhere"})) == []
    ordered = names(client.jobs.list(filter={"source": {"$like": "g-%"}}, sort="source"))
    assert ordered == ["grammar-b", "grammar-c", "grammar-a"]


def test_the_client_authenticates_with_a_bearer_token(tmp_path):
    import hashlib
    import json

    from nemo_platform import AuthenticationError, PermissionDeniedError

    token = "client-token-0123456789"
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tokens": [{
        "principal": "sdk-user", "sha256": hashlib.sha256(token.encode()).hexdigest(),
        "workspaces": ["mine"], "role": "writer"}]}))
    with running(tmp_path / "auth.db", tmp_path / "g.log", workers=2,
                 env={"JOBS_AUTH_TOKENS": str(tokens)}) as server:
        with NeMoPlatform(base_url=server.url, workspace="mine", access_token=token,
                          max_retries=0, _strict_response_validation=True) as client:
            make_job(client, "authed")
            assert client.jobs.steps.retrieve("prep", job="authed").created_by == "sdk-user"
            task = client.jobs.tasks.create_or_update("t0", job="authed", step="prep")
            assert task.created_by == "sdk-user"
            with pytest.raises(PermissionDeniedError):
                client.jobs.list(workspace="theirs")
        with NeMoPlatform(base_url=server.url, workspace="mine", access_token="wrong",
                          max_retries=0) as stranger:
            with pytest.raises(AuthenticationError):
                stranger.jobs.list()


def posts_to(server, path: str) -> list[int]:
    """The status of every POST to `path` the server logged, in order."""
    lines = [json.loads(line) for line in server.log().splitlines()
             if line.startswith('{"request_id"')]
    return [line["status"] for line in lines if line["method"] == "POST" and line["path"] == path]


def test_a_name_conflict_is_one_post_and_raises_at_once(server):
    # Default retries (2): the client retries a 409 unless the answer says not to.
    with NeMoPlatform(base_url=server.url, workspace="compat") as retrying:
        make_job(retrying, "conflict-once")
        path = "/apis/jobs/v2/workspaces/compat/jobs"
        before = len(posts_to(server, path))
        started = time.monotonic()
        with pytest.raises(ConflictError):
            make_job(retrying, "conflict-once")
        elapsed = time.monotonic() - started
    assert posts_to(server, path)[before:] == [409]
    assert elapsed < 1.0, elapsed  # three POSTs took 1.1 s at the least (two back-offs)


def test_a_create_whose_answer_is_lost_is_retried_with_its_key_and_ends_with_the_job(server):
    path = "/apis/jobs/v2/workspaces/compat/jobs"
    with LosingProxy(server.port, lose=1) as proxy, \
            NeMoPlatform(base_url=proxy.url, workspace="compat") as retrying:
        before = len(posts_to(server, path))
        job = retrying.jobs.create(
            name="lost-answer", source="compat-test", spec={}, project="p1",
            platform_spec={"steps": [{"name": "train", "executor": EXECUTOR}]},
            extra_headers={"Idempotency-Key": "lost-answer-1"})
        assert proxy.lost == 1
    assert_complete(job, PlatformJobResponse)
    assert job.name == "lost-answer"
    # The first POST made the job and its answer was lost; the retry was given that answer.
    assert posts_to(server, path)[before:] == [201, 201]
    assert requests.get(f"{server.url}{path}/lost-answer").json()["id"] == job.id
