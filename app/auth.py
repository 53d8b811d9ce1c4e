"""Bearer tokens per workspace, from the file JOBS_AUTH_TOKENS names.

The file holds only SHA-256 hashes of tokens. It is read once, when the app is made; a
malformed file stops the start with a message that says what is wrong. Without the
variable, authentication is off and the server's log says so, once per start
(gunicorn.conf.py calls warn_if_off in the master). Health, metrics and docs stay open;
every /apis request needs `Authorization: Bearer <token>`, except one that names no route of
the API, which gets its 404 (or 405) like any other.
"""

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass

from flask import Flask, g, request
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from .answers import json_error
from .config import ConfigError

log = logging.getLogger(__name__)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class TokenSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    principal = fields.String(required=True, validate=validate.Length(min=1, max=200))
    sha256 = fields.String(required=True, validate=validate.Regexp(
        r"^[0-9a-f]{64}$", error="must be 64 lowercase hex digits (a SHA-256 digest)"))
    workspaces = fields.List(fields.String(validate=validate.Length(min=1)), required=True,
                             validate=validate.Length(min=1))
    role = fields.String(required=True, validate=validate.OneOf(["reader", "writer"]))


class TokensFileSchema(Schema):
    tokens = fields.List(fields.Nested(TokenSchema), required=True)


class AuthConfigError(ConfigError):
    """The tokens file cannot be used; the message says why."""


@dataclass(frozen=True)
class Grant:
    principal: str
    digest: bytes
    workspaces: frozenset
    writer: bool

    def may(self, workspace: str, method: str) -> bool:
        in_scope = "*" in self.workspaces or workspace in self.workspaces
        return in_scope and (self.writer or method in READ_METHODS)


def load_grants(path: str) -> list[Grant]:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except (OSError, ValueError) as exc:
        raise AuthConfigError(f"JOBS_AUTH_TOKENS={path}: cannot read it as JSON: {exc}") from None
    try:
        data = TokensFileSchema().load(raw)
    except ValidationError as exc:
        raise AuthConfigError(f"JOBS_AUTH_TOKENS={path}: {exc.messages}") from None
    digests = [t["sha256"] for t in data["tokens"]]
    if len(digests) != len(set(digests)):
        raise AuthConfigError(f"JOBS_AUTH_TOKENS={path}: the same token hash appears twice")
    return [Grant(t["principal"], bytes.fromhex(t["sha256"]), frozenset(t["workspaces"]),
                  t["role"] == "writer") for t in data["tokens"]]


def _find(grants: list[Grant], token: str) -> Grant | None:
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
    found = None
    for grant in grants:  # every entry is compared, so timing says nothing of which matched
        if hmac.compare_digest(grant.digest, digest):
            found = grant
    return found


def _refuse(status: int, detail: str, error: str | None = None):
    challenge = f'Bearer realm="jobs", error="{error}"' if error else 'Bearer realm="jobs"'
    return json_error(status, detail, [("WWW-Authenticate", challenge)] if status == 401 else ())


def warn_if_off(settings: dict, logger: logging.Logger = log) -> None:
    """Said once by whatever starts the server, not by each app made: every gunicorn
    worker and every `flask` command makes one, and the warning would drown in repeats."""
    if not settings.get("JOBS_AUTH_TOKENS"):
        logger.warning("JOBS_AUTH_TOKENS is not set: authentication is OFF; anyone who can "
                       "reach this service can read and change every workspace")


def init_app(app: Flask) -> None:
    path = app.config.get("JOBS_AUTH_TOKENS")
    if not path:
        return
    grants = load_grants(path)
    log.info("authentication on: %d token(s) from %s", len(grants), path)

    @app.before_request
    def authenticate():
        # The request and g bound once: each lookup through Flask's proxies costs a context
        # lookup, and this runs on every request.
        req, state = request._get_current_object(), g._get_current_object()
        state.principal = None
        if not req.path.startswith("/apis/"):
            return None
        if req.url_rule is None:
            # No such route (404) or method (405): routing answers that, the same to every
            # caller. It depends only on the route table, which /openapi.json publishes,
            # never on what a workspace holds, so it tells no one which workspaces exist.
            return None
        # What request.headers.get("Authorization") reads.
        scheme, _, token = req.environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _refuse(401, "A bearer token is required: 'Authorization: Bearer <token>'.")
        grant = _find(grants, token.strip())
        if grant is None:
            return _refuse(401, "The bearer token is not valid.", "invalid_token")
        workspace = (req.view_args or {}).get("workspace")
        if workspace is None:  # execution profiles: any valid token may read them
            allowed = req.method in READ_METHODS
        else:
            allowed = grant.may(workspace, req.method)
        if not allowed:
            # The same answer whether or not the workspace exists.
            return _refuse(403, "This token may not do that in this workspace.")
        state.principal = grant.principal
        return None
