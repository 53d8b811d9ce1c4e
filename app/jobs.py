"""Jobs: create, list, read, delete, act on, and their status tree and details."""

from flask import Blueprint, jsonify

from schemas import plain_dumper
from schemas.history import HistoryPageSchema, PageQuerySchema
from schemas.job import (ActionSchema, JobCreateSchema, JobPageSchema, JobSchema, JobStatusSchema,
                         StatusDetailsSchema, StatusQuerySchema, TaskStatusSchema,
                         TreeNodeSchema)
from schemas.query import CUSTOM_FIELDS_HELP, JobListQuerySchema

from . import profiles, store
from .api import OPAQUE, VERSION, answers, arguments, body, operation, refuses
from .errors import PreconditionFailed
from .http import (conditional, db, entity, fingerprint_tag, if_match, json_answer, principal,
                   unchanged)

bp = Blueprint("jobs", __name__)
_create = JobCreateSchema()
_action = ActionSchema()
_query = JobListQuerySchema()
_page = JobPageSchema()
_status = JobStatusSchema()
_status_query = StatusQuerySchema()
_details = StatusDetailsSchema()
_history_query = PageQuerySchema()
_history = HistoryPageSchema()
dump_job = plain_dumper(JobSchema())  # the single-job answers, without marshmallow's walk
_dump_node = plain_dumper(TreeNodeSchema())
_dump_tree_task = plain_dumper(TaskStatusSchema())


def dump_tree(tree: dict) -> dict:
    """JobStatusSchema's dump, without marshmallow's walk of every task (100,000 of them)."""
    steps = []
    for step in tree["steps"]:
        node = {**_dump_node(step), "task_counts": step["task_counts"]}
        if "tasks" in step:
            node["tasks"] = [_dump_tree_task(task) for task in step["tasks"]]
        steps.append(node)
    return {**_dump_node(tree), "steps": steps}


@bp.post("/workspaces/<workspace>/jobs")
@operation("Create a job")
@body(_create)
@answers(201, JobSchema, "Created", etag=VERSION)
@refuses(409, "Name in use")
def create_job(workspace, body):
    profiles.check_executors(body["platform_spec"])
    if if_match() is not None:
        raise PreconditionFailed("If-Match cannot hold: the job does not exist yet.")
    return entity(dump_job, store.create_job(db(), workspace, body, principal()), 201)


@bp.get("/workspaces/<workspace>/jobs")
@operation("List jobs", description=CUSTOM_FIELDS_HELP)
@arguments(_query)
@answers(200, _page, "A page", etag=OPAQUE)
@answers(304)
def list_jobs(workspace, query):
    return conditional(jsonify(_page.dump(store.list_jobs(db(), workspace, query))))


@bp.get("/workspaces/<workspace>/jobs/<name>")
@operation("Get a job")
@answers(200, JobSchema, "The job", etag=VERSION)
def get_job(workspace, name):
    return entity(dump_job, store.get_job(db(), workspace, name))


@bp.delete("/workspaces/<workspace>/jobs/<name>")
@operation("Delete a job with its steps and tasks")
@answers(204, description="Deleted")
@refuses(412)
def delete_job(workspace, name):
    store.delete_job(db(), workspace, name, if_match(), principal())
    return "", 204


@bp.post("/workspaces/<workspace>/jobs/<name>/<any(cancel, pause, resume):action>")
@operation("{action} a job")
@body(_action, empty_as={})
@answers(200, JobSchema, "The job", etag=VERSION)
@refuses(412)
def act(workspace, name, action, body):
    return entity(dump_job, store.act(db(), workspace, name, action, if_match(), principal()))


@bp.post("/workspaces/<workspace>/jobs/<name>/rerun")
@operation("Rerun a job")
@body(_action, empty_as={})
@answers(200, JobSchema, "The job", etag=VERSION)
@refuses(412)
def rerun(workspace, name, body):
    return entity(dump_job, store.rerun(db(), workspace, name, if_match(), principal()))


@bp.get("/workspaces/<workspace>/jobs/<name>/status")
@operation("Get a job's status tree")
@arguments(_status_query)
@answers(200, _status, "The tree", etag=OPAQUE)
@answers(304)
def status_tree(workspace, name, query):
    # The tag comes from the job, its steps and their tasks' counts, read before the tree:
    # a 304 costs one GROUP BY over an index, never the tree.
    head = store.tree_head(db(), workspace, name)
    tag = fingerprint_tag("tree", store.tree_fingerprint(head), query.get("tasks"))
    return unchanged(tag) or json_answer(
        dump_tree(store.status_tree(db(), head, with_tasks=query.get("tasks") != "none")), tag)


@bp.patch("/workspaces/<workspace>/jobs/<name>/status-details")
@operation("Merge into a job's status_details")
@body(_details)
@answers(200, JobSchema, "The job", etag=VERSION)
@refuses(412)
def merge_status_details(workspace, name, body):
    job = store.merge_status_details(db(), workspace, name, body, if_match(), principal())
    return entity(dump_job, job)


@bp.get("/workspaces/<workspace>/jobs/<name>/history")
@operation("List the status changes of a job and everything under it, oldest first")
@arguments(_history_query)
@answers(200, _history, "A page")
def job_history(workspace, name, query):
    history = store.job_history(db(), workspace, name, query["page"], query["page_size"])
    return jsonify(_history.dump(history))
