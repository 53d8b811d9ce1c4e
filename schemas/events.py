"""The change feed: its query and its answer (docs/api.md, "Watching for changes")."""

from marshmallow import EXCLUDE, Schema, fields, validate

from .fields import Name

MAX_JOBS = 100  # jobs named in one `job` filter
MAX_LIMIT = 1000
MAX_WAIT = 60
MAX_CURSOR = 256
KINDS = ("job", "step", "task")
TYPES = ("created", "updated", "deleted")


class EventQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    after = fields.String(validate=validate.Length(min=1, max=MAX_CURSOR))
    job = fields.List(Name(), validate=validate.Length(min=1, max=MAX_JOBS))
    kind = fields.List(fields.String(validate=validate.OneOf(KINDS)),
                       validate=validate.Length(min=1, max=len(KINDS)))
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_LIMIT))
    wait = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_WAIT))


class EventSchema(Schema):
    id = fields.String(metadata={"description": "The event's cursor (opaque)"})
    kind = fields.String(validate=validate.OneOf(KINDS))
    type = fields.String(validate=validate.OneOf(TYPES))
    workspace = fields.String()
    job = fields.String()
    step = fields.String(allow_none=True)
    task = fields.String(allow_none=True)
    from_ = fields.String(data_key="from", allow_none=True)
    to = fields.String(allow_none=True)
    db_version = fields.Integer()
    at = fields.String(metadata={"description": "Commit time, RFC 3339 with microseconds, Z"})
    by = fields.String(allow_none=True)
    object = fields.Dict(metadata={"description": "The entity as its GET answers it after "
                                                  "the write; absent on delete"})


class EventPageSchema(Schema):
    data = fields.List(fields.Nested(EventSchema))
    next = fields.String(metadata={"description": "Pass as `after` to continue"})
