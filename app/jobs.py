"""Jobs and their steps."""

from flask import Blueprint

import schemas

from . import store
from .http import check_names, db, entity, json_body, load, principal

bp = Blueprint("jobs", __name__)


@bp.post("/workspaces/<workspace>/jobs")
def create_job(workspace):
    check_names(workspace=workspace)
    data = load(schemas.job_create, json_body())
    return entity(schemas.job, store.create_job(db(), workspace, data, principal()), 201)


@bp.get("/workspaces/<workspace>/jobs/<name>")
def get_job(workspace, name):
    check_names(workspace=workspace, name=name)
    return entity(schemas.job, store.get_job(db(), workspace, name))


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<name>")
def get_step(workspace, job, name):
    check_names(workspace=workspace, job=job, name=name)
    return entity(schemas.step, store.get_step(db(), workspace, job, name))
