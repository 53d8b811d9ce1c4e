"""Query strings of the list endpoints: paging, sorting and filters."""

import re

from marshmallow import EXCLUDE, Schema, fields, validate

from .fields import Instant, StatusField

# Beyond this a page's offset no longer fits SQLite's integers; no list is that long.
MAX_PAGE = 1_000_000_000
SORTS = ["created_at", "-created_at", "updated_at", "-updated_at", "name", "-name"]
JOB_SORTS = [*SORTS, "source", "-source"]
MAX_CHOICES = 100  # values in one $in / $nin

# A LIKE pattern: `%` and `_` are wildcards, `\` escapes the next `%`, `_` or `\`.
LIKE_PATTERN = r"^(?:[^\\]|\\[%_\\])*$"
_like = validate.Regexp(re.compile(LIKE_PATTERN[:-1] + r"\Z", re.S),
                        error="A '\\' must be followed by '%', '_' or '\\'.")
_choices = validate.Length(min=1, max=MAX_CHOICES)


def _operators(field: str) -> dict:
    """Upstream's operator forms of a text filter: filter[field][$eq|$in|$nin|$like]."""
    key = f"filter[{field}]"
    return {
        f"{field}__eq": fields.String(data_key=f"{key}[$eq]"),
        f"{field}__in": fields.List(fields.String(), data_key=f"{key}[$in]", validate=_choices),
        f"{field}__nin": fields.List(fields.String(), data_key=f"{key}[$nin]", validate=_choices),
        f"{field}__like": fields.String(data_key=f"{key}[$like]", validate=_like, metadata={
            "pattern": LIKE_PATTERN,  # the validator's own ends in \Z, which JSON Schema lacks
            "description": "SQL LIKE, case-sensitive: % any run, _ one character, \\ escapes"}),
    }


def _range(field: str) -> dict:
    """filter[field][$gte|$lte], RFC 3339 timestamps."""
    return {f"{field}__{op}": Instant(data_key=f"filter[{field}][${op}]") for op in ("gte", "lte")}


class ListQuerySchema(Schema.from_dict({
        **_operators("name"), **_operators("source"),
        **_range("created_at"), **_range("updated_at")})):
    """`filter[status]` (and the steps list's `filter[job]`) may repeat or hold a
    comma-separated list (the official client sends the latter), as may `$in` and `$nin`;
    other `filter[...]` keys hold one value."""

    class Meta:
        unknown = EXCLUDE

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=10, validate=validate.Range(min=1, max=1000))
    sort = fields.String(validate=validate.OneOf(SORTS))
    # Never empty: query_args splits a value on commas, which gives at least one item.
    status = fields.List(StatusField(), data_key="filter[status]", metadata={"minItems": 1})
    project = fields.String(data_key="filter[project]")
    name = fields.String(data_key="filter[name]")
    source = fields.String(data_key="filter[source]")
    workspace = fields.String(data_key="filter[workspace]")


class JobListQuerySchema(ListQuerySchema):
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(JOB_SORTS))


class StepListQuerySchema(ListQuerySchema):
    sort = fields.String(load_default="created_at", validate=validate.OneOf(SORTS))
    # Several jobs at once: the dashboard counts a whole page of jobs' steps in one request.
    job = fields.List(fields.String(), data_key="filter[job]", metadata={"minItems": 1})

