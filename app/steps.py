"""A job's steps: list, read, and move."""

from flask import Blueprint, jsonify

import schemas
from schemas.job import StepPageSchema, StepSchema

from . import store
from .api import OPAQUE, VERSION, answers, arguments, body, operation, refuses
from .http import conditional, db, entity, if_match, principal

bp = Blueprint("steps", __name__)


@bp.get("/workspaces/<workspace>/jobs/<name>/steps")
@operation("List a job's current steps ({name} = '-': every job's)", wildcard=("name",))
@arguments(schemas.step_query)
@answers(200, StepPageSchema, "A page", etag=OPAQUE)
@answers(304)
def list_steps(workspace, name, query):
    steps = store.list_steps(db(), workspace, name, query)
    return conditional(jsonify(schemas.step_page.dump(steps)))


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<name>")
@operation("Get a step")
@answers(200, StepSchema, "The step", etag=VERSION)
def get_step(workspace, job, name):
    return entity(schemas.dump_step, store.get_step(db(), workspace, job, name))


@bp.patch("/workspaces/<workspace>/jobs/<job>/steps/<name>/status")
@operation("Move a step")
@body(schemas.step_status_update)
@answers(200, StepSchema, "The step", etag=VERSION)
@refuses(412)
def update_step_status(workspace, job, name, body):
    step = store.update_step_status(db(), workspace, job, name, body, if_match(), principal())
    return entity(schemas.dump_step, step)
