"""Many jobs at once: counts by status, and cancel, pause, resume or delete by filter.

`-` stands where a job's name would: no name can be `-` (the name pattern starts with a
letter), so these paths never shadow a job's own.
"""

from flask import Blueprint, jsonify

from schemas import error
from schemas.many import BulkAnswerSchema, JobCountsSchema
from schemas.query import CUSTOM_FIELDS_HELP, BulkQuerySchema, JobCountsQuerySchema

from . import store
from .api import OPAQUE, answers, arguments, operation
from .errors import RequestValidationError
from .http import conditional, db, principal

bp = Blueprint("bulk", __name__)
_counts_query = JobCountsQuerySchema()
_bulk_query = BulkQuerySchema()
_counts = JobCountsSchema()
_bulk = BulkAnswerSchema()
NOT_FILTERS = {"limit", "dry_run", "workspace"}  # filter[workspace] is the path's own


@bp.get("/workspaces/<workspace>/jobs/-/counts")
@operation("Count jobs by status", description=(
    "The jobs list's filters; answers the total and the number per status (non-zero "
    "only). " + CUSTOM_FIELDS_HELP))
@arguments(_counts_query)
@answers(200, _counts, "The counts", etag=OPAQUE)
@answers(304)
def count_jobs(workspace, query):
    return conditional(jsonify(_counts.dump(store.count_jobs(db(), workspace, query))))


@bp.post("/workspaces/<workspace>/jobs/-/<any(cancel, pause, resume, delete):action>")
@operation("{action} every job the filters keep", description=(
    "The jobs list's filters, at least one; each matching job (at most `limit`, oldest "
    "first) gets the action as its own endpoint would give it, in its own transaction. "
    "`dry_run=true` answers what would happen and changes nothing. " + CUSTOM_FIELDS_HELP))
@arguments(_bulk_query)
@answers(200, _bulk, "What became of each job")
def act_on_many(workspace, action, query):
    if not any(value for key, value in query.items() if key not in NOT_FILTERS):
        raise RequestValidationError([error(
            "filter_required", ["query"], f"Name at least one filter: {action} acts on the "
            "jobs the filters keep, never on a whole workspace by default.")])
    return jsonify(_bulk.dump(store.bulk_act(db(), workspace, action, query, principal())))
