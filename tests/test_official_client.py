"""The official NeMo Platform client drives the service, unchanged, over real HTTP.

Every call must come back as the client's own model with each field the client marks
required actually sent (pydantic's `model_fields_set`), and refusals must surface as the
client's own exceptions.
"""

import pydantic
import pytest

nemo_platform = pytest.importorskip("nemo_platform")
from nemo_platform import NeMoPlatform, NotFoundError, UnprocessableEntityError  # noqa: E402
from nemo_platform.types.jobs import (PlatformJobResponse, PlatformJobStep,  # noqa: E402
                                      PlatformJobStepWithContext, PlatformJobTask)
from nemo_platform.types.shared import PlatformJobStatusResponse  # noqa: E402

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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("client")
    with running(tmp / "client.db", tmp / "gunicorn.log", workers=2) as server:
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
