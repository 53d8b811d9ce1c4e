"""The OpenAPI 3.1 document at /openapi.json, and an interactive page at /docs.

The document is generated from the marshmallow schemas with apispec's marshmallow plugin
(the schemas already describe every body, so nothing is written twice), using the seed's
component names. The first endpoints' operations are listed once below; newer views route
and describe themselves in one place with `documented` (results, logs, execution profiles).
A test checks that every route under /apis is described. Swagger UI's files come from the
installed `swagger_ui_bundle` package.
"""

import re
from functools import cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, jsonify, redirect, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from schemas.errors import HTTPValidationErrorSchema, ValidationErrorSchema
from schemas.executor import (INT_TEXT_PATTERN, POSITIVE_INT_TEXT_PATTERN,
                              ContainerExecutorSchema, Executor, LaxInteger,
                              SubprocessExecutorSchema)
from schemas.fields import NAME_PATTERN, StatusField, Timestamp
from schemas.history import HistoryEntrySchema, HistoryPageSchema
from schemas.job import (JobCreateSchema, JobPageSchema, JobSchema, JobStatusSchema,
                         ListedStepSchema, PaginationSchema, PlatformSpecSchema,
                         StepPageSchema, StepSchema, StepSpecSchema, StepStatusSchema,
                         StepStatusUpdateSchema, TaskStatusSchema)
from schemas.query import JOB_SORTS, LIKE_PATTERN, MAX_CHOICES, MAX_PAGE, SORTS
from schemas.task import TaskListSchema, TaskSchema, TaskUpdateSchema
from statemachine import Status

PREFIX = "/apis/jobs/v2/workspaces/{workspace}"

# Component name -> schema, leaves before the schemas that nest them (the seed's names).
COMPONENTS = {
    "PlatformJobTask": TaskSchema, "PlatformJobTaskUpdate": TaskUpdateSchema,
    "ValidationError": ValidationErrorSchema, "HTTPValidationError": HTTPValidationErrorSchema,
    "PlatformJobStepSpec": StepSpecSchema, "PlatformJobSpec": PlatformSpecSchema,
    "PlatformJobCreate": JobCreateSchema, "PlatformJobResponse": JobSchema,
    "PlatformJobStep": StepSchema, "PlatformJobStepWithContext": ListedStepSchema,
    "PlatformJobStepStatusUpdate": StepStatusUpdateSchema, "Pagination": PaginationSchema,
    "PlatformJobResponsesPage": JobPageSchema, "PlatformJobStepWithContextsPage": StepPageSchema,
    "PlatformJobTaskStatusResponse": TaskStatusSchema,
    "PlatformJobStepStatusResponse": StepStatusSchema,
    "PlatformJobStatusResponse": JobStatusSchema,
    "PlatformJobListTaskResponse": TaskListSchema, "HistoryEntry": HistoryEntrySchema,
    "HistoryPage": HistoryPageSchema, "ContainerExecutionProvider": ContainerExecutorSchema,
    "SubprocessExecutionProvider": SubprocessExecutorSchema,
}
# Answers always carry every field: their components say so.
ANSWERS = {
    "PlatformJobTask", "PlatformJobResponse", "PlatformJobStep", "PlatformJobStepWithContext",
    "Pagination", "PlatformJobResponsesPage", "PlatformJobStepWithContextsPage",
    "PlatformJobTaskStatusResponse", "PlatformJobStepStatusResponse",
    "PlatformJobStatusResponse", "PlatformJobListTaskResponse", "HistoryEntry", "HistoryPage",
}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _status_ref(converter, field, **kwargs) -> dict:
    return {"$ref": "#/components/schemas/PlatformJobStatus"} if isinstance(field, StatusField) else {}


def _executor(converter, field, **kwargs) -> dict:
    """An executor is one of the providers' objects, told apart by `provider`."""
    if not isinstance(field, Executor):
        return {}
    return {"oneOf": [_ref("ContainerExecutionProvider"), _ref("SubprocessExecutionProvider")],
            "discriminator": {"propertyName": "provider"}}


