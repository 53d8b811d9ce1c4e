"""The bench's control: a bare Flask app with the same PUT route, answering a fixed task.

It does what any endpoint must (route, read the body, answer JSON) and nothing else, so the
service's throughput divided by this one's is the cost of the real work.
"""

from flask import Flask, jsonify, request

TASK = {
    "name": "t0", "workspace": "bench", "project": "", "step_id": "step-0", "status": "active",
    "status_details": {"progress": 1}, "error_details": {}, "error_stack": "", "id": "task-0",
    "created_at": "2026-01-01T00:00:00.000000Z", "created_by": None,
    "updated_at": "2026-01-01T00:00:00.000000Z", "updated_by": None, "entity_id": "task-0",
    "parent": "step-0", "db_version": 1,
}

app = Flask(__name__)


@app.put("/apis/jobs/v2/workspaces/<workspace>/jobs/<job>/steps/<step>/tasks/<name>")
def put_task(workspace, job, step, name):
    request.get_json()
    return jsonify(TASK)
