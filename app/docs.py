"""The OpenAPI 3.1 document at /openapi.json, and an interactive page at /docs.

Built by walking the app's URL map: each view under /apis declares its operation with the
decorators of app/api.py (summary, query and body schemas, answers, refusals), and the
marshmallow schemas describe every body and query string (apispec's marshmallow plugin), so
nothing is written twice. What every operation shares is added here: path names, the
headers its answers imply, the refusals any operation in a workspace can meet, tags, and
401/403/503. Swagger UI's files come from the installed `swagger_ui_bundle` package.
"""

import re
from functools import cache

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow import resolver as class_name
from apispec.ext.marshmallow.common import resolve_schema_cls, resolve_schema_instance
from flask import (Blueprint, Flask, Response, current_app, has_app_context, jsonify, redirect,
                   request, send_from_directory)
from marshmallow import fields
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
from schemas.logs import (LogAppendedSchema, LogAppendSchema, LogLineInSchema, LogLineSchema,
                          LogPageSchema)
from schemas.profiles import ExecutionProfileSchema
from schemas.results import ResultCreateSchema, ResultListSchema, ResultSchema
from schemas.task import TaskListSchema, TaskSchema, TaskUpdateSchema
from statemachine import Status

from .api import REASONS

# Component name -> schema: the seed's names and upstream's (a schema nested in one of these
# and named nowhere is a component named after its class, as Executor).
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
    "HistoryPage": HistoryPageSchema,
    "PlatformJobLogLineCreate": LogLineInSchema, "PlatformJobLogAppend": LogAppendSchema,
    "PlatformJobLog": LogLineSchema, "PlatformJobLogPage": LogPageSchema,
    "PlatformJobLogAppended": LogAppendedSchema,
    "PlatformJobResultCreate": ResultCreateSchema, "PlatformJobResultResponse": ResultSchema,
    "PlatformJobListResultResponse": ResultListSchema, "ExecutionProfile": ExecutionProfileSchema,
    "ContainerExecutionProvider": ContainerExecutorSchema,
    "SubprocessExecutionProvider": SubprocessExecutorSchema,
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


def _json(schema: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


# What any operation in a workspace can be refused with: a missing entity, a name breaking
# the pattern (422), a body over the limit or not JSON (every request's body is bounded).
IN_WORKSPACE = {code: _json("HTTPValidationError" if code == 422 else "ErrorDetail",
                            REASONS[code]) for code in (404, 413, 415, 422)}
_ENTITY_TAG = r'(W/)?"[\x21\x23-\x7e]*"'  # RFC 9110, ASCII (app.http also takes obs-text)
# The request headers that an operation's answers imply: a 412 is If-Match's, a 304
# If-None-Match's; every POST takes Idempotency-Key (app/idempotency.py).
IF_MATCH = {"name": "If-Match", "in": "header", "required": False,
            "schema": {"type": "string", "pattern":
                       rf"^[ \t]*(\*|{_ENTITY_TAG}([ \t]*,[ \t]*{_ENTITY_TAG})*)[ \t]*$"},
            "description": 'A quoted version, "<db_version>" (or a comma-separated list of '
                           'them), or *; any other form is a 422'}
IF_NONE_MATCH = {"name": "If-None-Match", "in": "header", "required": False,
                 "schema": {"type": "string"}, "description": "An ETag from an earlier answer"}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255,
               "pattern": "^[!-~]([ -~]*[!-~])?$"},  # HTTP strips spaces at either end
    "description": "The same key and request within 24 h get the first answer again"}


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


def document(app: Flask | None = None) -> dict:
    """The document of `app` (the current one; outside a request, the API alone)."""
    if app is None:
        app = current_app._get_current_object() if has_app_context() else _api_only()
    found = app.extensions.get("jobs_openapi")
    if found is None:
        found = app.extensions["jobs_openapi"] = _build(app)
    return found


@cache
def _api_only() -> Flask:
    from . import register_api

    app = Flask(__name__)
    register_api(app)
    return app


_ANY = re.compile(r"<any\(([^)]*)\):(\w+)>")
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def _paths(rule: str):
    """(path, {name: choice}) for each path a rule stands for: one per choice of an any()."""
    found = _ANY.search(rule)
    if not found:
        yield _PARAM.sub(r"{\1}", rule), {}
        return
    for choice in (c.strip() for c in found.group(1).split(",")):
        for path, chosen in _paths(rule.replace(found.group(0), choice)):
            yield path, {found.group(2): choice, **chosen}


