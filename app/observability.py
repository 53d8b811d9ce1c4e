"""One structured log line per request, with a request id the caller can follow.

The id comes from `X-Request-ID` when the caller sends a sane one, otherwise it is made
here; either way it is returned in the response's `X-Request-ID`. Tokens and bodies are
never logged.
"""

import json
import logging
import re
import secrets
import time

from flask import Flask, g, request

from . import metrics

log = logging.getLogger("jobs.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_encode = json.JSONEncoder(separators=(",", ":")).encode  # built once, not per line


def _start():
    g.started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _SANE_ID.match(given) else secrets.token_hex(16)


def _finish(response):
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    route = request.url_rule.rule if request.url_rule else "<unmatched>"
    request_id = g.get("request_id") or secrets.token_hex(16)
    response.headers["X-Request-ID"] = request_id
    metrics.observe_request(route, request.method, response.status_code, seconds)
    if log.isEnabledFor(logging.INFO):
        log.info(_encode({
            "request_id": request_id, "method": request.method, "route": route,
            "path": request.path, "status": response.status_code,
            "duration_ms": round(seconds * 1000, 3),
        }))
    return response


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
