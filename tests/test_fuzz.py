"""Property-based fuzzing of every operation in the service's own OpenAPI document.

schemathesis generates valid and invalid requests from /openapi.json and checks each
answer: never a 5xx, and status, content type, headers and body as the document says.
Bounded (EXAMPLES per operation, derandomized, no example database) so it fits CI and
gives the same verdict on every run.

One check is refined rather than taken as is: schemathesis expects every schema-valid
request to be accepted, but this service refuses valid requests for reasons no schema can
state: the entity's current status (a 422 `invalid_transition`), a stale `If-Match` (412),
repeated step names in one job, nesting deeper than JOBS_MAX_JSON_DEPTH, a log line for a step
the job does not have (`unknown_step`), an artifact URL in another workspace than the path's
(`artifact_outside_workspace`), a page cursor the service did not issue (`invalid_cursor`:
cursors are opaque and signed), an Idempotency-Key already used for another request
(`idempotency_key_reused`), a bulk action that names no filter (`filter_required`: "at
least one of these parameters" is no schema's word), or a string holding U+0000
(`json_invalid`: PostgreSQL's text cannot store it, so no backend accepts it). Those are the
only refusals of schema-valid data allowed; anything else fails the test.
"""

import atexit
import shutil
import tempfile
from pathlib import Path

import jsonschema
import pytest

schemathesis = pytest.importorskip("schemathesis")
pytestmark = pytest.mark.slow  # 640 generated requests (conftest skips importing it)
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from app import create_app  # noqa: E402
from app.db import migrate  # noqa: E402
from app.http import holds_nul  # noqa: E402

from .conftest import platform_spec  # noqa: E402

EXAMPLES = 20  # per operation (at 50, about 2.7 s each: the suite's largest single cost)
STATEFUL_REFUSALS = {"invalid_transition", "json_too_deep", "unknown_step",
                     "artifact_outside_workspace", "invalid_cursor", "idempotency_key_reused",
                     "filter_required"}


def _app():
    # Built at import: schemathesis reads the document while pytest collects.
    folder = tempfile.mkdtemp(prefix="jobs-fuzz-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "fuzz.db"
    migrate(str(path))
    # No waiting for events: a generated `wait=60` would hold its case for a minute (what
    # waiting does is tests/test_events.py's); SQLite without an fsync per commit.
    app = create_app({"JOBS_DB": str(path), "JOBS_MAX_WAIT_SECONDS": 0,
                      "JOBS_SQLITE_SYNCHRONOUS": "normal"})
    client = app.test_client()
    # Something for the generated names to find now and then.
    client.post("/apis/jobs/v2/workspaces/aa/jobs",
                json={"name": "aa", "platform_spec": platform_spec("aa")})
    client.put("/apis/jobs/v2/workspaces/aa/jobs/aa/steps/aa/tasks/aa", json={})
    return app


schema = schemathesis.openapi.from_wsgi("/openapi.json", _app())


def _repeated_step_names(case) -> bool:
    steps = (case.body or {}).get("platform_spec", {}).get("steps", []) if isinstance(case.body, dict) else []
    names = [s.get("name") for s in steps if isinstance(s, dict)]
    return len(names) != len(set(names))


def _headers_fit_their_schemas(case) -> bool:
    headers = case.headers or {}
    return all(jsonschema.Draft202012Validator(p["schema"]).is_valid(headers[p["name"]])
               for p in case.operation.definition.raw.get("parameters", [])
               if p["in"] == "header" and p["name"] in headers)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_every_operation_conforms_to_the_document(case):
    # The WSGI transport asks for gzip as requests does, but hands the body over undecoded;
    # tests/test_big_jobs.py checks that gzip answers decode to these same bodies.
    response = case.call(headers={"Accept-Encoding": "identity"})
    case.validate_response(response, excluded_checks=[positive_data_acceptance])
    if case.meta is None or case.meta.generation.mode is not GenerationMode.POSITIVE:
        return
    # A "positive" case may still carry one part made to break its schema (an If-Match that
    # does not fit its pattern): that part may be refused like any other invalid input.
    if any(part.mode is not GenerationMode.POSITIVE for part in case.meta.components.values()):
        return
    if not _headers_fit_their_schemas(case):  # some phases mark such a case positive too
        return
    if response.status_code == 422:
        kinds = {e["type"] for e in response.json()["detail"]}
        assert (kinds <= STATEFUL_REFUSALS or _repeated_step_names(case)
                or (kinds == {"json_invalid"} and holds_nul(case.body))), response.text
    else:
        assert response.status_code < 400 or response.status_code in (404, 409, 412), (
            response.status_code, response.text)
