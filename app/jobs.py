"""Jobs: create, list, read, delete, act on, and their status tree and details."""

from flask import Blueprint, jsonify

import schemas

from . import profiles, store
from .errors import PreconditionFailed
from .http import (check_names, conditional, db, entity, if_match, json_body, load, principal,
                   query_args)

bp = Blueprint("jobs", __name__)


@bp.post("/workspaces/<workspace>/jobs")
def create_job(workspace):
    check_names(workspace=workspace)
    data = load(schemas.job_create, json_body())
    profiles.check_executors(data["platform_spec"])
    if if_match() is not None:
        raise PreconditionFailed("If-Match cannot hold: the job does not exist yet.")
    return entity(schemas.dump_job, store.create_job(db(), workspace, data, principal()), 201)


@bp.get("/workspaces/<workspace>/jobs")
def list_jobs(workspace):
    check_names(workspace=workspace)
    query = query_args(schemas.job_query)
    return conditional(jsonify(schemas.job_page.dump(store.list_jobs(db(), workspace, query))))


@bp.get("/workspaces/<workspace>/jobs/<name>")
def get_job(workspace, name):
    check_names(workspace=workspace, name=name)
    return entity(schemas.dump_job, store.get_job(db(), workspace, name))


@bp.delete("/workspaces/<workspace>/jobs/<name>")
def delete_job(workspace, name):
    check_names(workspace=workspace, name=name)
    store.delete_job(db(), workspace, name, if_match(), principal())
    return "", 204


@bp.post("/workspaces/<workspace>/jobs/<name>/<any(cancel, pause, resume):action>")
def act(workspace, name, action):
    check_names(workspace=workspace, name=name)
    load(schemas.action, json_body(empty_as={}))
    return entity(schemas.dump_job, store.act(db(), workspace, name, action, if_match(), principal()))


@bp.post("/workspaces/<workspace>/jobs/<name>/rerun")
def rerun(workspace, name):
    check_names(workspace=workspace, name=name)
    load(schemas.action, json_body(empty_as={}))
    return entity(schemas.dump_job, store.rerun(db(), workspace, name, if_match(), principal()))


@bp.get("/workspaces/<workspace>/jobs/<name>/status")
def status_tree(workspace, name):
    check_names(workspace=workspace, name=name)
    return conditional(jsonify(schemas.job_status.dump(store.status_tree(db(), workspace, name))))


@bp.patch("/workspaces/<workspace>/jobs/<name>/status-details")
def merge_status_details(workspace, name):
    check_names(workspace=workspace, name=name)
    details = load(schemas.status_details, json_body())
    job = store.merge_status_details(db(), workspace, name, details, if_match(), principal())
    return entity(schemas.dump_job, job)


@bp.get("/workspaces/<workspace>/jobs/<name>/history")
def job_history(workspace, name):
    check_names(workspace=workspace, name=name)
    query = query_args(schemas.page_query)
    history = store.job_history(db(), workspace, name, query["page"], query["page_size"])
    return jsonify(schemas.history_page.dump(history))