def _operation(api, path: str, method: str, chosen: dict) -> dict:
    """One operation of the document from what its view declared (app/api.py)."""
    parameters = [{"name": p, "in": "path", "required": True, "schema": {
        "type": "string", "anyOf": [{"pattern": NAME_PATTERN}, {"const": "-"}]}
        if p in api.wildcard else {"type": "string", "pattern": NAME_PATTERN}}
        for p in re.findall(r"{(\w+)}", path)]
    if api.query is not None:
        parameters.append({"in": "query", "schema": api.query})  # a parameter per field
    parameters += [*([IF_MATCH] if 412 in api.refusals else []),
                   *([IF_NONE_MATCH] if 304 in api.answers else []),
                   *([IDEMPOTENCY_KEY] if method == "post" else [])]
    responses = dict(IN_WORKSPACE) if "{workspace}" in path else {}
    for status, answer in api.answers.items():
        responses[status] = {"description": answer.description}
        if answer.schema is not None:
            responses[status]["content"] = {answer.media: {"schema": answer.schema}}
        if answer.etag is not None:
            responses[status]["headers"] = {"ETag": {"schema": {"type": "string"},
                                                     "description": answer.etag}}
    for status, reason in api.refusals.items():
        responses[status] = _json("ErrorDetail", reason)
    summary = api.summary
    for part, choice in chosen.items():
        summary = summary.replace(f"{{{part}}}", choice.capitalize())
    operation = {"summary": summary, "parameters": parameters, **api.extra,
                 "responses": {str(code): answer for code, answer in responses.items()}}
    if api.body is not None:
        operation["requestBody"] = {"required": api.empty_as is None,
                                    "content": {"application/json": {"schema": api.body}}}
    return operation


def _operations(app: Flask) -> dict:
    """path -> method -> operation, for every view that declares one."""
    paths: dict = {}
    for rule in app.url_map.iter_rules():
        api = getattr(app.view_functions[rule.endpoint], "api", None)
        if api is None:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for path, chosen in _paths(rule.rule):
                paths.setdefault(path, {})[method.lower()] = _operation(
                    api, path, method.lower(), chosen)
    return paths


def _answer_schemas(app: Flask) -> set:
    """The schema classes of every successful answer and of everything they nest: answers
    always carry every field, and their components say so."""
    found, todo = set(), []
    for view in app.view_functions.values():
        api = getattr(view, "api", None)
        todo += [a.schema for status, a in (api.answers.items() if api else ())
                 if status < 300 and a.schema is not None and not isinstance(a.schema, dict)]
    while todo:
        schema = resolve_schema_cls(todo.pop())
        if schema in found:
            continue
        found.add(schema)
        for f in resolve_schema_instance(schema).fields.values():
            f = f.inner if isinstance(f, fields.List) else f
            if isinstance(f, fields.Nested):
                todo.append(f.nested)
    return found


def _name(schema) -> str | None:
    """A schema's component name; a schema without fields (any object) is written inline."""
    cls = resolve_schema_cls(schema)
    if not resolve_schema_instance(schema).fields:
        return None
    return next((n for n, c in COMPONENTS.items() if c is cls), None) or class_name(cls)


def _build(app: Flask) -> dict:
    plugin = MarshmallowPlugin(schema_name_resolver=_name)
    spec = APISpec(title="Jobs v2 status service", version="0.1.0", openapi_version="3.1.0",
                   plugins=[plugin], tags=[{"name": n, "description": d} for n, _, d in TAGS],
                   # Either a bearer token or none: none is enough while tokens are off.
                   security=[{"bearer": []}, {}], info={"description": (
                       "With JOBS_AUTH_TOKENS set, every operation needs a bearer token "
                       "(401 without a valid one, 403 outside its grant); unset, none is "
                       "needed and no 401 or 403 is ever answered.")})
    spec.components.security_scheme("bearer", BEARER)
    plugin.converter.add_attribute_function(_status_ref)
    # A query parameter is required only when its field is; a list is comma-separated.
    plugin.converter.parameter_attribute_functions = [
        lambda field, **kw: {"required": True} if field.required else {},
        lambda field, **kw: {"style": "form", "explode": False}
        if isinstance(field, fields.List) else {}]
    plugin.converter.add_attribute_function(_executor)
    plugin.converter.add_attribute_function(_lax_integer)
    plugin.map_to_openapi_type(Timestamp, "string", "date-time")
    spec.components.schema("PlatformJobStatus", {
        "type": "string", "enum": [s.value for s in Status], "title": "PlatformJobStatus",
        "description": "Enumeration of possible job statuses."})
    spec.components.schema("ErrorDetail", {"type": "object", "required": ["detail"],
                                           "properties": {"detail": {"type": "string"}}})
    for name, schema in COMPONENTS.items():
        spec.components.schema(name, schema=schema)
    for path, operations in _operations(app).items():
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
    # A variable has a value or a secret, exactly one (a rule marshmallow's fields cannot say).
    document["components"]["schemas"]["EnvironmentVariable"]["anyOf"] = [
        {"required": ["value"], "properties": {"value": {"type": "string"},
                                               "from_secret": {"type": "null"}}},
        {"required": ["from_secret"], "properties": {"from_secret": {"type": "object"},
                                                     "value": {"type": "null"}}}]
    for schema in _answer_schemas(app):
        component = document["components"]["schemas"][_name(schema)]
        # A field with metadata optional=True is left out of some answers (a page's envelope
        # of an unpaged list, the tasks of `?tasks=none`).
        optional = {f.data_key or n for n, f in resolve_schema_instance(schema).fields.items()
                    if f.metadata.get("optional")}
        component["required"] = [p for p in component["properties"] if p not in optional]
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
