"""Both backends implement the one storage interface (app/db/interface.py), and behave alike
around a commit (app/db/commit.py)."""

import inspect

import pytest

from app.db import Backend, Connection, Pool, backend_for, connect, open_pool, postgres, sqlite


def _members(protocol) -> dict:
    return {name: member for name, member in vars(protocol).items()
            if callable(member) and not name.startswith("_")}


def _callable_as_declared(declared, implemented, skip_self: bool) -> list[str]:
    """Whether every call the Protocol allows binds to the implementation: positional-only
    parameters by position, the others by name; with every optional one, and without."""
    params = list(inspect.signature(declared).parameters.values())[1:]
    target = inspect.signature(implemented)
    problems = []
    for given in (params, [p for p in params if p.default is inspect.Parameter.empty]):
        args = [p.name for p in given if p.kind is inspect.Parameter.POSITIONAL_ONLY]
        kwargs = {p.name: p.name for p in given if p.kind is not inspect.Parameter.POSITIONAL_ONLY}
        try:
            target.bind(*(["self"] if skip_self else []), *args, **kwargs)
        except TypeError as exc:
            problems.append(f"{declared.__qualname__}{[p.name for p in given]}: {exc}")
    return problems


@pytest.mark.parametrize("implementation", [sqlite.Database, postgres.Database],
                         ids=["sqlite", "postgresql"])
def test_each_connection_class_has_the_interfaces_methods(implementation):
    problems = []
    for name, declared in _members(Connection).items():
        found = getattr(implementation, name, None)
        if not callable(found):
            problems.append(f"{name}: missing")
            continue
        problems += _callable_as_declared(declared, found, skip_self=True)
    for name in ("dialect", "IntegrityError"):
        if not hasattr(implementation, name):
            problems.append(f"{name}: missing")
    assert problems == []


@pytest.mark.parametrize("implementation", [sqlite.ConnectionPool, postgres.ConnectionPool],
                         ids=["sqlite", "postgresql"])
def test_each_pool_class_has_the_interfaces_methods(implementation):
    problems = []
    for name, declared in _members(Pool).items():
        problems += _callable_as_declared(declared, getattr(implementation, name), True)
    assert problems == []


@pytest.mark.parametrize("backend", [sqlite, postgres], ids=["sqlite", "postgresql"])
def test_each_backend_has_the_interfaces_functions(backend):
    assert isinstance(backend, Backend)
    problems = []
    for name, declared in _members(Backend).items():
        problems += _callable_as_declared(declared, getattr(backend, name), skip_self=False)
    assert problems == []


def test_the_backend_is_chosen_by_the_target_alone():
    assert backend_for("postgresql://u@h/db") is postgres
    assert backend_for("postgres://u@h/db") is postgres
    assert backend_for("/var/lib/jobs/jobs.db") is sqlite
    assert backend_for(":memory:") is sqlite
    assert isinstance(open_pool("postgresql://u@h/db"), Pool)  # a pool opens nothing yet


def test_live_connections_and_pools_satisfy_the_interface(db_target):
    db = connect(db_target)
    try:
        assert isinstance(db, Connection)
    finally:
        db.close()
    pool = open_pool(db_target)
    try:
        assert isinstance(pool, Pool)
        pooled = pool.get()
        assert isinstance(pooled, Connection)
        pool.release(pooled)
    finally:
        pool.close()


def test_callbacks_run_after_the_outer_commit_and_an_undone_savepoint_drops_its_own(db_target):
    db = connect(db_target)
    ran = []
    try:
        with db.transaction():
            db.after_commit.append(lambda: ran.append("outer"))
            db.execute("INSERT INTO service_keys (name, value) VALUES (?, ?)", ["t-outer", "1"])
            with pytest.raises(RuntimeError):
                with db.transaction():
                    db.after_commit.append(lambda: ran.append("undone"))
                    db.execute("INSERT INTO service_keys (name, value) VALUES (?, ?)",
                               ["t-undone", "1"])
                    raise RuntimeError
            with db.transaction():
                db.after_commit.append(lambda: ran.append("inner"))
            assert ran == []  # nothing is announced before the outer commit
        assert ran == ["outer", "inner"]
        with pytest.raises(RuntimeError):
            with db.transaction():
                db.after_commit.append(lambda: ran.append("rolled back"))
                raise RuntimeError
        assert ran == ["outer", "inner"]
        assert db.after_commit == []
        names = [r[0] for r in db.execute(
            "SELECT name FROM service_keys WHERE name LIKE 't-%' ORDER BY name").fetchall()]
        assert names == ["t-outer"]
    finally:
        with db.transaction():
            db.execute("DELETE FROM service_keys WHERE name LIKE 't-%'")
        db.close()
