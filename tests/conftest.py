import pytest

from app import create_app
from app.db import migrate

API = "/apis/jobs/v2/workspaces"
# Every step carries an executor (upstream requires one); a provider is all it needs here.
EXECUTOR = {"provider": "cpu", "container": {"image": "python:3.11"}}


def platform_spec(*steps: str) -> dict:
    """A job's platform_spec with one step, on EXECUTOR, per name."""
    return {"steps": [{"name": s, "executor": EXECUTOR} for s in steps]}


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "jobs.db"


@pytest.fixture
def app(db_path):
    migrate(str(db_path))
    return create_app({"JOBS_DB": str(db_path), "TESTING": True})


@pytest.fixture
def client(app):
    return app.test_client()


class Api:
    """Small helpers over the test client, speaking the service's paths."""

    def __init__(self, client, workspace="ws"):
        self.client, self.ws = client, workspace

    def url(self, *parts: str) -> str:
        return "/".join([API, self.ws, "jobs", *parts])

    def create_job(self, name="j1", steps=("train",), **extra):
        body = {"name": name, "platform_spec": platform_spec(*steps), **extra}
        response = self.client.post(self.url(), json=body)
        assert response.status_code == 201, response.json
        return response.json

    def put_task(self, job, step, task, body=None, **kwargs):
        return self.client.put(self.url(job, "steps", step, "tasks", task), json=body or {},
                               **kwargs)

    def get_task(self, job, step, task):
        return self.client.get(self.url(job, "steps", step, "tasks", task))


@pytest.fixture
def api(client):
    return Api(client)
