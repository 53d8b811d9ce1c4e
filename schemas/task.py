"""The seed's PlatformJobTaskUpdate (request) and PlatformJobTask (response)."""

from marshmallow import Schema, fields

from .fields import Body, StatusField, progress, stamps
from .job import PaginationSchema


class TaskUpdateSchema(Body):
    """Every field optional; what a field's absence means is decided by the store."""

    status = StatusField()
    status_details = fields.Dict(keys=fields.String())
    error_details = fields.Dict(keys=fields.String())
    error_stack = fields.String()


class TaskSchema(Schema):
    name = fields.String()
    workspace = fields.String()
    project = fields.String()
    step_id = fields.String()
    status, status_details, error_details = progress()
    error_stack = fields.String()
    id = fields.String()
    created_at, created_by, updated_at, updated_by = stamps()
    entity_id = fields.String(attribute="id", dump_only=True)
    parent = fields.String(attribute="step_id", dump_only=True)
    db_version = fields.Integer()


class TaskListSchema(Schema):
    """Every task ({"data": [...]}) or, when the query asked for a page, a page: then with
    `pagination`, `sort` and `filter` as in the other lists."""

    data = fields.List(fields.Nested(TaskSchema))
    pagination = fields.Nested(PaginationSchema, metadata={"optional": True})
    sort = fields.String(metadata={"optional": True})
    filter = fields.Dict(metadata={"optional": True})
