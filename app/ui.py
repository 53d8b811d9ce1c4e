"""The dashboard at /ui: pages for people, drawn from the JSON API by a little JavaScript.

The pages carry no data of their own, only the names in their URL and the chosen filters,
so they are served without a token; every job, step and task reaches the browser through
/apis with the reader's own bearer token, under the same rules as any other caller. The
scripts and styles are files of this package: nothing is fetched from elsewhere.
"""

from flask import Blueprint, render_template, request

from schemas import valid_name
from statemachine import Status

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates",
               static_folder="static/ui", static_url_path="/static")

DEFAULT_WORKSPACE = "default"  # upstream's name for the workspace one gets without asking
PAGE_SIZE = 20  # a page's job names go into one steps query: keep its URL short
STATUSES = [s.value for s in Status]
# No inline script or style anywhere, so the policy can forbid both: a value that slipped
# into the page as markup still could not run.
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
          "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


@bp.after_request
def _harden(response):
    response.headers["Content-Security-Policy"] = POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/")
def jobs():
    workspace = request.args.get("workspace", "").strip() or DEFAULT_WORKSPACE
    chosen = [s for s in request.args.getlist("status") if s in STATUSES]
    page = request.args.get("page", "")
    page = int(page) if page.isdigit() and 0 < int(page) < 10**9 else 1
    return render_template("ui/jobs.html", workspace=workspace, statuses=STATUSES,
                           chosen=chosen, page=page, page_size=PAGE_SIZE)


@bp.get("/workspaces/<workspace>/jobs/<name>")
def job(workspace, name):
    if not (valid_name(workspace) and valid_name(name)):
        return _not_found()
    return render_template("ui/job.html", workspace=workspace, name=name)


@bp.get("/<path:anything>")
def unknown(anything):
    return _not_found()


def _not_found():
    return render_template("ui/not_found.html", workspace=DEFAULT_WORKSPACE), 404
