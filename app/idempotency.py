"""`Idempotency-Key` on every POST under /apis: a retried request gets the first answer.

The key belongs to (workspace, principal, key). The first answer under 500 is recorded in
the same transaction as the write it reports: the view's own transactions become
savepoints of the one opened here (app/db), so either the write and its answer are both
committed, or neither is, and a retry after any crash either replays the answer or does the
work. A second request with the key while the first is still running waits for it (SQLite's
write lock; on PostgreSQL, the unique index) and then replays its answer. docs/api.md,
"Idempotent retries", is the contract.
"""

import hashlib
import json
from datetime import datetime, timedelta, timezone
from functools import wraps

from flask import Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException

from schemas import error
from schemas.fields import utc_text

from .errors import ApiError, MoveRefused, RequestValidationError
from .http import db, principal
from .store.rows import dumps, now, one

HEADER = "Idempotency-Key"
MAX_LENGTH = 255
LIFETIME = timedelta(hours=24)
PURGE_BATCH = 100  # expired answers deleted by one keyed request, at most
KEPT_HEADERS = ("ETag", "Location", "x-should-retry")  # replayed with the status and body
# What a view raises that becomes an answer of its own (4xx); anything else is never recorded.
ANSWERABLE = (ApiError, RequestValidationError, MoveRefused, HTTPException)
_KEY = "workspace = ? AND principal = ? AND idem_key = ?"


class _Unrecorded(Exception):
    """Carries a 5xx answer out of the transaction, so that nothing of it is kept."""

    def __init__(self, response: Response):
        super().__init__(response.status_code)
        self.response = response


def idempotent(view):
    @wraps(view)
    def run(**kwargs):
        key = request.headers.get(HEADER)
        if key is None or request.method != "POST":
            return view(**kwargs)
        _check(key)
        scope = (kwargs.get("workspace", ""), principal() or "", key)
        fingerprint = _fingerprint()  # reads the body: a 413 comes before any transaction
        database = db()
        job = kwargs.get("job", kwargs.get("name"))  # the job a POST under /jobs/<name> writes
        try:
            # The job's lock first, as every write of a job takes it: its first write gives
            # the transaction its id, and the change feed orders a job's events by it.
            with database.transaction(job=(scope[0], job) if job else None):
                earlier = _claim(database, scope, fingerprint)
                if earlier is not None:
                    return _replay(earlier, fingerprint, key)
                response = _answer(view, kwargs)
                if response.status_code >= 500:
                    raise _Unrecorded(response)
                headers = {k: response.headers[k] for k in KEPT_HEADERS if k in response.headers}
                database.execute(
                    f"UPDATE idempotency_keys SET status = ?, headers = ?, body = ? WHERE {_KEY}",
                    (response.status_code, dumps(headers), response.get_data(as_text=True),
                     *scope))
        except _Unrecorded as unrecorded:
            return unrecorded.response
        return response
    return run


def _check(key: str) -> None:
    if 0 < len(key) <= MAX_LENGTH and all(" " <= c <= "~" for c in key):
        return
    raise RequestValidationError([error(
        "invalid_idempotency_key", ["header", HEADER],
        f"{HEADER} must be 1 to {MAX_LENGTH} printable ASCII characters.", key[:MAX_LENGTH + 1],
        {"max_length": MAX_LENGTH})])


def _fingerprint() -> str:
    """What makes two requests the same: method, path, query string, If-Match, body bytes."""
    digest = hashlib.sha256()
    for part in (request.method, request.path, request.query_string.decode("latin-1"),
                 request.headers.get("If-Match", "")):
        digest.update(part.encode("utf-8", "replace") + b"\0")
    digest.update(request.get_data(cache=True))
    return digest.hexdigest()


def _claim(database, scope: tuple, fingerprint: str) -> dict | None:
    """Take the key for this request (None), or the live earlier answer that holds it."""
    expired = utc_text(datetime.now(timezone.utc) - LIFETIME)
    # Bounded, and on PostgreSQL skipping rows another request is busy with: never a wait.
    database.execute(
        "DELETE FROM idempotency_keys WHERE created_at < ? AND seq IN (SELECT seq FROM "
        f"idempotency_keys WHERE created_at < ? ORDER BY created_at LIMIT ?"
        f"{database.dialect.skip_locked})", (expired, expired, PURGE_BATCH))
    database.execute(f"DELETE FROM idempotency_keys WHERE {_KEY} AND created_at < ?",
                     (*scope, expired))
    for _ in range(3):
        # On PostgreSQL an insert of a key that a running request holds waits until that
        # request commits (its answer is then read below) or rolls back (the key is ours).
        if database.execute(
                "INSERT INTO idempotency_keys (workspace, principal, idem_key, fingerprint, "
                "created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (*scope, fingerprint, now())).rowcount:
            return None
        found = one(database, f"SELECT fingerprint, status, headers, body FROM "
                              f"idempotency_keys WHERE {_KEY}", scope)
        if found is not None:  # else it was deleted in between: claim it again
            return found
    raise RuntimeError("an Idempotency-Key could be neither claimed nor read")


def _replay(earlier: dict, fingerprint: str, key: str) -> Response:
    if earlier["fingerprint"] != fingerprint:
        raise RequestValidationError([error(
            "idempotency_key_reused", ["header", HEADER],
            f"This {HEADER} was used within the last 24 hours for another request (another "
            "path, query, If-Match or body); send a new key for a new request.", key)])
    response = Response(earlier["body"], earlier["status"], mimetype="application/json")
    response.headers.update(json.loads(earlier["headers"]))
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _answer(view, kwargs) -> Response:
    """The view's answer; a refusal it raises is made into its answer here, to be recorded."""
    try:
        answer = view(**kwargs)
    except ANSWERABLE as exc:
        answer = current_app.handle_user_exception(exc)
    return current_app.make_response(answer)


def init_app(app: Flask, prefix: str) -> None:
    """Every POST route under `prefix`, present and future, takes the header."""
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and rule.rule.startswith(prefix):
            app.view_functions[rule.endpoint] = idempotent(app.view_functions[rule.endpoint])
