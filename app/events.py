"""The change feed over HTTP: a page of events, a long-poll, a Server-Sent Events stream,
`Events-Cursor` on reads, and `Prefer: wait=N` on the GETs of a job, its status, a step and
a task. docs/api.md, "Watching for changes", is the contract.

A waiting request holds no database connection: it gives its connection back, waits on its
Watcher (app/watch.py), and takes one again to read.
"""

import json
import re
import time
from contextlib import contextmanager
from functools import wraps

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from schemas import error
from schemas.fields import from_utc_text
from schemas.events import EventPageSchema, EventQuerySchema

from . import metrics, watch
from .api import answers, arguments, operation, refuses
from .db.web import db, release_db
from .store import cursor_key, events

bp = Blueprint("events", __name__)
_query = EventQuerySchema()
_page = EventPageSchema()
KEEPALIVE_SECONDS = 15
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d{1,6})(?:$|[,;\s])", re.I)
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
EXPIRED = ("cursor_expired: the cursor is older than the events kept "
           "(JOBS_EVENTS_RETENTION_HOURS); list again and watch from its Events-Cursor")
FULL = "Too many requests wait for events in this worker (JOBS_MAX_WATCHERS); retry shortly"


def _key() -> bytes:
    key = current_app.extensions.get("jobs_cursor_key")
    if key is None:
        key = current_app.extensions["jobs_cursor_key"] = cursor_key(db())
    return key


def _refusal(status: int, kind: str, message: str, value) -> Response:
    response = jsonify(detail=[error(kind, ["query", "after"], message, value)])
    response.status_code = status
    return response


class _Refused(Exception):
    def __init__(self, response: Response):
        self.response = response


def _start(database, key: bytes, after: str | None) -> events.Place:
    """The place to read after; a cursor that is not ours or has expired is refused."""
    if after is None:
        return events.newest(database)
    pruned = events.pruned(database)
    if after == "0":
        return pruned
    place = events.read_cursor(key, after)
    if place is None:
        raise _Refused(_refusal(422, "invalid_cursor", "Invalid cursor: it was not issued "
                                "by this service, or was altered. Use an event's id, `next`, "
                                "or an Events-Cursor header.", after))
    if place[:2] < pruned[:2]:
        raise _Refused(_refusal(410, "cursor_expired", "The cursor is older than the events "
                                "kept (JOBS_EVENTS_RETENTION_HOURS): list again, and watch "
                                "from the Events-Cursor of that answer.", after))
    return place


@contextmanager
def _connection(pool):
    database = pool.get()
    try:
        yield database
    finally:
        pool.release(database)


def _read(database, workspace, after, query, limit=None) -> tuple[list, events.Place]:
    return events.page(database, workspace, after, query.get("job"), query.get("kind"),
                       limit or query["limit"])


def _sent(items: list, form: str) -> None:
    if items:
        metrics.EVENTS_SENT.labels(form).inc(len(items))
        newest = items[-1][0]  # tells how far behind the reader is
        lag = time.time() - from_utc_text(newest["at"]).timestamp()
        metrics.CURSOR_LAG.observe(max(0.0, lag))


def _feed(workspace: str, job: str | None, query: dict):
    if job is not None:
        query["job"] = [job]
    wanted_stream = request.accept_mimetypes.best_match(
        ["application/json", "text/event-stream"]) == "text/event-stream" and \
        "text/event-stream" in request.headers.get("Accept", "")
    after = request.headers.get("Last-Event-ID") if wanted_stream else None
    after = after or query.get("after")
    key = _key()
    try:
        start = _start(db(), key, after)
    except _Refused as refused:
        return refused.response
    app = current_app._get_current_object()
    hub = watch.hub_for(app)
    if wanted_stream:
        return _stream(app, hub, key, workspace, query, start)
    wait = min(query["wait"], app.config["JOBS_MAX_WAIT_SECONDS"])
    watcher = _register(hub, workspace, query, start) if wait else None
    if isinstance(watcher, Response):
        return watcher
    try:
        items, following = _read(db(), workspace, start, query)
        deadline = time.monotonic() + wait
        while not items and watcher is not None and time.monotonic() < deadline \
                and not hub.closing:  # a stopping worker answers now; the client asks again
            release_db()  # wait without a connection
            watcher.after = following
            if not watcher.wait(deadline - time.monotonic()):
                break
            taken = watcher.take(query["limit"])
            items, following = _read(db(), workspace, following, query) if taken is None \
                else taken
    finally:
        if watcher is not None:
            hub.unregister(watcher)
    _sent(items, "json")
    data = [events.as_wire(key, row, place) for row, place in items]
    return Response(_encode({"data": data, "next": events.make_cursor(key, following)}), 200,
                    mimetype="application/json")


def _register(hub, workspace, query, start):
    try:
        return hub.register(workspace, query.get("job"), query.get("kind"), start)
    except watch.TooManyWatchers as full:
        response = jsonify(detail=f"This server holds {full.args[0]} watchers already "
                                  "(JOBS_MAX_WATCHERS); try again shortly.")
        response.status_code = 503
        response.headers["Retry-After"] = "1"
        return response


