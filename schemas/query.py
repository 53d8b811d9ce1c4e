"""Query strings of the list endpoints: paging, sorting and filters."""

import re

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .errors import error, validation_errors
from .fields import NAME_PATTERN, Instant, StatusField, valid_name

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


class FilterSchema(Schema.from_dict({
        **_operators("name"), **_operators("source"),
        **_range("created_at"), **_range("updated_at")})):
    """`filter[status]` (and the steps list's `filter[job]`) may repeat or hold a
    comma-separated list (the official client sends the latter), as may `$in` and `$nin`;
    other `filter[...]` keys hold one value."""

    class Meta:
        unknown = EXCLUDE

    # Never empty: query_args splits a value on commas, which gives at least one item.
    status = fields.List(StatusField(), data_key="filter[status]", metadata={"minItems": 1})
    project = fields.String(data_key="filter[project]")
    name = fields.String(data_key="filter[name]")
    source = fields.String(data_key="filter[source]")
    workspace = fields.String(data_key="filter[workspace]")


class ListQuerySchema(FilterSchema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    page_size = fields.Integer(load_default=10, validate=validate.Range(min=1, max=1000))
    sort = fields.String(validate=validate.OneOf(SORTS))


# A custom field a filter can match: a string of at most FIELD_VALUE_MAX characters under a
# key of at most FIELD_KEY_MAX (app/store/fields.py indexes exactly those; PostgreSQL's B-tree
# bounds an index entry).
FIELD_VALUE_MAX, FIELD_KEY_MAX = 255, 63
_CUSTOM_KEY = re.compile(r"filter\[custom_fields\.([^\[\]]*)\](?:\[\$(\w+)\])?\Z")
_value = validate.Length(max=FIELD_VALUE_MAX)
_CUSTOM_OPS = {
    "eq": fields.String(validate=_value),
    "in": fields.List(fields.String(validate=_value), validate=_choices),
    "like": fields.String(validate=[_like, _value]),
}
CUSTOM_FIELDS_HELP = (
    "`filter[custom_fields.<key>]=v` (also `[$in]=a,b` and `[$like]=p`) keeps the jobs whose "
    "`custom_fields` hold the string `v` under the top-level `<key>`; `<key>` follows the "
    f"name pattern, and values of more than {FIELD_VALUE_MAX} characters never match.")


def custom_field_filter(key: str, values: list[str]) -> tuple[tuple | None, list[dict]]:
    """`filter[custom_fields.<key>][$op]=...` as (key, op, value), or the errors it has. None
    and no errors: the query key is no custom field filter at all."""
    found = _CUSTOM_KEY.match(key)
    if found is None:
        return None, []
    name, op = found.group(1), found.group(2) or "eq"
    if op not in _CUSTOM_OPS:
        return None, [error("extra_forbidden", ["query", key], f"Unknown filter '{key}'.",
                            values[-1])]
    if not valid_name(name):
        return None, [error("string_pattern_mismatch", ["query", key],
                            f"The custom field '{name}' must match the name pattern.", name,
                            {"pattern": NAME_PATTERN})]
    raw = [p for v in values for p in v.split(",")] if op == "in" else values[-1]
    try:
        return (name, op, _CUSTOM_OPS[op].deserialize(raw)), []
    except ValidationError as exc:
        return None, validation_errors({key: exc.messages}, "query", {key: raw})


class JobFilterSchema(FilterSchema):
    """The jobs' filters, custom fields included (app.http.query_args reads those keys
    through `patterned`: they are not known ahead, so no field declares them)."""

    patterned = staticmethod(custom_field_filter)


class JobListQuerySchema(ListQuerySchema, JobFilterSchema):
    sort = fields.String(load_default="-created_at", validate=validate.OneOf(JOB_SORTS))


class JobCountsQuerySchema(JobFilterSchema):
    """`GET .../jobs/-/counts`: the list's filters, nothing else."""


BULK_MAX = 1000


class BulkQuerySchema(JobFilterSchema):
    """`POST .../jobs/-/{action}`: the list's filters (at least one: app/bulk.py), how many
    jobs at most, and whether only to say what would happen."""

    limit = fields.Integer(load_default=BULK_MAX, validate=validate.Range(min=1, max=BULK_MAX))
    dry_run = fields.Boolean(load_default=False)


TASK_SORT = "name"  # a page of tasks when the query asks for none: name order is an index's


class TaskListQuerySchema(Schema.from_dict(_operators("name"))):
    """`GET .../steps/{step}/tasks`: without any of these the whole list, as upstream answers
    it; with any of them a page, like the other lists (app/tasks.py). So no field loads a
    default here: `paged` fills them in once the query has asked for a page."""

    class Meta:
        unknown = EXCLUDE

    status = fields.List(StatusField(), data_key="filter[status]", metadata={"minItems": 1})
    name = fields.String(data_key="filter[name]")
    page = fields.Integer(validate=validate.Range(min=1, max=MAX_PAGE), metadata={"default": 1})
    page_size = fields.Integer(validate=validate.Range(min=1, max=1000),
                               metadata={"default": 10})
    sort = fields.String(validate=validate.OneOf(SORTS), metadata={"default": TASK_SORT})


def paged(query: dict) -> dict | None:
    """A loaded task-list query with its page's defaults, or None when it asked for no page."""
    if not query:
        return None
    return {"page": 1, "page_size": 10, "sort": TASK_SORT, **query}


class StepListQuerySchema(ListQuerySchema):
    sort = fields.String(load_default="created_at", validate=validate.OneOf(SORTS))
    # Several jobs at once: the dashboard counts a whole page of jobs' steps in one request.
    job = fields.List(fields.String(), data_key="filter[job]", metadata={"minItems": 1})

