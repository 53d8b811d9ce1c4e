"""A job's results: recorded by workers, listed, read, and their artifacts downloaded."""

import os

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.wsgi import wrap_file

from schemas import error
from schemas.results import (ResultCreateSchema, ResultListQuerySchema, ResultListSchema,
                             ResultSchema, parse_artifact_url)

from . import metrics, store
from .artifacts import ArtifactRefused, open_artifact
from .docs import (BODY_ERRORS, ERRORS, IF_MATCH, IF_NONE_MATCH, UNCHANGED, components,
                   documented, json_answer, polled_answer)
from .errors import NotFound, PreconditionFailed, RequestValidationError
from .http import (check_names, conditional, db, if_match, json_body, load, principal,
                   query_args)

bp = Blueprint("results", __name__)
_create = ResultCreateSchema()
_query = ResultListQuerySchema()
_result = ResultSchema()
_list = ResultListSchema()
CHUNK = 64 * 1024
components({"PlatformJobResultCreate": ResultCreateSchema})
components({"PlatformJobResultResponse": ResultSchema,
            "PlatformJobListResultResponse": ResultListSchema}, answers=True)
SORT = {"name": "sort", "in": "query", "schema": {
    "type": "string", "enum": _query.fields["sort"].validate.choices, "default": "-created_at"}}


def _answer(result: dict) -> dict:
    download = (f"/apis/jobs/v2/workspaces/{result['workspace']}/jobs/{result['job']}/results/"
                f"{result['name']}/download")
    return _result.dump({**result, "download_url": download})


@documented(bp, "post", "/workspaces/<workspace>/jobs/<job>/results/<name>", "Record a result",
            ok=("201", json_answer("PlatformJobResultResponse", "Created")),
            body="PlatformJobResultCreate",
            errors={**BODY_ERRORS, "409": json_answer("ErrorDetail", "Name in use for the job")},
            headers=[IF_MATCH])
def create_result(workspace, job, name):
    check_names(workspace=workspace, job=job, name=name)
    data = load(_create, json_body())
    owner = parse_artifact_url(data["artifact_url"])[0]
    if owner != workspace:  # another workspace's fileset is never this job's result
        raise RequestValidationError([error(
            "artifact_outside_workspace", ["body", "artifact_url"],
            f"artifact_url names a fileset of workspace '{owner}'; a result of workspace "
            f"'{workspace}' must name one of its own.", data["artifact_url"],
            {"workspace": workspace})])
    if if_match() is not None:
        raise PreconditionFailed("If-Match cannot hold: the result does not exist yet.")
    result = store.create_result(db(), workspace, job, name, data, principal())
    return jsonify(_answer(result)), 201


@documented(bp, "get", "/workspaces/<workspace>/jobs/<name>/results", "List a job's results",
            ok=("200", polled_answer("PlatformJobListResultResponse", "Every result")),
            query=[SORT], errors={**ERRORS, **UNCHANGED}, headers=[IF_NONE_MATCH])
def list_results(workspace, name):
    check_names(workspace=workspace, name=name)
    sort = query_args(_query)["sort"]
    results = store.list_results(db(), workspace, name, sort)
    return conditional(jsonify(_list.dump({"data": [_answer(r) for r in results]})))


@documented(bp, "get", "/workspaces/<workspace>/jobs/<job>/results/<name>", "Get a result",
            ok=("200", json_answer("PlatformJobResultResponse", "The result")))
def get_result(workspace, job, name):
    check_names(workspace=workspace, job=job, name=name)
    return jsonify(_answer(store.get_result(db(), workspace, job, name)))


@documented(bp, "get", "/workspaces/<workspace>/jobs/<job>/results/<name>/download",
            "Download a result's artifact",
            ok=("200", {"description": "The artifact's bytes", "content": {
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}),
            errors={**ERRORS, "403": json_answer(
                "ErrorDetail", "The artifact would be read from outside its fileset")})
def download_result(workspace, job, name):
    check_names(workspace=workspace, job=job, name=name)
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
