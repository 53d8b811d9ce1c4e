"""Every error's answer: the one JSON shape, and the handlers that give it.

Handlers are registered on the app, not a blueprint, so routing 404s and 405s, oversized
bodies and anything unexpected answer in JSON too. Nothing internal (a traceback, SQL, a
file path) ever reaches the client; unexpected errors are logged in full on the server.
"""

import logging

from flask import Flask, current_app, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from . import faults
from .errors import ApiError, MoveRefused, RequestValidationError
from .signals import storage_fault_answered, transition_refused

log = logging.getLogger(__name__)


def json_error(code: int, detail, headers=(), /, **fields):
    """`{...fields, "detail": detail}` with status `code`: every refusal the service makes
    (errors, auth, readiness) is answered through here."""
    response = jsonify(**fields, detail=detail)
    response.status_code = code
    if code == 409:
        # A conflict stays one however often it is sent: the official client retries every
        # 409 unless told not to (it obeys this header).
        response.headers["x-should-retry"] = "false"
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def storage_fault(fault: faults.StorageFault):
    # Logged once per episode (app/faults/episodes.py), counted every time; never a traceback.
    faults.began(current_app.config["JOBS_DB"], fault)
    storage_fault_answered.send(fault.kind)
    return json_error(503, fault.detail, [("Retry-After", str(fault.retry_after))])


def api_error(exc: ApiError):
    return json_error(exc.status, exc.detail)


def validation_error(exc: RequestValidationError):
    return json_error(422, exc.errors)


def move_refused(exc: MoveRefused):
    transition_refused.send(exc.kind, source=exc.source, target=exc.target)
    return json_error(422, [exc.entry])


def too_large(_exc):
    # One answer whether the body was refused by its Content-Length or while being read.
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    return json_error(413, f"The body is over {limit} bytes, the most this service accepts.")


def http_error(exc: HTTPException):
    # Routing 404/405, 413 and the like: werkzeug's text, our shape; Allow kept on 405.
    return json_error(exc.code or 500, exc.description, exc.get_headers())


def unexpected(exc: Exception):
    fault = faults.classify(exc, current_app.config["JOBS_DB"])
    if fault is not None:
        return storage_fault(fault)
    log.exception("unhandled error")
    return json_error(500, "Internal server error.")


def refuse_a_damaged_database() -> None:
    """Before every view, once the request has its id (app/observability.py)."""
    faults.refuse_if_damaged(current_app.config["JOBS_DB"])


def init_app(app: Flask) -> None:
    for error, handler in ((ApiError, api_error), (RequestValidationError, validation_error),
                           (MoveRefused, move_refused), (RequestEntityTooLarge, too_large),
                           (HTTPException, http_error), (Exception, unexpected),
                           (faults.StorageFault, storage_fault)):
        app.register_error_handler(error, handler)
