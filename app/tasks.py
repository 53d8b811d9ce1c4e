"""A step's tasks: the workers' progress reports."""

from flask import Blueprint, jsonify

from schemas import plain_dumper
from schemas.history import HistoryPageSchema, PageQuerySchema
from schemas.query import TaskListQuerySchema, paged
from schemas.task import TaskListSchema, TaskSchema, TaskUpdateSchema

from . import store
from .api import OPAQUE, VERSION, answers, arguments, body, operation, refuses
from .http import db, entity, fingerprint_tag, if_match, json_answer, principal, unchanged

bp = Blueprint("tasks", __name__)
_update = TaskUpdateSchema()
_list = TaskListSchema()
_query = TaskListQuerySchema()
_history_query = PageQuerySchema()
_history = HistoryPageSchema()
dump_task = plain_dumper(TaskSchema())  # the single-task answers, without marshmallow's walk


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<name>/tasks")
@operation("List a step's tasks: all of them in arrival order, or a page when the query "
           "has any of page, page_size, sort or a filter")
@arguments(_query)
@answers(200, _list, "The tasks, or a page of them", etag=OPAQUE)
@answers(304)
def list_tasks(workspace, job, name, query):
    mark = store.job_mark(db(), workspace, job)  # before the tasks: the tag is never newer
    step = store.get_step(db(), workspace, job, name)
    tag = fingerprint_tag("tasks", step["id"], *mark, sorted(query.items()))
    not_modified = unchanged(tag)
    if not_modified is not None:
        return not_modified
    page = paged(query)
    found = store.list_tasks(db(), step["id"], page)
    if page is None:
        return json_answer({"data": [dump_task(task) for task in found]}, tag)
    return json_answer({**found, "data": [dump_task(task) for task in found["data"]]}, tag)


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>")
@operation("Get a task")
@answers(200, TaskSchema, "The task", etag=VERSION)
def get_task(workspace, job, step, name):
    return entity(dump_task, store.get_task(db(), workspace, job, step, name))


@bp.put("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>")
@operation("Update a task",
           operationId="update-job-step-task-apis-jobs-v-2-workspaces-workspace-jobs-"
                       "job-steps-step-tasks-name-put",
           description="Update a job step task (upstream's summary: Update Job Step Task).")
@body(_update, empty_as={})  # the seed's own example sends {}
@answers(200, TaskSchema, "Successful Response", etag=VERSION)
@refuses(412)
def put_task(workspace, job, step, name, body):
    task = store.put_task(db(), workspace, job, step, name, body, if_match(), principal())
    return entity(dump_task, task)


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>/history")
@operation("List a task's status changes, oldest first")
@arguments(_history_query)
@answers(200, _history, "A page")
def task_history(workspace, job, step, name, query):
    history = store.task_history(db(), workspace, job, step, name, query["page"],
                                 query["page_size"])
    return jsonify(_history.dump(history))
