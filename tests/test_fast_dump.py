"""The plain dumpers and loaders give exactly what the marshmallow schemas give."""

import pytest
from marshmallow import INCLUDE, Schema, ValidationError, fields, post_load

import schemas
from app import store
from app.http import db


@pytest.fixture
def stored(api):
    api.create_job("j1", steps=("train",), project="p", description="d",
                   ownership={"o": 1}, custom_fields={"c": [1, 2]})
    api.put_task("j1", "train", "t0", {"status": "active", "status_details": {"p": {"q": 1}},
                                       "error_details": {"e": None}, "error_stack": "s"})
    with api.client.application.app_context():
        conn = db()
        return {
            "job": store.get_job(conn, "ws", "j1"),
            "step": store.get_step(conn, "ws", "j1", "train"),
            "task": store.get_task(conn, "ws", "j1", "train", "t0"),
        }


@pytest.mark.parametrize("kind", ["job", "step", "task"])
def test_plain_dump_equals_schema_dump(stored, kind):
    schema = getattr(schemas, kind)
    fast = getattr(schemas, f"dump_{kind}")
    assert fast(stored[kind]) == schema.dump(stored[kind])
    assert list(fast(stored[kind])) == list(schema.dump(stored[kind]))  # same order


def test_a_schema_with_a_nested_field_is_refused():
    class WithNested(Schema):
        inner = fields.Nested(Schema)

    with pytest.raises(TypeError, match="not a plain field"):
        schemas.plain_dumper(WithNested())


# ---- plain loaders: the same result as schema.load, or the same errors ------------------

VALUES = [missing := object(), None, "", "active", "paused", "created", "nope", "ACTIVE", 0, 1.5,
          True, [], ["active"], {}, {"progress": 1}, {"a": {"b": [1, None]}}, {"1": None},
          b"active"]


def outcome(load, data):
    try:
        result = load(data)
    except ValidationError as exc:
        return "error", exc.messages
    return "ok", result, list(result)  # the order of keys too


def bodies(schema):
    """Every field alone with every value, everything at once, and unknown keys beside."""
    keys = [f.data_key or name for name, f in schema.load_fields.items()]
    for key in keys:
        for value in VALUES:
            yield {} if value is missing else {key: value}
            yield {} if value is missing else {key: value, "unknown": 1}
    yield {"status": "active", "status_details": {"p": 1}, "error_details": {"e": "x"},
           "error_stack": "trace", "extra": [1]}
    yield {"status_details": {"p": 1}, "status": "completed"}  # another order than the fields'
    yield from ([], "x", None, 1, ["status"], {1: "active"})


@pytest.mark.parametrize("name", ["task_update", "step_status_update"])
def test_the_plain_loader_gives_what_the_schema_gives(name):
    schema = getattr(schemas, name)
    fast = schemas.plain_loaders[schema]
    for body in bodies(schema):
        assert outcome(fast, body) == outcome(schema.load, body), body


def test_the_plain_loader_copies_objects_as_marshmallow_does():
    body = {"status_details": {"p": 1}}
    loaded = schemas.plain_loaders[schemas.task_update](body)
    assert loaded == body and loaded["status_details"] is not body["status_details"]


@pytest.mark.parametrize("schema", [
    type("WithValidator", (Schema,), {"s": fields.String(validate=lambda v: True)})(),
    type("WithNested", (Schema,), {"n": fields.Nested(Schema)})(),
    type("WithInteger", (Schema,), {"i": fields.Integer()})(),
    type("Includes", (Schema,), {"Meta": type("Meta", (), {"unknown": INCLUDE})})(),
    type("WithHook", (Schema,), {"s": fields.String(),
                                 "h": post_load(lambda self, data, **kw: data)})(),
    type("WithValues", (Schema,), {"d": fields.Dict(values=fields.String())})(),
])
def test_a_schema_that_is_not_plain_gets_no_plain_loader(schema):
    with pytest.raises(TypeError):
        schemas.plain_loader(schema)