def _lax_integer(converter, field, ret, **kwargs) -> dict:
    """What pydantic reads as a whole number: one, true/false, or its digits as text."""
    if not isinstance(field, LaxInteger):
        return {}
    positive = ret.pop("minimum", None) == 1  # num_nodes; no other bound is used
    ret.pop("type", None)
    forms = [{"type": "integer", **({"minimum": 1} if positive else {})},
             {"const": True} if positive else {"type": "boolean"},
             {"type": "string", "pattern": POSITIVE_INT_TEXT_PATTERN if positive
              else INT_TEXT_PATTERN}]
    return {"anyOf": forms + ([{"type": "null"}] if field.allow_none else [])}


def _name(param: str) -> dict:
    return {"name": param, "in": "path", "required": True,
            "schema": {"type": "string", "pattern": NAME_PATTERN}}


def _json(schema: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


json_answer = _json  # for the views that describe themselves

ERRORS = {
    "404": _json("ErrorDetail", "No such workspace, job, step or task"),
    "413": _json("ErrorDetail", "Body over JOBS_MAX_BODY_BYTES"),
    "415": _json("ErrorDetail", "Body is not JSON"),
    "422": _json("HTTPValidationError", "Validation Error, or a move the rules refuse"),
}
PRECONDITION = {"412": _json("ErrorDetail", "If-Match no longer holds")}
_ENTITY_TAG = r'(W/)?"[\x21\x23-\x7e]*"'  # RFC 9110, ASCII (app.http also takes obs-text)
IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
            "schema": {"type": "string", "pattern":
                       rf"^[ \t]*(\*|{_ENTITY_TAG}([ \t]*,[ \t]*{_ENTITY_TAG})*)[ \t]*$"},
            "description": 'A quoted version, "<db_version>" (or a comma-separated list of '
                           'them), or *; any other form is a 422'}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255,
               "pattern": "^[!-~]([ -~]*[!-~])?$"},  # HTTP strips spaces at either end
    "description": "The same key and request within 24 h get the first answer again"}
PAGING = [
    {"name": "page", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}},
    {"name": "page_size", "in": "query",
     "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 10}},
]


def _list_query(sorts: list[str]) -> list[dict]:
    """A list's query parameters: paging, sort, plain filters and upstream's operator forms."""
    text, choices = {"type": "string"}, {
        "type": "array", "minItems": 1, "maxItems": MAX_CHOICES, "items": {"type": "string"}}
    operators = [
        *({"name": f"filter[{field}][${op}]", "in": "query", "schema": text}
          for field in ("name", "source") for op in ("eq",)),
        *({"name": f"filter[{field}][${op}]", "in": "query", "style": "form", "explode": False,
           "schema": choices} for field in ("name", "source") for op in ("in", "nin")),
        *({"name": f"filter[{field}][$like]", "in": "query",
           "schema": {"type": "string", "pattern": LIKE_PATTERN},
           "description": "SQL LIKE, case-sensitive: % any run, _ one character, \\ escapes"}
          for field in ("name", "source")),
        *({"name": f"filter[{field}][${op}]", "in": "query",
           "schema": {"type": "string", "format": "date-time"}}
          for field in ("created_at", "updated_at") for op in ("gte", "lte")),
    ]
    return PAGING + [
        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": sorts}},
        {"name": "filter[status]", "in": "query", "style": "form", "explode": False,
         "schema": {"type": "array", "minItems": 1, "items": _ref("PlatformJobStatus")}},
        *({"name": f"filter[{key}]", "in": "query", "schema": text}
          for key in ("project", "name", "source", "workspace")),
        *operators,
    ]


LIST_QUERY = _list_query(SORTS)
BODY_ERRORS = {**ERRORS, **PRECONDITION}
# Reads that pollers repeat: the answer's ETag in If-None-Match gets a 304 while it holds.
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False,
                 "schema": {"type": "string"}, "description": "An ETag from an earlier answer"}
UNCHANGED = {"304": {"description": "Unchanged since the ETag in If-None-Match"}}


def _polled(schema: str, text: str) -> dict:
    return {**_json(schema, text), "headers": {"ETag": {"schema": {"type": "string"},
                                                          "description": "opaque"}}}


polled_answer = _polled  # for the views that describe themselves


def _op(summary, params, ok_code, ok, body=None, errors=ERRORS, extra_params=()) -> dict:
    operation = {"summary": summary, "parameters": [_name(p) for p in params] + list(extra_params),
                 "responses": {ok_code: ok, **errors}}
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": _ref(body)}}}
    return operation


