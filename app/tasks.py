"""A step's tasks: the workers' progress reports."""

from flask import Blueprint, jsonify

import schemas
from schemas.history import HistoryPageSchema
from schemas.task import TaskListSchema, TaskSchema

from . import store
from .api import VERSION, answers, arguments, body, operation, refuses
from .http import db, entity, if_match, principal

bp = Blueprint("tasks", __name__)


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<name>/tasks")
@operation("List a step's tasks")
@answers(200, TaskListSchema, "The tasks")
def list_tasks(workspace, job, name):
    return jsonify(schemas.task_list.dump({"data": store.list_tasks(db(), workspace, job, name)}))


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>")
@operation("Get a task")
@answers(200, TaskSchema, "The task", etag=VERSION)
def get_task(workspace, job, step, name):
    return entity(schemas.dump_task, store.get_task(db(), workspace, job, step, name))


@bp.put("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>")
@operation("Update a task",
           operationId="update-job-step-task-apis-jobs-v-2-workspaces-workspace-jobs-"
                       "job-steps-step-tasks-name-put",
           description="Update a job step task (upstream's summary: Update Job Step Task).")
@body(schemas.task_update, empty_as={})  # the seed's own example sends {}
@answers(200, TaskSchema, "Successful Response", etag=VERSION)
@refuses(412)
def put_task(workspace, job, step, name, body):
    task = store.put_task(db(), workspace, job, step, name, body, if_match(), principal())
    return entity(schemas.dump_task, task)


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>/history")
@operation("List a task's status changes, oldest first")
@arguments(schemas.page_query)
@answers(200, HistoryPageSchema, "A page")
def task_history(workspace, job, step, name, query):
    history = store.task_history(db(), workspace, job, step, name, query["page"],
                                 query["page_size"])
    return jsonify(schemas.history_page.dump(history))
