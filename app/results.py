"""A job's results: recorded by workers, listed, read, and their artifacts downloaded."""

import os

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.wsgi import wrap_file

from schemas import error
from schemas.results import (ResultCreateSchema, ResultListQuerySchema, ResultListSchema,
                             ResultSchema, parse_artifact_url)

from . import metrics, store
from .artifacts import ArtifactRefused, open_artifact
from .api import OPAQUE, answers, arguments, body, operation, refuses
from .errors import NotFound, PreconditionFailed, RequestValidationError
from .http import conditional, db, if_match, principal

bp = Blueprint("results", __name__)
_create = ResultCreateSchema()
_query = ResultListQuerySchema()
_result = ResultSchema()
_list = ResultListSchema()
CHUNK = 64 * 1024


def _answer(result: dict) -> dict:
    download = (f"/apis/jobs/v2/workspaces/{result['workspace']}/jobs/{result['job']}/results/"
                f"{result['name']}/download")
    return _result.dump({**result, "download_url": download})


@bp.post("/workspaces/<workspace>/jobs/<job>/results/<name>")
@operation("Record a result")
@body(_create)
@answers(201, _result, "Created")
@refuses(409, "Name in use for the job")
@refuses(412)
def create_result(workspace, job, name, body):
    owner = parse_artifact_url(body["artifact_url"])[0]
    if owner != workspace:  # another workspace's fileset is never this job's result
        raise RequestValidationError([error(
            "artifact_outside_workspace", ["body", "artifact_url"],
            f"artifact_url names a fileset of workspace '{owner}'; a result of workspace "
            f"'{workspace}' must name one of its own.", body["artifact_url"],
            {"workspace": workspace})])
    if if_match() is not None:
        raise PreconditionFailed("If-Match cannot hold: the result does not exist yet.")
    result = store.create_result(db(), workspace, job, name, body, principal())
    return jsonify(_answer(result)), 201


@bp.get("/workspaces/<workspace>/jobs/<name>/results")
@operation("List a job's results")
@arguments(_query)
@answers(200, _list, "Every result", etag=OPAQUE)
@answers(304)
def list_results(workspace, name, query):
    results = store.list_results(db(), workspace, name, query["sort"])
    return conditional(jsonify(_list.dump({"data": [_answer(r) for r in results]})))


@bp.get("/workspaces/<workspace>/jobs/<job>/results/<name>")
@operation("Get a result")
@answers(200, _result, "The result")
def get_result(workspace, job, name):
    return jsonify(_answer(store.get_result(db(), workspace, job, name)))


@bp.get("/workspaces/<workspace>/jobs/<job>/results/<name>/download")
@operation("Download a result's artifact")
@answers(200, {"type": "string", "format": "binary"}, "The artifact's bytes",
         media="application/octet-stream")
@refuses(403, "The artifact would be read from outside its fileset")
def download_result(workspace, job, name):
    result = store.get_result(db(), workspace, job, name)
    missing = f"The artifact of result '{name}' for job '{job}' is not there."
    try:
        fd, size = open_artifact(current_app.config["JOBS_ARTIFACTS_DIR"], workspace,
                                 result["artifact_url"], missing)
    except ArtifactRefused:
        metrics.DOWNLOADS.labels("refused").inc()
        raise
    except NotFound:
        metrics.DOWNLOADS.labels("missing").inc()
        raise
    metrics.DOWNLOADS.labels("sent").inc()
    filename = result["artifact_url"].rsplit("/", 1)[-1]
    # Streamed in chunks (gunicorn may use sendfile); the file is never read whole.
    body = wrap_file(request.environ, os.fdopen(fd, "rb"), buffer_size=CHUNK)
    response = Response(body, mimetype="application/octet-stream", direct_passthrough=True)
    response.content_length = size
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