def _entity(schema, text):
    return {**_json(schema, text), "headers": {"ETag": {"schema": {"type": "string"},
                                                          "description": '"<db_version>"'}}}


JOB = ("workspace", "name")
STEP = ("workspace", "job", "name")
TASK = ("workspace", "job", "step", "name")
OPERATIONS = {
    "/jobs": {
        "post": _op("Create a job", ("workspace",), "201", _entity("PlatformJobResponse", "Created"),
                    "PlatformJobCreate", {**ERRORS, "409": _json("ErrorDetail", "Name in use")}),
        "get": _op("List jobs", ("workspace",), "200", _polled("PlatformJobResponsesPage", "A page"),
                   errors={**ERRORS, **UNCHANGED},
                   extra_params=[*_list_query(JOB_SORTS), IF_NONE_MATCH]),
    },
    "/jobs/{name}": {
        "get": _op("Get a job", JOB, "200", _entity("PlatformJobResponse", "The job")),
        "delete": _op("Delete a job with its steps and tasks", JOB, "204",
                      {"description": "Deleted"}, errors=BODY_ERRORS, extra_params=[IF_MATCH]),
    },
    **{f"/jobs/{{name}}/{action}": {"post": _op(
        f"{action.capitalize()} a job", JOB, "200", _entity("PlatformJobResponse", "The job"),
        errors=BODY_ERRORS, extra_params=[IF_MATCH])} for action in ("cancel", "pause", "resume", "rerun")},
    "/jobs/{name}/status": {"get": _op("Get a job's status tree", JOB, "200",
                                       _polled("PlatformJobStatusResponse", "The tree"),
                                       errors={**ERRORS, **UNCHANGED},
                                       extra_params=[IF_NONE_MATCH])},
    "/jobs/{name}/status-details": {"patch": {
        **_op("Merge into a job's status_details", JOB, "200",
              _entity("PlatformJobResponse", "The job"), errors=BODY_ERRORS,
              extra_params=[IF_MATCH]),
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"type": "object", "additionalProperties": True}}}}}},
    "/jobs/{name}/history": {"get": _op(
        "List the status changes of a job and everything under it, oldest first", JOB, "200",
        _json("HistoryPage", "A page"), extra_params=PAGING)},
    "/jobs/{name}/steps": {"get": _op(
        "List a job's current steps ({name} = '-': every job's)", ("workspace",), "200",
        _polled("PlatformJobStepWithContextsPage", "A page"), errors={**ERRORS, **UNCHANGED},
        extra_params=[
            {"name": "name", "in": "path", "required": True, "schema": {
                "type": "string", "anyOf": [{"pattern": NAME_PATTERN}, {"const": "-"}]}},
            *LIST_QUERY,
            {"name": "filter[job]", "in": "query", "style": "form", "explode": False,
             "schema": {"type": "array", "minItems": 1, "items": {"type": "string"}}},
            IF_NONE_MATCH])},
    "/jobs/{job}/steps/{name}": {"get": _op("Get a step", STEP, "200",
                                            _entity("PlatformJobStep", "The step"))},
    "/jobs/{job}/steps/{name}/status": {"patch": _op(
        "Move a step", STEP, "200", _entity("PlatformJobStep", "The step"),
        "PlatformJobStepStatusUpdate", BODY_ERRORS, [IF_MATCH])},
    "/jobs/{job}/steps/{name}/tasks": {"get": _op(
        "List a step's tasks", STEP, "200", _json("PlatformJobListTaskResponse", "The tasks"))},
    "/jobs/{job}/steps/{step}/tasks/{name}": {
        "get": _op("Get a task", TASK, "200", _entity("PlatformJobTask", "The task")),
        "put": {**_op("Update a task", TASK, "200",
                      _entity("PlatformJobTask", "Successful Response"), "PlatformJobTaskUpdate",
                      BODY_ERRORS, [IF_MATCH]),
                "operationId": "update-job-step-task-apis-jobs-v-2-workspaces-workspace-jobs-"
                               "job-steps-step-tasks-name-put",
                "description": "Update a job step task (upstream's summary: Update Job Step Task).",
                # An empty body is read as {} (the seed's own example sends {}).
                "requestBody": {"required": False, "content": {"application/json": {
                    "schema": _ref("PlatformJobTaskUpdate")}}}},
    },
    "/jobs/{job}/steps/{step}/tasks/{name}/history": {"get": _op(
        "List a task's status changes, oldest first", TASK, "200", _json("HistoryPage", "A page"),
        extra_params=PAGING)},
}


