"""A step's tasks: the workers' progress reports."""

from flask import Blueprint, jsonify

import schemas

from . import store
from .http import check_names, db, entity, if_match, json_body, load, principal, query_args

bp = Blueprint("tasks", __name__)


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<name>/tasks")
def list_tasks(workspace, job, name):
    check_names(workspace=workspace, job=job, name=name)
    return jsonify(schemas.task_list.dump({"data": store.list_tasks(db(), workspace, job, name)}))


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>")
def get_task(workspace, job, step, name):
    check_names(workspace=workspace, job=job, step=step, name=name)
    return entity(schemas.dump_task, store.get_task(db(), workspace, job, step, name))


@bp.put("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>")
def put_task(workspace, job, step, name):
    check_names(workspace=workspace, job=job, step=step, name=name)
    update = load(schemas.task_update, json_body(empty_as={}))
    task = store.put_task(db(), workspace, job, step, name, update, if_match(), principal())
    return entity(schemas.dump_task, task)


@bp.get("/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>/history")
def task_history(workspace, job, step, name):
    check_names(workspace=workspace, job=job, step=step, name=name)
    query = query_args(schemas.page_query)
    history = store.task_history(db(), workspace, job, step, name, query["page"],
                                 query["page_size"])
    return jsonify(schemas.history_page.dump(history))
