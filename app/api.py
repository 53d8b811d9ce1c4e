"""Each operation declared once, on its view: what it reads, answers and refuses.

The decorators below both do and record. On every request the view is run as: the path's
names checked, the query string loaded by the `@arguments` schema, the body by the `@body`
schema (with app/http.py's strict parsing, so every refusal has the one error shape), and the
loaded values handed to the view as `query` and `body`. What they declare is kept on the
view (its `api` attribute), and app/docs.py builds /openapi.json from it by walking the URL
map, so no operation is described anywhere but beside its view:

    @bp.put("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>")
    @operation("Update a task")
    @body(_update, empty_as={})
    @answers(200, TaskSchema, "Successful Response", etag=VERSION)
    @refuses(412)
    def put_task(workspace, job, step, name, body): ...

`@bp.<method>(rule)` goes on top; the order of the others does not matter. A 412 refusal
also documents the If-Match header, a 304 answer If-None-Match.
"""

from dataclasses import dataclass, field
from functools import wraps

from .http import check_names, json_body, load, query_args

# What an answer's ETag is: the entity's version (for If-Match), or a hash of the body that
# pollers send back in If-None-Match (with a 304 answer).
VERSION = '"<db_version>"'
OPAQUE = "opaque"

# The reasons for the answers and refusals that several operations share.
REASONS = {
    304: "Unchanged since the ETag in If-None-Match",
    404: "No such workspace, job, step or task",
    412: "If-Match no longer holds",
    413: "Body over JOBS_MAX_BODY_BYTES",
    415: "Body is not JSON",
    422: "Validation Error, or a move the rules refuse",
}


@dataclass
class Answer:
    description: str
    schema: object = None  # a marshmallow schema, or a JSON Schema dict
    media: str = "application/json"
    etag: str | None = None


@dataclass
class Operation:
    summary: str = ""
    extra: dict = field(default_factory=dict)  # e.g. operationId, description
    wildcard: tuple = ()  # path names that may also be "-" (every one)
    query: object = None
    body: object = None
    empty_as: dict | None = None  # what an empty body stands for (None: refused)
    answers: dict = field(default_factory=dict)  # status -> Answer
    refusals: dict = field(default_factory=dict)  # status -> reason


def _declared(view):
    """The view, wrapped once (by the first decorator applied) to parse its requests."""
    if hasattr(view, "api"):
        return view
    api = Operation()

    @wraps(view)
    def run(**path):
        check_names(**{k: v for k, v in path.items() if not (k in api.wildcard and v == "-")})
        if api.query is not None:
            path["query"] = query_args(api.query)
        if api.body is not None:
            path["body"] = load(api.body, json_body(empty_as=api.empty_as))
        return view(**path)

    run.api = api
    return run


def _declaring(record):
    def decorator(view):
        view = _declared(view)
        record(view.api)
        return view
    return decorator


def operation(summary: str, *, wildcard: tuple = (), **extra):
    """The operation's imperative summary ("{action}" stands for an `any()` path part's choice,
    capitalized); `wildcard` names path parts that may be "-"; `extra` goes into the
    document as is (operationId, description)."""
    def record(api):
        api.summary, api.wildcard, api.extra = summary, wildcard, extra
    return _declaring(record)


def arguments(schema):
    """Load the query string with `schema` (app.http.query_args); the view gets `query`."""
    def record(api):
        api.query = schema
    return _declaring(record)


def body(schema, *, empty_as: dict | None = None):
    """Load the JSON body with `schema`; the view gets `body`. `empty_as` is what an empty
    body stands for (the body is then optional); None refuses an empty body."""
    def record(api):
        api.body, api.empty_as = schema, empty_as
    return _declaring(record)


def answers(status: int, schema=None, description: str | None = None, *,
            media: str = "application/json", etag: str | None = None):
    """An answer the view gives: `schema` (a marshmallow schema, or a JSON Schema dict) is
    its body, `etag` VERSION or OPAQUE when it carries an ETag."""
    def record(api):
        api.answers[status] = Answer(description or REASONS[status], schema, media, etag)
    return _declaring(record)


def refuses(status: int, reason: str | None = None):
    """A refusal the view can answer beyond those of every operation (app/docs.py)."""
    def record(api):
        api.refusals[status] = reason or REASONS[status]
    return _declaring(record)
