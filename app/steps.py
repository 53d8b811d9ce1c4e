"""A job's steps: list, read, and move."""

from flask import Blueprint, jsonify

import schemas

from . import store
from .http import (check_names, conditional, db, entity, if_match, json_body, load, principal,
                   query_args)

bp = Blueprint("steps", __name__)


@bp.get("/workspaces/<workspace>/jobs/<name>/steps")
def list_steps(workspace, name):
    check_names(workspace=workspace, **({} if name == "-" else {"name": name}))
    query = query_args(schemas.step_query)
    steps = store.list_steps(db(), workspace, name, query)
    return conditional(jsonify(schemas.step_page.dump(steps)))


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<name>")
def get_step(workspace, job, name):
    check_names(workspace=workspace, job=job, name=name)
    return entity(schemas.dump_step, store.get_step(db(), workspace, job, name))


@bp.patch("/workspaces/<workspace>/jobs/<job>/steps/<name>/status")
def update_step_status(workspace, job, name):
    check_names(workspace=workspace, job=job, name=name)
    update = load(schemas.step_status_update, json_body())
    step = store.update_step_status(db(), workspace, job, name, update, if_match(), principal())
    return entity(schemas.dump_step, step)