# Every operation's tag: the first of these segments its path holds, so a task's history is
# under "history" and a job's steps under "steps". Listed in the order the docs page shows.
TAGS = [
    ("jobs", "jobs", "Create, read, act on and delete jobs"),
    ("steps", "steps", "A job's steps and their status"),
    ("tasks", "tasks", "What workers report, task by task"),
    ("history", "history", "Status changes, oldest first"),
    ("logs", "logs", "A job's log lines"),
    ("results", "results", "A job's results and their artifacts"),
    ("execution profiles", "execution-profiles", "Where steps may run"),
    ("events", "events", "The change feed: cursors, long-polls and event streams"),
]
_TAG_ORDER = ["events", "history", "logs", "results", "execution-profiles", "tasks", "steps", "jobs"]
BEARER = {"type": "http", "scheme": "bearer", "description": (
    "A token from the JOBS_AUTH_TOKENS file, per workspace, as reader (reads) or writer. "
    "With JOBS_AUTH_TOKENS unset, authentication is off and no token is needed.")}
# Answers any operation may get, whatever its own: who may call (when tokens are on), and the
# storage being unavailable (a database that cannot be reached or a damaged file; the guard
# against a damaged file runs before every request, so every operation can get it).
UNAUTHORIZED = {"401": {**_json("ErrorDetail", "Tokens are on and no valid bearer token came"),
                        "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}}}
FORBIDDEN = {"403": _json("ErrorDetail", "Tokens are on and this token may not do that in "
                                         "this workspace (a reader writing, another workspace)")}
UNAVAILABLE = {"503": {**_json("ErrorDetail", "The storage is unavailable; try again"),
                       "headers": {"Retry-After": {"schema": {"type": "integer"},
                                                   "description": "Seconds"}}}}


def _tag(path: str) -> str:
    segments = path.split("/")
    segment = next(s for s in _TAG_ORDER if s in segments)
    return next(name for name, key, _ in TAGS if key == segment)


def _guarded(path: str) -> dict:
    """The refusals an operation on `path` can meet besides its own. Execution profiles
    name no workspace: any valid token may read them, so they have no 403."""
    scoped = "{workspace}" in path
    return {**UNAUTHORIZED, **(FORBIDDEN if scoped else {}), **UNAVAILABLE}


# What `documented` and `components` collect from the view modules that use them.
_DOCUMENTED: dict[str, dict[str, dict]] = {}
_COMPONENTS: dict[str, object] = {}
_ANSWERS: set[str] = set()


def components(schemas: dict, answers: bool = False) -> None:
    """Name schemas as components of the document; `answers` always carry every field."""
    _COMPONENTS.update(schemas)
    if answers:
        _ANSWERS.update(schemas)


def documented(blueprint, method: str, rule: str, summary: str, ok: tuple, body: str | None = None,
               errors: dict | None = None, query=(), headers=()):
    """Route `rule` on `blueprint` and describe the operation for /openapi.json, in one place.

    `ok` is (status, response object); path parameters are read off the rule and carry the
    name pattern; `body` names the request body's component."""
    path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", "/apis/jobs/v2" + rule)
    operation = {"summary": summary,
                 "parameters": [_name(p) for p in re.findall(r"{(\w+)}", path)]
                 + list(query) + list(headers),
                 "responses": {ok[0]: ok[1], **(ERRORS if errors is None else errors)}}
    if body:
        operation["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": _ref(body)}}}
    _DOCUMENTED.setdefault(path, {})[method] = operation
    return getattr(blueprint, method)(rule)


