"""Execution profiles: listed from JOBS_EXECUTION_PROFILES, and checked at job creation."""

import json

import pytest

from app import create_app
from app.db import migrate
from app.profiles import ProfilesConfigError

PROFILES = [
    {"backend": "kubernetes_job", "provider": "gpu", "profile": "a100",
     "config": {"namespace": "train", "num_gpus": 8}},
    {"backend": "docker", "provider": "cpu", "profile": "default", "config": {}},
    {"backend": "subprocess", "provider": "subprocess"},
]
YAML = """\
- backend: kubernetes_job
  provider: gpu
  profile: a100
  config:
    namespace: train
    num_gpus: 8
- backend: docker
  provider: cpu
  profile: default
  config: {}
- backend: subprocess
  provider: subprocess
"""
LISTED = [PROFILES[0], PROFILES[1], {**PROFILES[2], "profile": "default", "config": {}}]


def make_client(tmp_path, profiles_file=None):
    migrate(str(tmp_path / "p.db"))
    config = {"JOBS_DB": str(tmp_path / "p.db")}
    if profiles_file:
        config["JOBS_EXECUTION_PROFILES"] = str(profiles_file)
    return create_app(config).test_client()


@pytest.fixture(params=["json", "yaml", "yml", "conf"])
def client(request, tmp_path):
    path = tmp_path / f"profiles.{request.param}"
    path.write_text(json.dumps(PROFILES) if request.param in ("json", "conf") else YAML)
    return make_client(tmp_path, path)


def test_profiles_are_listed_as_configured(client):
    response = client.get("/apis/jobs/v2/execution-profiles")
    assert response.status_code == 200 and response.json == LISTED


def test_without_a_file_the_list_is_empty_and_any_executor_goes(tmp_path):
    client = make_client(tmp_path)
    assert client.get("/apis/jobs/v2/execution-profiles").json == []
    created = client.post("/apis/jobs/v2/workspaces/ws/jobs", json={"platform_spec": {
        "steps": [{"name": "s1", "executor": {"provider": "gpu", "profile": "x",
                                              "container": {}}}]}})
    assert created.status_code == 201


def create(client, *executors):
    return client.post("/apis/jobs/v2/workspaces/ws/jobs", json={"name": "j1", "platform_spec": {
        "steps": [{"name": f"s{i}", "executor": e} for i, e in enumerate(executors)]}})


def test_executors_naming_configured_profiles_are_accepted(client):
    response = create(client, {"provider": "gpu", "profile": "a100", "container": {}},
                      {"provider": "cpu", "container": {}},  # no profile: "default", as upstream
                      {"provider": "subprocess", "command": ["true"]})
    assert response.status_code == 201, response.json


@pytest.mark.parametrize("executor", [
    {"provider": "gpu"}, {"provider": "gpu", "profile": "h100"}, {"provider": "gpu_distributed"},
    {"provider": "cpu", "profile": "a100"},
])
def test_an_unconfigured_provider_profile_pair_is_422_naming_the_configured(client, executor):
    response = create(client, {"provider": "cpu", "container": {}}, {**executor, "container": {}})
    assert response.status_code == 422
    [entry] = response.json["detail"]
    assert entry["type"] == "unknown_execution_profile"
    assert entry["loc"] == ["body", "platform_spec", "steps", 1, "executor"]
    assert entry["ctx"]["configured"] == ["cpu/default", "gpu/a100", "subprocess/default"]
    assert "configured: cpu/default, gpu/a100, subprocess/default" in entry["msg"]
    assert client.get("/apis/jobs/v2/workspaces/ws/jobs/j1").status_code == 404


@pytest.mark.parametrize("content,problem", [
    ("[not json", "cannot read it"),
    (": - :\n  - [", "cannot read it"),
    ('{"backend": "docker"}', "Not a valid list"),
    ('[{"provider": "cpu"}]', "backend"),
    ('[{"backend": "slurm", "provider": "cpu"}]', "backend"),
    ('[{"backend": "docker"}]', "provider"),
    ('[{"backend": "docker", "provider": "cpu", "config": []}]', "config"),
    ('[{"backend": "subprocess", "provider": "cpu"}]', "subprocess"),
    ('[{"backend": "docker", "provider": "cpu"}, {"backend": "e2e", "provider": "cpu"}]',
     "listed twice: cpu/default"),
])
def test_a_malformed_file_stops_the_start(tmp_path, content, problem):
    path = tmp_path / "profiles.json"
    path.write_text(content)
    if content.startswith(":"):
        path = path.rename(tmp_path / "profiles.yaml")
    with pytest.raises(ProfilesConfigError, match=problem):
        create_app({"JOBS_DB": str(tmp_path / "x.db"), "JOBS_EXECUTION_PROFILES": str(path)})


def test_a_missing_file_stops_the_start(tmp_path):
    with pytest.raises(ProfilesConfigError, match="cannot read"):
        create_app({"JOBS_DB": str(tmp_path / "x.db"),
                    "JOBS_EXECUTION_PROFILES": str(tmp_path / "none.yaml")})
