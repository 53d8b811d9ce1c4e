"""Domain errors raised by the store and the views, and the one JSON shape for every error.

Handlers are registered on the app, not a blueprint, so routing 404s and 405s, oversized
bodies and anything unexpected answer in JSON too. Nothing internal (a traceback, SQL, a
file path) ever reaches the client; unexpected errors are logged in full on the server.
"""

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from statemachine import IllegalTransition

from schemas import error

from . import faults

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PreconditionFailed(ApiError):
    status = 412


class UnsupportedMediaType(ApiError):
    status = 415


class RequestValidationError(Exception):
    """422 with a list of `{type, loc, msg, input, ctx}` entries."""

    def __init__(self, errors: list[dict]):
        super().__init__(errors)
        self.errors = errors


class MoveRefused(Exception):
    """A status change the rules refuse; becomes a 422 `invalid_transition`."""

    def __init__(self, kind: str, message: str, source: str, target: str, allowed: list[str],
                 loc: tuple = ("body", "status")):
        super().__init__(message)
        self.kind, self.source, self.target = kind, source, target
        self.entry = error(
            "invalid_transition", list(loc), message, target,
            {"from": source, "to": target, "allowed": allowed},
        )

    @classmethod
    def for_move(cls, kind: str, name: str, source: str, target: str) -> "MoveRefused":
        """The table's own refusal of moving the `kind` called `name`."""
        exc = IllegalTransition(source, target, f"{kind} '{name}'")
        return cls(kind, str(exc), exc.source.value, exc.target.value,
                   [s.value for s in exc.allowed])


def _detail(status: int, detail, headers=None):
    response = jsonify(detail=detail)
    response.status_code = status
    if status == 409:
        # A conflict stays one however often it is sent: the official client retries every
        # 409 unless told not to (it obeys this header).
        response.headers["x-should-retry"] = "false"
    for name, value in headers or []:
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    from .metrics import count_storage_fault

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return _detail(exc.status, exc.detail)

    @app.errorhandler(RequestValidationError)
    def validation_error(exc: RequestValidationError):
        return _detail(422, exc.errors)

    @app.errorhandler(MoveRefused)
    def move_refused(exc: MoveRefused):
        from .store.history import transition_refused

        transition_refused.send(exc.kind, source=exc.source, target=exc.target)
        return _detail(422, [exc.entry])

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_exc):
        # One answer whether the body was refused by its Content-Length or while being read.
        limit = app.config["MAX_CONTENT_LENGTH"]
        return _detail(413, f"The body is over {limit} bytes, the most this service accepts.")

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # Routing 404/405, 413 and the like: werkzeug's text, our shape; Allow kept on 405.
        return _detail(exc.code or 500, exc.description, exc.get_headers())

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        fault = faults.classify(exc, app.config["JOBS_DB"])
        if fault is not None:
            return storage_fault(fault)
        log.exception("unhandled error")
        return _detail(500, "Internal server error.")

    @app.errorhandler(faults.StorageFault)
    def storage_fault(fault: faults.StorageFault):
        # Logged once per episode (app/faults/episodes.py), counted every time; never a traceback.
        faults.began(app.config["JOBS_DB"], fault)
        count_storage_fault(fault.kind)
        return _detail(503, fault.detail, [("Retry-After", str(fault.retry_after))])

    @app.before_request
    def refuse_a_damaged_database():
        faults.refuse_if_damaged(app.config["JOBS_DB"])
