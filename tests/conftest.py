import os
import shutil
import tempfile
from contextlib import contextmanager

import pytest

from app import create_app
from app.db import connect, is_postgres, migrate
from app.db.web import open_app_pool

from .needs import unavailable
from .pg import HOW_TO_ENABLE, PostgresServer, empty_tables, find_bindir

API = "/apis/jobs/v2/workspaces"
# Every step carries an executor (upstream requires one); a provider is all it needs here.
EXECUTOR = {"provider": "cpu", "container": {"image": "python:3.11"}}


def platform_spec(*steps: str) -> dict:
    """A job's platform_spec with one step, on EXECUTOR, per name."""
    return {"steps": [{"name": s, "executor": EXECUTOR} for s in steps]}


SHM = "/dev/shm"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Tests' files (their databases above all) in memory where the machine has a tmpfs:
    each test's SQLite file is checkpointed, synced and deleted as it ends, which costs far
    more on a disk (the quick loop: 80 s there, 67 s here). Killing a process, which the
    durability tests do, loses nothing either way. `--basetemp DIR` still chooses."""
    if config.getoption("markexpr") != "not slow":  # the fuzzing runs (see setup.cfg)
        for plugin in ("_hypothesis_pytestplugin", "schemathesis.pytest.plugin"):
            config.pluginmanager.import_plugin(plugin)
    if config.option.basetemp is None and os.access(SHM, os.W_OK):
        config.option.basetemp = config._jobs_basetemp = tempfile.mkdtemp(
            prefix="jobs-tests-", dir=SHM)


def pytest_unconfigure(config):
    made = getattr(config, "_jobs_basetemp", None)
    if made:
        shutil.rmtree(made, ignore_errors=True)


# Slow through and through, and costly even to collect (schemathesis builds its tests from
# the document at import): the quick loop does not import them at all.
SLOW_MODULES = {"test_fuzz.py"}


def pytest_ignore_collect(collection_path, config):
    if collection_path.name in SLOW_MODULES and config.getoption("markexpr") == "not slow":
        return True
    return None


# Tests that start processes of Python (a pool of 8 importing the app; `lint-imports` once
# per case) are slow too: each costs seconds, and the quick loop starts none. CI runs them.
STARTS_PROCESSES = {
    "test_db.py::test_several_processes_migrating_a_new_file_at_once_apply_each_migration_once",
    "test_layers.py::test_a_forbidden_import_breaks_a_contract",
    "test_layers.py::test_the_store_imports_without_flask",
}


def pytest_collection_modifyitems(items):
    """A test that needs the PostgreSQL server, or starts processes, is slow, however it
    asks for them."""
    for item in items:
        if ("postgres" in getattr(item, "fixturenames", ())
                or f"{item.path.name}::{getattr(item, 'originalname', '')}" in STARTS_PROCESSES):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def postgres():
    """One PostgreSQL server for the whole run, started from the machine's binaries."""
    bindir = find_bindir()
    if bindir is None:
        unavailable(HOW_TO_ENABLE)
    server = PostgresServer(bindir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres):
    """The suite's database, migrated once; each test empties its tables first."""
    url = postgres.create_database("jobs_suite")
    migrate(url)
    return url


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """A migrated SQLite file, made once: copying it costs far less than migrating anew."""
    path = tmp_path_factory.mktemp("template") / "jobs.db"
    migrate(str(path))
    return path


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "jobs.db"


# The PostgreSQL run starts a server: it belongs to the full suite, not the quick loop.
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def db_target(request, db_path, migrated_sqlite):
    """Where the app under test keeps its state: each test runs once on each backend."""
    if request.param == "sqlite":
        shutil.copyfile(migrated_sqlite, db_path)
        return str(db_path)
    url = request.getfixturevalue("postgres_url")
    empty_tables(url)
    return url


@contextmanager
def serving(app, target: str):
    """`app`, built once, over the database at `target` for one test; its settings as they
    were afterwards. Building an app (werkzeug compiles every route) costs more than most
    tests do, so the suite builds few and hands each test a fresh database."""
    config = dict(app.config)  # a test may change a setting: it is undone after
    # The suite's one PostgreSQL database, emptied between tests, keeps its warm pool; an
    # SQLite file is new to each test, and so is its pool.
    same = target == app.config["JOBS_DB"] and is_postgres(target)
    if not same:
        app.config["JOBS_DB"] = target
        app.extensions["jobs_db"].close()
        open_app_pool(app)
    try:
        yield app
    finally:
        if not same:
            app.extensions["jobs_db"].close()
        app.extensions.pop("jobs_cursor_key", None)  # the database's own, read once per app
        app.config.clear()
        app.config.update(config)


@pytest.fixture(scope="session")
def built_apps():
    """One app per backend for the whole run."""
    built: dict = {}
    yield built
    for app in built.values():
        app.extensions["jobs_db"].close()


@pytest.fixture
def app(db_target, built_apps):
    kind = "postgresql" if is_postgres(db_target) else "sqlite"
    if kind not in built_apps:
        # No fsync per commit, as the suite's PostgreSQL runs with fsync=off: what a crash
        # keeps is the durability tests' matter, and they run gunicorn as configured.
        built_apps[kind] = create_app({"JOBS_DB": db_target, "TESTING": True,
                                       "JOBS_SQLITE_SYNCHRONOUS": "normal"})
    with serving(built_apps[kind], db_target) as app:
        yield app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def query(db_target):
    """Run SQL on the database behind the API, on either backend: to check what the API
    cannot show, or to plant what it would refuse."""
    db = connect(db_target)

    def run(sql: str, params=()) -> list[tuple]:
        cursor = db.execute(sql, params)
        return [] if cursor.description is None else [tuple(row) for row in cursor.fetchall()]

    yield run
    db.close()


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


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for a test module of the dashboard (tests/browser.py)."""
    from playwright import sync_api

    from .browser import launch

    with sync_api.sync_playwright() as playwright:
        browser = launch(playwright)
        yield browser
        browser.close()
