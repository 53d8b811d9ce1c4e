"""A job's steps: list, read, and move."""

from flask import Blueprint, jsonify

from schemas import plain_dumper
from schemas.job import CountedStepSchema, StepPageSchema, StepStatusUpdateSchema
from schemas.query import StepListQuerySchema

from . import store
from .api import OPAQUE, answers, arguments, body, operation, refuses
from .http import conditional, db, if_match, json_answer, principal, step_tag, unchanged

bp = Blueprint("steps", __name__)
# A step's ETag (app/http.py step_tag), as the document describes it.
STEP_VERSION = '"<db_version>.<hash of its tasks\' counts>"; If-Match takes it or "<db_version>"'
_query = StepListQuerySchema()
_page = StepPageSchema()
_move = StepStatusUpdateSchema()
dump_step = plain_dumper(CountedStepSchema())  # the single-step answers, without marshmallow's walk


@bp.get("/workspaces/<workspace>/jobs/<name>/steps")
@operation("List a job's current steps ({name} = '-': every job's)", wildcard=("name",))
@arguments(_query)
@answers(200, _page, "A page", etag=OPAQUE)
@answers(304)
def list_steps(workspace, name, query):
    steps = store.list_steps(db(), workspace, name, query)
    return conditional(jsonify(_page.dump(steps)))


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<name>")
@operation("Get a step")
@answers(200, CountedStepSchema, "The step", etag=STEP_VERSION)
@answers(304)
def get_step(workspace, job, name):
    mark = store.job_mark(db(), workspace, job)  # before the step: the tag is never newer
    step = store.get_step(db(), workspace, job, name)
    tag = step_tag(step, mark)
    return unchanged(tag) or json_answer(dump_step(store.counted(db(), step)), tag)


@bp.patch("/workspaces/<workspace>/jobs/<job>/steps/<name>/status")
@operation("Move a step")
@body(_move)
@answers(200, CountedStepSchema, "The step", etag=STEP_VERSION)
@refuses(412)
def update_step_status(workspace, job, name, body):
    step, mark = store.update_step_status(db(), workspace, job, name, body,
                                          if_match(step=True), principal())
    return json_answer(dump_step(store.counted(db(), step)), step_tag(step, mark))
