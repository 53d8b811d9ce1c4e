"""Results: recording, reading, listing, downloading; and a traversal corpus that must
never read a byte from outside the workspace's fileset."""

import os
import stat
import tracemalloc

import pytest

from app import create_app
from app.db import migrate

from .conftest import Api

SECRET = b"TOP-SECRET-OUTSIDE-THE-ROOT"


@pytest.fixture
def root(tmp_path):
    """artifacts/ws/j1/out/model.bin inside; outside/secret.txt next to the root;
    another workspace's fileset artifacts/other/j9/secret.txt."""
    art = tmp_path / "artifacts"
    (art / "ws" / "j1" / "out").mkdir(parents=True)
    (art / "ws" / "j1" / "out" / "model.bin").write_bytes(b"weights" * 100)
    (art / "other" / "j9").mkdir(parents=True)
    (art / "other" / "j9" / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    return art


@pytest.fixture
def app(db_target, root):
    app = create_app({"JOBS_DB": db_target, "TESTING": True, "JOBS_ARTIFACTS_DIR": str(root)})
    yield app
    app.extensions["jobs_db"].close()


@pytest.fixture
def job(api):
    return api.create_job("j1", steps=("train",))


def create(api, name, url, job="j1"):
    return api.client.post(api.url(job, "results", name),
                           json={"artifact_storage_type": "fileset", "artifact_url": url})


def test_create_get_list_and_download(api, job):
    created = create(api, "model", "fileset://ws/j1/out/model.bin")
    assert created.status_code == 201, created.json
    result = created.json
    assert set(result) == {"name", "job", "workspace", "project", "artifact_storage_type",
                           "artifact_url", "download_url", "created_at", "updated_at"}
    assert (result["name"], result["job"], result["workspace"]) == ("model", "j1", "ws")
    assert result["download_url"] == api.url("j1", "results", "model", "download")
    assert api.client.get(api.url("j1", "results", "model")).json == result
    assert api.client.get(api.url("j1", "results")).json == {"data": [result]}

    with api.client.get(result["download_url"]) as download:
        assert download.status_code == 200 and download.data == b"weights" * 100
        assert download.mimetype == "application/octet-stream"
        assert download.headers["Content-Disposition"] == 'attachment; filename="model.bin"'
        assert download.headers["Content-Length"] == "700"


def test_list_sorts_newest_first_by_default(api, job):
    for name in ("r1", "r2", "r3"):
        assert create(api, name, f"fileset://ws/j1/{name}").status_code == 201
    url = api.url("j1", "results")
    names = lambda q="": [r["name"] for r in api.client.get(url + q).json["data"]]
    assert names() == ["r3", "r2", "r1"]
    assert names("?sort=created_at") == ["r1", "r2", "r3"]
    assert names("?sort=-updated_at") == ["r3", "r2", "r1"]
    assert api.client.get(api.url("j1", "results") + "?sort=name").status_code == 422


def test_a_second_result_with_the_same_name_is_409_and_changes_nothing(api, job):
    first = create(api, "model", "fileset://ws/j1/out/model.bin").json
    again = create(api, "model", "fileset://ws/j1/other.bin")
    assert again.status_code == 409
    assert again.json == {"detail": "Result 'model' already exists for job 'j1' in workspace 'ws'."}
    assert api.client.get(api.url("j1", "results", "model")).json == first


def test_the_same_name_under_another_job_is_fine(api, job):
    api.create_job("j2")
    assert create(api, "model", "fileset://ws/j1/out/model.bin").status_code == 201
    assert create(api, "model", "fileset://ws/j2/out/model.bin", job="j2").status_code == 201


def test_missing_job_result_and_artifact_are_404(api, job):
    assert create(api, "model", "fileset://ws/j1/x", job="nope").status_code == 404
    assert api.client.get(api.url("nope", "results")).status_code == 404
    assert api.client.get(api.url("j1", "results", "nope")).json == {
        "detail": "Result 'nope' for job 'j1' not found in workspace 'ws'."}
    assert api.client.get(api.url("j1", "results", "nope", "download")).status_code == 404
    create(api, "gone", "fileset://ws/j1/not/there.bin")
    create(api, "folder", "fileset://ws/j1/out")
    for name in ("gone", "folder"):
        missing = api.client.get(api.url("j1", "results", name, "download"))
        assert missing.status_code == 404 and missing.mimetype == "application/json"


def test_results_are_deleted_with_their_job(api, job, query):
    create(api, "model", "fileset://ws/j1/out/model.bin")
    assert api.client.delete(api.url("j1")).status_code == 204
    assert query("SELECT count(*) FROM results") == [(0,)]
    api.create_job("j1")
    assert api.client.get(api.url("j1", "results")).json == {"data": []}


def test_downloads_stream_in_chunks(api, job, root):
    size = 16 * 1024 * 1024
    with open(root / "ws" / "j1" / "big.bin", "wb") as f:
        f.truncate(size)
    create(api, "big", "fileset://ws/j1/big.bin")
    tracemalloc.start()
    try:
        with api.client.get(api.url("j1", "results", "big", "download")) as response:
            assert response.is_streamed
            received = sum(len(chunk) for chunk in response.response)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received == size
    assert peak < size // 8, peak  # a chunk at a time, never the file


# The traversal corpus: artifact URLs that try to leave {root}/ws/j1. Each one is refused
# when a result is recorded (422, nothing stored) and, written straight into the database
# as if an older version had let it in, refused at download without opening anything.
CORPUS = {
    "dot-dot": "fileset://ws/j1/../../../outside/secret.txt",
    "dot-dot-alone": "fileset://ws/j1/..",
    "dot-dot-inner": "fileset://ws/j1/out/../../../outside/secret.txt",
    "dot-dot-fileset": "fileset://ws/../../outside/secret.txt",
    "dot-dot-workspace": "fileset://../outside/x/secret.txt",
    "dot": "fileset://ws/j1/./out/model.bin",
    "encoded-dots": "fileset://ws/j1/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
    "encoded-dots-upper": "fileset://ws/j1/%2E%2E/%2E%2E/outside/secret.txt",
    "encoded-slash": "fileset://ws/j1/..%2f..%2f..%2foutside%2fsecret.txt",
    "double-encoded": "fileset://ws/j1/%252e%252e/%252e%252e/outside/secret.txt",
    "triple-encoded": "fileset://ws/j1/%25252e%25252e/outside/secret.txt",
    "double-encoded-slash": "fileset://ws/j1/..%252f..%252foutside%252fsecret.txt",
    "overlong-utf8-dots": "fileset://ws/j1/%c0%ae%c0%ae/%c0%ae%c0%ae/outside/secret.txt",
    "overlong-utf8-slash": "fileset://ws/j1/..%c0%af..%c0%afoutside",
    "iis-unicode": "fileset://ws/j1/%u002e%u002e/outside/secret.txt",
    "fullwidth-dots": "fileset://ws/j1/\uff0e\uff0e/\uff0e\uff0e/outside/secret.txt",
    "absolute-in-path": "fileset://ws/j1//etc/passwd",
    "absolute-url": "fileset:///etc/passwd",
    "file-scheme": "file:///etc/passwd",
    "bare-absolute": "/etc/passwd",
    "bare-relative": "../outside/secret.txt",
    "backslashes": "fileset://ws/j1/..\\..\\..\\outside\\secret.txt",
    "mixed-slashes": "fileset://ws/j1/out\\..\\../../outside/secret.txt",
    "windows-drive": "fileset://ws/j1/C:\\Windows\\win.ini",
    "unc": "fileset://ws/j1/\\\\server\\share\\x",
    "nul": "fileset://ws/j1/out/model.bin\x00../../../outside/secret.txt",
    "encoded-nul": "fileset://ws/j1/out/model.bin%00.txt",
    "newline": "fileset://ws/j1/out\n/../../../outside/secret.txt",
    "dot-dot-semicolon": "fileset://ws/j1/..;/..;/outside/secret.txt",
    "trailing-slash": "fileset://ws/j1/out/",
    "leading-space": " fileset://ws/j1/out/model.bin",
    "another-workspace": "fileset://other/j9/secret.txt",
    "another-workspace-dot-dot": "fileset://other/../ws/j1/out/model.bin",
    "home": "fileset://ws/j1/~/../../outside/secret.txt",
}


def count_results(query) -> int:
    return query("SELECT count(*) FROM results")[0][0]


@pytest.mark.parametrize("url", CORPUS.values(), ids=CORPUS.keys())
def test_recording_a_traversal_is_refused_and_stores_nothing(api, job, query, url):
    response = create(api, "evil", url)
    assert response.status_code == 422, response.json
    if "\0" in url:  # no body holding NUL is accepted at all: PostgreSQL could not store it
        assert response.json["detail"][0]["type"] == "json_invalid"
    else:
        assert response.json["detail"][0]["loc"] == ["body", "artifact_url"]
        assert response.json["detail"][0]["type"] in ("artifact_url_invalid",
                                                      "artifact_outside_workspace")
    assert count_results(query) == 0


@pytest.fixture
def opened(monkeypatch):
    """Every regular file the artifacts module opens."""
    import app.artifacts

    files, real_open = [], os.open

    def spying_open(path, flags, *args, **kwargs):
        fd = real_open(path, flags, *args, **kwargs)
        if stat.S_ISREG(os.fstat(fd).st_mode):
            files.append(path)
        return fd

    monkeypatch.setattr(app.artifacts.os, "open", spying_open)
    return files


def plant(query, name, url, workspace="ws", job="j1"):
    """A result row written straight into the database, bypassing the API's checks."""
    [(job_id,)] = query("SELECT id FROM jobs WHERE workspace = ? AND name = ?", (workspace, job))
    query("""INSERT INTO results (job_id, workspace, project, name, artifact_storage_type,
                 artifact_url, created_at, updated_at)
             VALUES (?, ?, '', ?, 'fileset', ?, 'now', 'now')""", (job_id, workspace, name, url))


@pytest.mark.parametrize("url", CORPUS.values(), ids=CORPUS.keys())
def test_a_planted_traversal_is_refused_at_download_without_reading(api, job, query, url,
                                                                    opened, db_target):
    if "\0" in url and db_target.startswith("postgresql"):
        pytest.skip("PostgreSQL's text cannot hold NUL, so no such row can be planted there")
    plant(query, "evil", url)
    response = api.client.get(api.url("j1", "results", "evil", "download"))
    assert response.status_code == 403, response.get_data()
    assert response.mimetype == "application/json" and SECRET not in response.data
    assert opened == []


def link(path, target):
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


# Symbolic links inside the root whose target is outside the job's own fileset.
LINKS = {
    "file-link-out": ("ws/j1/leak.txt", "{tmp}/outside/secret.txt", "fileset://ws/j1/leak.txt"),
    "relative-link-out": ("ws/j1/rel.txt", "../../../outside/secret.txt",
                          "fileset://ws/j1/rel.txt"),
    "dir-link-out": ("ws/j1/dir", "{tmp}/outside", "fileset://ws/j1/dir/secret.txt"),
    "link-to-other-workspace": ("ws/j1/peek.txt", "{root}/other/j9/secret.txt",
                                "fileset://ws/j1/peek.txt"),
    "fileset-is-a-link": ("ws/j2", "{root}/other/j9", "fileset://ws/j2/secret.txt"),
    "workspace-is-a-link": ("ws2", "{root}/other", "fileset://ws2/j9/secret.txt"),
    "link-loop": ("ws/j1/loop", "loop", "fileset://ws/j1/loop"),
}


@pytest.mark.parametrize("where,target,url", LINKS.values(), ids=LINKS.keys())
def test_symbolic_links_out_of_the_fileset_are_refused_without_reading(
        api, job, root, query, opened, where, target, url):
    link(root / where, target.format(tmp=root.parent, root=root))
    workspace = url.split("/")[2]
    if workspace != "ws":
        Api(api.client, workspace).create_job("j9")
    plant(query, "evil", url, workspace=workspace, job="j1" if workspace == "ws" else "j9")
    response = api.client.get(f"/apis/jobs/v2/workspaces/{workspace}/jobs/"
                              f"{'j1' if workspace == 'ws' else 'j9'}/results/evil/download")
    assert response.status_code == 403, response.get_data()
    assert SECRET not in response.data and opened == []


def test_a_link_inside_the_fileset_is_followed(api, job, root):
    link(root / "ws" / "j1" / "latest.bin", "out/model.bin")
    create(api, "latest", "fileset://ws/j1/latest.bin")
    with api.client.get(api.url("j1", "results", "latest", "download")) as response:
        assert response.data == b"weights" * 100


def test_another_workspaces_result_is_not_reachable(api, job, client, root):
    other = Api(client, "other")
    other.create_job("j9")
    assert create(other, "secret", "fileset://other/j9/secret.txt", job="j9").status_code == 201
    assert api.client.get(api.url("j9", "results", "secret")).status_code == 404
    assert api.client.get(api.url("j9", "results", "secret", "download")).status_code == 404


@pytest.mark.parametrize("segment", ["..", "%2e%2e", "%252e%252e", ".", "a%2Fb", "a%00b",
                                     "a%5Cb", "A", "%2Fetc%2Fpasswd"])
def test_hostile_result_names_in_the_path_read_nothing(api, job, segment, opened):
    for suffix in ("", "/download"):
        response = api.client.get(api.url("j1", "results", segment) + suffix)
        assert response.status_code in (404, 422), (segment, suffix, response.status_code)
        assert response.mimetype == "application/json"
    assert opened == []
