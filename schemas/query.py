"""Query strings of the list endpoints: paging, sorting and filters."""

from marshmallow import EXCLUDE, Schema, fields, validate

from .fields import StatusField

# Beyond this a page's offset no longer fits SQLite's integers; no list is that long.
MAX_PAGE = 1_000_000_000
SORTS = ["created_at", "-created_at", "updated_at", "-updated_at", "name", "-name"]


class ListQuerySchema(Schema):
    """`filter[status]` (and the steps list's `filter[job]`) may repeat or hold a
    comma-separated list (the official client sends the latter); other `filter[...]` keys
    hold one value."""

    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=10, validate=validate.Range(min=1, max=1000))
    sort = fields.String(validate=validate.OneOf(SORTS))
    status = fields.List(StatusField(), data_key="filter[status]")
    project = fields.String(data_key="filter[project]")
    name = fields.String(data_key="filter[name]")
    source = fields.String(data_key="filter[source]")


class JobListQuerySchema(ListQuerySchema):
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(SORTS))


class StepListQuerySchema(ListQuerySchema):
    sort = fields.String(load_default="created_at", validate=validate.OneOf(SORTS))
    # Several jobs at once: the dashboard counts a whole page of jobs' steps in one request.
    job = fields.List(fields.String(), data_key="filter[job]")


FILTERS = ("status", "project", "name", "source", "job")
