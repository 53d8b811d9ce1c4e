"""Request parsing and response building shared by the blueprints.

Views get loaded data from here and never pick `request` apart themselves.
"""

import hashlib
import json
import re

from flask import Response, current_app, g, request
from marshmallow import Schema, ValidationError, fields
from werkzeug.exceptions import RequestEntityTooLarge

from schemas import error, valid_name, validation_errors, NAME_PATTERN

from .db.web import db  # noqa: F401  (the views' connection, from here with the rest)
from .errors import RequestValidationError, UnsupportedMediaType

# RFC 9110 entity-tag: optional W/, then a quoted opaque tag (no quote, space or control).
_TAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"')
_TAG_LIST = re.compile(rf"[ \t]*{_TAG.pattern}(?:[ \t]*,[ \t]*{_TAG.pattern})*[ \t]*")
_STEP_TAG = re.compile(r'\A"([0-9]+)\.[0-9a-f]+"\Z')  # strong only: a weak tag never holds
# A \uD800-\uDFFF escape: JSON allows one alone, but such a string is not Unicode text.
_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F]")


def _reject_constant(token: str):
    raise ValueError(f"{token} is not valid JSON")


# Built once: json.loads/json.dumps with options build a new decoder/encoder per call.
_decode = json.JSONDecoder(parse_constant=_reject_constant).decode
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def json_body(empty_as: dict | None = None) -> object:
    """The request body parsed as strict JSON (no NaN or Infinity, UTF-8 only).

    A body with a non-JSON content type is refused with 415; an absent content type is
    read as JSON. `empty_as` is what an empty body stands for (None: an error).
    """
    req = request._get_current_object()  # one context lookup, not one per attribute
    raw = _whole_body(req)
    # The usual header as it is; anything else parsed (parameters, case) and checked.
    if raw and req.environ.get("CONTENT_TYPE") != "application/json":
        mimetype = req.mimetype
        if mimetype and mimetype != "application/json" and not mimetype.endswith("+json"):
            raise UnsupportedMediaType(
                f"Content-Type '{mimetype}' is not supported; send 'application/json'."
            )
    if not raw.strip() and empty_as is not None:
        return empty_as
    try:
        body = _decode(raw.decode("utf-8"))
        unstorable = _unstorable(raw, body)
    except (ValueError, RecursionError) as exc:
        reason = "invalid UTF-8" if isinstance(exc, UnicodeDecodeError) else "malformed JSON"
        raise _not_json(reason, str(exc)[:200]) from None
    if unstorable:
        raise _not_json(unstorable, unstorable)
    limit = current_app.config["JOBS_MAX_JSON_DEPTH"]
    if _too_deep(body, limit):
        raise RequestValidationError([
            error("json_too_deep", ["body"], f"The body nests deeper than {limit} levels.",
                  None, {"max_depth": limit})])
    return body


def _whole_body(req) -> bytes:
    """The body, or 413 if it is over MAX_CONTENT_LENGTH however it is framed.

    werkzeug refuses a Content-Length over the limit before reading, but a body without one
    (chunked) it reads up to the limit and then stops without a word, so the JSON parsed
    would be a silent prefix of what was sent. One byte past the limit says the body is over.
    """
    raw = req.get_data(cache=True)
    limit = req.max_content_length
    if limit is not None and len(raw) >= limit and req.content_length is None:
        if req.environ["wsgi.input"].read(1):
            raise RequestEntityTooLarge()
    return raw


def refuse_an_oversized_body() -> None:
    """Before every view: a body over the limit is a 413 even where the view reads none
    (cancel, delete), so no write ever goes with one. Reading is bounded by the limit."""
    environ = request.environ
    if environ.get("CONTENT_LENGTH") or "HTTP_TRANSFER_ENCODING" in environ:
        _whole_body(request._get_current_object())


def _not_json(reason: str, detail: str) -> RequestValidationError:
    return RequestValidationError([
        error("json_invalid", ["body"], f"The body is not valid JSON ({reason}).", None,
              {"error": detail})])


def _unstorable(raw: bytes, body) -> str | None:
    """What in a valid JSON body no backend can store as text, if anything."""
    if _SURROGATE_ESCAPE.search(raw):  # a pair is one character; a lone one is not text
        try:
            _encode(body).encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate escape"
    if b"\\u0000" in raw and holds_nul(body):  # PostgreSQL's text cannot hold NUL
        return "a NUL character"
    return None


def holds_nul(value) -> bool:
    """Whether a string anywhere in the body (keys included) holds U+0000."""
    if isinstance(value, str):
        return "\0" in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


def _too_deep(value, limit: int) -> bool:
    """Whether objects/arrays nest more than `limit` levels (walked without recursion)."""
    level = [value]
    for _ in range(limit):
        level = [child for node in level if isinstance(node, (dict, list))
                 for child in (node.values() if isinstance(node, dict) else node)]
        if not level:
            return False
    return any(isinstance(node, (dict, list)) for node in level)