def _stream(app, hub, key, workspace, query, start) -> Response:
    watcher = _register(hub, workspace, query, start)
    if isinstance(watcher, Response):
        return watcher
    pool = app.extensions["jobs_db"]
    ends = time.monotonic() + app.config["JOBS_EVENTS_STREAM_SECONDS"]

    def frames(items, following):
        _sent(items, "stream")
        for row, place in items:
            event = events.as_wire(key, row, place)
            yield f"id: {event['id']}\nevent: {event['kind']}\ndata: {_encode(event)}\n\n"
        watcher.after = following

    def generate():
        try:
            yield ": the stream of events; resume with Last-Event-ID\n\n"
            taken = None  # None: read the database
            while True:
                if taken is None:
                    while True:
                        with _connection(pool) as database:
                            items, following = _read(database, workspace, watcher.after,
                                                     query, events.PAGE_MAX)
                        yield from frames(items, following)
                        if len(items) < events.PAGE_MAX:
                            break
                else:
                    yield from frames(*taken)
                left = ends - time.monotonic()
                if left <= 0 or hub.closing:
                    return
                if watcher.wait(min(KEEPALIVE_SECONDS, left)):
                    taken = watcher.take(events.PAGE_MAX)
                else:
                    taken = ([], watcher.after)
                    yield ":\n\n"  # a keep-alive comment
        finally:
            hub.unregister(watcher)

    response = Response(generate(), 200, mimetype="text/event-stream")
    response.headers["Cache-Control"] = "no-cache"
    response.headers["X-Accel-Buffering"] = "no"  # proxies: pass each event on at once
    return response


@bp.get("/workspaces/<workspace>/events")
@operation("List a workspace's events, or stream them (Accept: text/event-stream; resume "
           "with Last-Event-ID)")
@arguments(_query)
@answers(200, _page, "Events after the cursor, oldest first; or, with Accept: "
                     "text/event-stream, a stream of them")
@refuses(410, EXPIRED)
@refuses(503, FULL)
def workspace_events(workspace, query):
    return _feed(workspace, None, query)


@bp.get("/workspaces/<workspace>/jobs/<name>/events")
@operation("List a job's events, or stream them (Accept: text/event-stream; resume with "
           "Last-Event-ID)")
@arguments(_query)
@answers(200, _page, "The job's events after the cursor, oldest first; or a stream of them")
@refuses(410, EXPIRED)
@refuses(503, FULL)
def job_events(workspace, name, query):
    return _feed(workspace, name, query)


# Events-Cursor on reads, and Prefer: wait on the GETs of one entity.


def with_events_cursor(view):
    """The answer carries the feed's place as of the read: the place and the read are one
    snapshot, so watching from it yields exactly the changes the read did not show."""
    @wraps(view)
    def run(**kwargs):
        with db().snapshot() as database:
            cursor = events.make_cursor(_key(), events.newest(database))
            response = current_app.make_response(view(**kwargs))
        response.headers["Events-Cursor"] = cursor
        return response
    return run


def _prefer_wait() -> int | None:
    header = request.headers.get("Prefer")
    found = _PREFER_WAIT.search(header or "")
    if found is None:
        return None
    return min(int(found.group(1)), current_app.config["JOBS_MAX_WAIT_SECONDS"])


def _unchanged(response: Response) -> bool:
    if response.status_code == 304:
        return True
    tag = response.get_etag()[0]
    return response.status_code == 200 and tag is not None and \
        request.if_none_match.contains_weak(tag)


def waitable(view):
    """`If-None-Match` with `Prefer: wait=N`: answer when the representation differs from
    the tag (200), or after N s with 304; `Preference-Applied: wait=N` says it was honoured."""
    @wraps(view)
    def run(**kwargs):
        wait = _prefer_wait()
        if wait is None or not request.if_none_match:
            return view(**kwargs)
        workspace, job = kwargs["workspace"], kwargs.get("job", kwargs.get("name"))
        hub = watch.hub_for(current_app._get_current_object())
        watcher = _register(hub, workspace, {"job": [job]}, events.START)
        if isinstance(watcher, Response):
            return view(**kwargs)  # no room to wait: answer at once
        try:
            deadline = time.monotonic() + wait
            while True:
                response = current_app.make_response(view(**kwargs))
                if not _unchanged(response):
                    break
                left = deadline - time.monotonic()
                if left <= 0 or hub.closing:
                    response = _not_modified(response)
                    break
                release_db()
                if watcher.wait(left):
                    watcher.take(events.PAGE_MAX)  # woken: read the entity again
        finally:
            hub.unregister(watcher)
        response.headers["Preference-Applied"] = f"wait={wait}"
        response.headers["Vary"] = "Prefer"
        return response
    return run


def _not_modified(response: Response) -> Response:
    if response.status_code == 304:
        return response
    unchanged = Response(status=304)
    unchanged.headers["ETag"] = response.headers["ETag"]
    del unchanged.headers["Content-Type"]
    return unchanged


WAITABLE = ("jobs.get_job", "jobs.status_tree", "steps.get_step", "tasks.get_task")
WITH_CURSOR = ("jobs.status_tree", "jobs.list_jobs", "tasks.list_tasks")


def register(app: Flask, prefix: str) -> None:
    """The feed's routes, and the reads that carry Events-Cursor or honour Prefer: wait
    (their declarations, `api`, go with them through functools.wraps)."""
    app.register_blueprint(bp, url_prefix=prefix)
    for endpoint in WITH_CURSOR:
        app.view_functions[endpoint] = with_events_cursor(app.view_functions[endpoint])
    for endpoint in WAITABLE:
        app.view_functions[endpoint] = waitable(app.view_functions[endpoint])


def init_app(app: Flask) -> None:
    watch.hub_for(app)  # a write in this process nudges it (nothing starts here)
