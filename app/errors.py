"""Domain errors raised by the store and the views; app/answers.py makes them into answers.

Nothing here knows of Flask or HTTP beyond a status number, so the store can raise them
without importing the web side.
"""

from statemachine import IllegalTransition

from schemas import error


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