def load(schema: Schema, data: object, location: str = "body") -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise RequestValidationError(validation_errors(exc.messages, location, data)) from None


def query_args(schema: Schema) -> dict:
    """The query string loaded by `schema`. List filters may repeat or be comma-separated;
    an unknown `filter[...]` key is refused rather than silently ignored."""
    known = {f.data_key or name: f for name, f in schema.fields.items()}
    patterned = getattr(schema, "patterned", None)  # keys no field names (custom fields)
    raw: dict = {}
    found, errors = [], []
    for key in request.args:
        values = request.args.getlist(key)
        if key in known:
            many = isinstance(known[key], fields.List)
            raw[key] = [p for v in values for p in v.split(",")] if many else values[-1]
        elif key.startswith("filter"):
            one, problems = patterned(key, values) if patterned else (None, [])
            if one is None and not problems:
                problems = [error("extra_forbidden", ["query", key],
                                  f"Unknown filter '{key}'.", values[-1])]
            found += [one] if one else []
            errors += problems
    try:
        loaded = schema.load(raw)
    except ValidationError as exc:
        errors += validation_errors(exc.messages, "query", raw)
    if errors:
        raise RequestValidationError(errors)
    if patterned:
        loaded["custom_fields"] = found
    return loaded


def check_names(**names: str) -> None:
    """Path names must follow upstream's pattern; `-` is never a name."""
    errors = [
        error("string_pattern_mismatch", ["path", key],
              f"'{key}' must match the name pattern.", value, {"pattern": NAME_PATTERN})
        for key, value in names.items() if not valid_name(value)
    ]
    if errors:
        raise RequestValidationError(errors)


def if_match(step: bool = False):
    """The If-Match header as None (absent), "*", or the tuple of entity-tags it lists; for a
    `step`, a step's own tag ("<version>.<its tasks>", step_tag) as its version, "<version>".

    A value that is neither `*` nor a list of quoted tags (`3`, `garbage`) is a 422: a 412
    would tell the client to re-read and retry, and the same header would fail again.
    """
    header = request.environ.get("HTTP_IF_MATCH")  # what request.headers.get reads
    if header is None:
        return None
    if header.strip() == "*":
        return "*"
    if not _TAG_LIST.fullmatch(header):
        raise RequestValidationError([error(
            "if_match_invalid", ["header", "If-Match"],
            'If-Match must be a quoted version such as "3" (or a comma-separated list of '
            'them), or *.', header)])
    tags = tuple(_TAG.findall(header))
    return tuple(_STEP_TAG.sub(r'"\1"', tag) for tag in tags) if step else tags


def json_answer(body, tag: str | None = None) -> Response:
    """A 200 with `body` as compact JSON (no schema walk: the caller dumped it), and `tag`,
    when given, as its ETag."""
    response = Response(_encode(body), 200, mimetype="application/json")
    if tag is not None:
        response.headers["ETag"] = tag
    return response


def entity(dump, obj: dict, status: int = 200) -> Response:
    """One entity as JSON (`dump` is a plain_dumper), its version as a strong ETag."""
    return Response(_encode(dump(obj)), status,
                    {"ETag": f'"{obj["db_version"]}"'}, mimetype="application/json")


def conditional(response: Response) -> Response:
    """A read answer with an ETag of its body; `If-None-Match` naming it gets 304, no body.

    For readers that poll (the dashboard): an unchanged answer costs the server one hash and
    the network a few bytes. The tag is opaque, not a `db_version`, so it is no use in If-Match.
    """
    response.add_etag()
    # Only If-None-Match: werkzeug's make_conditional would also answer If-Match on a read
    # with a 412 that carries the body instead of our error shape.
    return unchanged(response.headers["ETag"]) or response


def fingerprint_tag(*parts) -> str:
    """A strong ETag standing for `parts` (ids, versions, counts, the query), hashed: read
    before the body, it is never newer than the body, so a 304 never hides a change."""
    return '"' + hashlib.blake2b(repr(parts).encode(), digest_size=10).hexdigest() + '"'


def step_tag(step: dict, mark: tuple) -> str:
    """A step's ETag: its own version, then a hash of its id and its job's mark (read before
    the body, app/store/events.py), so the tag moves with its `task_counts`. If-Match reads
    the version before the dot (if_match)."""
    return f'"{step["db_version"]}.{fingerprint_tag(step["id"], *mark)[1:]}'


def unchanged(tag: str) -> Response | None:
    """304 with `tag` when If-None-Match names it (or is `*`), else None: the view then
    builds its body. The comparison is weak, as RFC 9110 has it for If-None-Match."""
    if not request.if_none_match.contains_weak(tag.strip('"')):
        return None
    response = Response(status=304)
    response.headers["ETag"] = tag
    del response.headers["Content-Type"]
    return response


def principal() -> str | None:
    """The authenticated principal making the request (None when authentication is off)."""
    return g.get("principal")
