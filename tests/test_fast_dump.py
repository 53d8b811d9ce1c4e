"""The plain dumpers give exactly what the marshmallow schemas give."""

import pytest
from marshmallow import Schema, fields

import schemas
from app import jobs, steps, store, tasks
from app.http import db
from schemas.job import CountedStepSchema, JobSchema
from schemas.task import TaskSchema


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
            "step": store.counted(conn, store.get_step(conn, "ws", "j1", "train")),
            "task": store.get_task(conn, "ws", "j1", "train", "t0"),
        }


@pytest.mark.parametrize("kind", ["job", "step", "task"])
def test_plain_dump_equals_schema_dump(stored, kind):
    schema = {"job": JobSchema, "step": CountedStepSchema, "task": TaskSchema}[kind]()
    fast = getattr({"job": jobs, "step": steps, "task": tasks}[kind], f"dump_{kind}")
    assert fast(stored[kind]) == schema.dump(stored[kind])
    assert list(fast(stored[kind])) == list(schema.dump(stored[kind]))  # same order


def test_a_schema_with_a_nested_field_is_refused():
    class WithNested(Schema):
        inner = fields.Nested(Schema)

    with pytest.raises(TypeError, match="not a plain field"):
        schemas.plain_dumper(WithNested())
