"""History entries and their pages."""

from marshmallow import EXCLUDE, Schema, fields, validate

from .fields import StatusField, Timestamp
from .job import PaginationSchema
from .query import MAX_PAGE


class HistoryEntrySchema(Schema):
    entity_kind = fields.String(metadata={"enum": ["job", "step", "task"]})
    entity_id = fields.String()
    entity_name = fields.String()
    # `from` is null when the entity was created.
    from_ = StatusField(data_key="from", attribute="from", allow_none=True)
    to = StatusField()
    at = Timestamp()
    by = fields.String(allow_none=True)
    db_version = fields.Integer()


class HistoryPageSchema(Schema):
    data = fields.List(fields.Nested(HistoryEntrySchema))
    pagination = fields.Nested(PaginationSchema)


class PageQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=10, validate=validate.Range(min=1, max=1000))
