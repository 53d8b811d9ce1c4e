"""One structured log line per request, with a request id the caller can follow.

The id comes from `X-Request-ID` when the caller sends a sane one, otherwise it is made
here; either way it is returned in the response's `X-Request-ID`. Tokens and bodies are
never logged.

The line is one JSON object: request_id, method, route, path, status, duration_ms. When the
`jobs.access` logger has only the handler made here (the usual case), the line is written
to that handler's stream directly, as the handler would write it: a LogRecord per request
costs more than the rest of the line. Any other set-up (more handlers, filters, a level
above INFO, propagation) goes through `logging` as usual.
"""

import logging
import re
import time
from json.encoder import encode_basestring_ascii as _quote  # the JSON encoder's own
from secrets import token_hex

from flask import Flask, g, request

from . import metrics

log = logging.getLogger("jobs.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_own_handler: logging.StreamHandler | None = None  # the handler init_app made, if it did
_FORMAT = logging.Formatter("%(message)s")  # the line as it is


def _start():
    given = request.environ.get("HTTP_X_REQUEST_ID", "")
    request_id = given if given and _SANE_ID.match(given) else token_hex(16)
    g.access = (time.perf_counter(), request_id)


def access_line(request_id: str, method: str, route: str, path: str, status: int,
                seconds: float) -> str:
    """The log line, byte for byte what json.dumps(..., separators=(",", ":")) makes of it."""
    return (f'{{"request_id":{_quote(request_id)},"method":{_quote(method)},'
            f'"route":{_quote(route)},"path":{_quote(path)},"status":{int(status)!r},'
            f'"duration_ms":{round(seconds * 1000, 3)!r}}}')


def _finish(response):
    req = request._get_current_object()  # one context lookup instead of one per attribute
    access = g.get("access")
    if access is None:  # a before-request hook ahead of _start failed
        access = (time.perf_counter(), token_hex(16))
    started, request_id = access
    seconds = time.perf_counter() - started
    rule = req.url_rule
    route = rule.rule if rule is not None else "<unmatched>"
    status = response.status_code
    response.headers["X-Request-ID"] = request_id
    metrics.observe_request(route, req.method, status, seconds)
    if log.isEnabledFor(logging.INFO):
        line = access_line(request_id, req.method, route, req.path, status, seconds)
        if not _write_directly(line):
            log.info(line)
    return response


def _write_directly(line: str) -> bool:
    """Write the line as the lone handler made here would; False: let `logging` do it."""
    handler = _own_handler
    if (handler is None or log.handlers != [handler] or log.propagate or log.filters
            or handler.filters or handler.level > logging.INFO
            or handler.formatter is not _FORMAT):
        return False
    try:
        with handler.lock:
            stream = handler.stream
            stream.write(line + handler.terminator)
            stream.flush()
    except Exception:  # a closed or broken stream: logging.info tries and reports it
        return False
    return True


def init_app(app: Flask) -> None:
    global _own_handler
    app.before_request(_start)
    app.after_request(_finish)
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(_FORMAT)
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
        _own_handler = handler
