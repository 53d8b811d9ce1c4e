"""If-Match on every write that reads it: `*` or a list of quoted tags, compared strongly.
A value of any other form is a 422 naming the header, so a client is not told to retry a
header that can never hold; a tag that does not hold is a 412 naming the current version."""

import pytest

from .conftest import platform_spec

J = "/apis/jobs/v2/workspaces/ws/jobs"
# Every write that reads If-Match: (method, path, body, path of the entity whose ETag counts).
WRITES = {
    "create-job": ("POST", J, {"name": "j2", "platform_spec": platform_spec("s1")}, None),
    "delete-job": ("DELETE", f"{J}/j1", None, f"{J}/j1"),
    "cancel": ("POST", f"{J}/j1/cancel", None, f"{J}/j1"),
    "pause": ("POST", f"{J}/j1/pause", None, f"{J}/j1"),
    "resume": ("POST", f"{J}/j1/resume", None, f"{J}/j1"),
    "rerun": ("POST", f"{J}/j1/rerun", None, f"{J}/j1"),
    "status-details": ("PATCH", f"{J}/j1/status-details", {"a": 1}, f"{J}/j1"),
    "step-status": ("PATCH", f"{J}/j1/steps/train/status", {"status": "active"},
                    f"{J}/j1/steps/train"),
    "put-task": ("PUT", f"{J}/j1/steps/train/tasks/t0", {"status": "completed"},
                 f"{J}/j1/steps/train/tasks/t0"),
    "create-result": ("POST", f"{J}/j1/results/r1",
                      {"artifact_storage_type": "fileset", "artifact_url": "fileset://ws/j1/out"},
                      None),
}
# Writes that succeed from the seeded state when their condition holds.
HOLDING = ["delete-job", "cancel", "status-details", "step-status", "put-task"]
MALFORMED = {"unquoted": "1", "garbage": "garbage", "empty": "", "half-quoted": '"1',
             "star-in-a-list": '*, "1"', "weak-unquoted": "W/1", "list-unquoted": '"1", 2'}


@pytest.fixture
def seeded(api, query):
    api.create_job("j1")
    assert api.put_task("j1", "train", "t0", {"status": "active"}).status_code == 200

    def state():
        return [query(f"SELECT count(*), sum(db_version) FROM {t}")
                for t in ("jobs", "steps", "tasks")] + \
               [query(f"SELECT count(*) FROM {t}") for t in ("history", "results")]
    return api.client, state


def send(client, write: str, header: str):
    method, path, body, _ = WRITES[write]
    return client.open(path, method=method, json=body, headers={"If-Match": header})


def etag(client, write: str) -> str:
    return client.get(WRITES[write][3]).headers["ETag"]


def version(tag: str) -> str:
    """The version a tag stands for: a step's tag is "<version>.<its tasks>"."""
    return tag.strip('"').split(".")[0]


@pytest.mark.parametrize("header", MALFORMED.values(), ids=MALFORMED.keys())
@pytest.mark.parametrize("write", WRITES)
def test_a_malformed_if_match_is_422_and_writes_nothing(seeded, write, header):
    client, state = seeded
    before = state()
    response = send(client, write, header)
    assert response.status_code == 422, response.json
    [entry] = response.json["detail"]
    assert entry["type"] == "if_match_invalid" and entry["loc"] == ["header", "If-Match"]
    assert entry["msg"] == ('If-Match must be a quoted version such as "3" (or a '
                            'comma-separated list of them), or *.')
    assert state() == before


@pytest.mark.parametrize("write", HOLDING)
def test_the_current_version_quoted_holds(seeded, write):
    client, _ = seeded
    assert send(client, write, etag(client, write)).status_code in (200, 204)


@pytest.mark.parametrize("write", HOLDING)
def test_the_current_version_unquoted_is_refused_as_malformed(seeded, write):
    client, state = seeded
    before = state()
    response = send(client, write, etag(client, write).strip('"'))
    assert response.status_code == 422 and "-1" not in response.text
    assert state() == before


@pytest.mark.parametrize("write", HOLDING)
def test_a_weak_tag_never_holds(seeded, write):
    client, state = seeded
    before, current = state(), etag(client, write)
    response = send(client, write, f"W/{current}")
    assert response.status_code == 412
    assert response.json["detail"].endswith(
        f'is at version {version(current)} (ETag "{version(current)}"), not W/{current}; '
        "a weak W/ tag never matches.")
    assert state() == before


@pytest.mark.parametrize("write", HOLDING)
def test_a_list_holds_when_one_of_its_tags_is_current(seeded, write):
    client, _ = seeded
    header = f'"998", W/"999", {etag(client, write)}'
    assert send(client, write, header).status_code in (200, 204)


@pytest.mark.parametrize("write", HOLDING)
def test_a_list_without_the_current_tag_is_412_naming_the_version(seeded, write):
    client, state = seeded
    before, current = state(), etag(client, write)
    response = send(client, write, '"998" , "999"')
    assert response.status_code == 412
    assert response.json["detail"].endswith(
        f'is at version {version(current)} (ETag "{version(current)}"), not "998", "999".')
    assert state() == before