@cache
def document() -> dict:
    from . import logs, profiles, results  # noqa: F401  (they describe their own operations)

    plugin = MarshmallowPlugin()
    spec = APISpec(title="Jobs v2 status service", version="0.1.0", openapi_version="3.1.0",
                   plugins=[plugin], tags=[{"name": n, "description": d} for n, _, d in TAGS],
                   # Either a bearer token or none: none is enough while tokens are off.
                   security=[{"bearer": []}, {}], info={"description": (
                       "With JOBS_AUTH_TOKENS set, every operation needs a bearer token "
                       "(401 without a valid one, 403 outside its grant); unset, none is "
                       "needed and no 401 or 403 is ever answered.")})
    spec.components.security_scheme("bearer", BEARER)
    plugin.converter.add_attribute_function(_status_ref)
    plugin.converter.add_attribute_function(_executor)
    plugin.converter.add_attribute_function(_lax_integer)
    plugin.map_to_openapi_type(Timestamp, "string", "date-time")
    spec.components.schema("PlatformJobStatus", {
        "type": "string", "enum": [s.value for s in Status], "title": "PlatformJobStatus",
        "description": "Enumeration of possible job statuses."})
    spec.components.schema("ErrorDetail", {"type": "object", "required": ["detail"],
                                           "properties": {"detail": {"type": "string"}}})
    for name, schema in {**COMPONENTS, **_COMPONENTS}.items():
        if isinstance(schema, dict):
            spec.components.schema(name, schema)
        else:
            spec.components.schema(name, schema=schema)
    for path, operations in OPERATIONS.items():
        spec.path(path=PREFIX + path, operations=operations)
    for path, operations in _DOCUMENTED.items():
        spec.path(path=path, operations=operations)
    document = _status_refs_only(spec.to_dict())
    for path, operations in document["paths"].items():
        for operation in operations.values():
            operation["tags"] = [_tag(path)]
            responses = operation["responses"]
            for code, answer in _guarded(path).items():
                own = responses.get(code)  # an operation's own 403 keeps its reason too
                responses[code] = answer if own is None else {
                    **answer, "description": f"{own['description']}; or: {answer['description']}"}
        if "post" in operations:  # every POST takes it (app/idempotency.py)
            operations["post"]["parameters"].append(IDEMPOTENCY_KEY)
    # A variable has a value or a secret, exactly one (a rule marshmallow's fields cannot say).
    document["components"]["schemas"]["EnvironmentVariable"]["anyOf"] = [
        {"required": ["value"], "properties": {"value": {"type": "string"},
                                               "from_secret": {"type": "null"}}},
        {"required": ["from_secret"], "properties": {"from_secret": {"type": "object"},
                                                     "value": {"type": "null"}}}]
    for name in ANSWERS | _ANSWERS:
        component = document["components"]["schemas"][name]
        component["required"] = list(component["properties"])
    return document


def _status_refs_only(node):
    """A status property is a bare $ref to PlatformJobStatus (the converter adds a type)."""
    if isinstance(node, dict):
        if node.get("$ref") == "#/components/schemas/PlatformJobStatus":
            nullable = "null" in (node.get("type") or [])
            ref = {"$ref": node["$ref"]}
            return {"anyOf": [ref, {"type": "null"}]} if nullable else ref
        return {k: _status_refs_only(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_status_refs_only(v) for v in node]
    return node


bp = Blueprint("docs", __name__)

_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Jobs v2 status service</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="ui"></div><script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>"""


# Where to go from the root: the same names in the JSON answer and the docs.
LINKS = {"dashboard": "/ui/", "docs": "/docs", "openapi": "/openapi.json",
         "live": "/health/live", "ready": "/health/ready",
         "metrics": "/metrics"}


@bp.get("/")
def index():
    """JSON listing the links for API clients and curl (whose */* takes the first offer);
    a browser, which prefers HTML, is sent on to the dashboard."""
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        response = redirect(LINKS["dashboard"], 302)
    else:
        response = jsonify(service="Jobs v2 status service", links=LINKS)
    response.vary.add("Accept")
    return response


@bp.get("/openapi.json")
def openapi_json():
    return jsonify(document())


@bp.get("/docs")
@bp.get("/docs/")
def docs_page():
    return Response(_PAGE, mimetype="text/html")


@bp.get("/docs/init.js")
def docs_init():
    # A file, not an inline script, so a strict Content-Security-Policy can be used.
    return Response('window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#ui"});',
                    mimetype="application/javascript")


@bp.get("/docs/assets/<path:filename>")
def docs_assets(filename):
    return send_from_directory(swagger_ui_path, filename)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
