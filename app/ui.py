"""The dashboard at /ui: pages for people, drawn from the JSON API by a little JavaScript.

The pages carry no data of their own, only the names in their URL and the chosen filters,
so they are served without a token; every job, step and task reaches the browser through
/apis with the reader's own bearer token, under the same rules as any other caller. The
scripts and styles are files of this package: nothing is fetched from elsewhere.
"""

from flask import Blueprint, render_template, request

from schemas import valid_name
from schemas.fields import NAME_MESSAGE
from statemachine import ACTIONS, TERMINAL, Status, is_legal

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates",
               static_folder="static/ui", static_url_path="/static")

DEFAULT_WORKSPACE = "default"  # upstream's name for the workspace one gets without asking
PAGE_SIZE = 20  # a page's job names go into one steps query: keep its URL short
STATUSES = [s.value for s in Status]


def _words(statuses) -> str:
    return " ".join(s.value for s in Status if s in statuses)


def _action_rules() -> list[dict]:
    """When each job action changes something, read off the rules the server acts by
    (statemachine.ACTIONS and the transition table), for the job page's buttons:
    `when` the job's statuses it may apply in; `moves` the step statuses it would move (at
    least one step must have one); `refused` the step statuses that make the server refuse
    it (a move the table forbids). Rerun has no steps to move: a terminal job starts anew."""
    rules = [{"action": action, "when": _words(set(Status) - TERMINAL),
              "moves": _words({s for s, t in asks.items() if s != t and is_legal(s, t)}),
              "refused": _words({s for s, t in asks.items() if s != t and not is_legal(s, t)})}
             for action, asks in ACTIONS.items()]
    return rules + [{"action": "rerun", "when": _words(TERMINAL), "moves": "", "refused": ""}]


ACTION_RULES = _action_rules()
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
    # A name the API would refuse is answered here, with the rule, and nothing is asked.
    bad_name = None if valid_name(workspace) else _bad_name("workspace", workspace)
    return render_template("ui/jobs.html", workspace=workspace, statuses=STATUSES,
                           chosen=chosen, page=page, page_size=PAGE_SIZE, bad_name=bad_name)


@bp.get("/workspaces/<workspace>/jobs/<name>")
def job(workspace, name):
    for kind, value in (("workspace", workspace), ("job", name)):
        if not valid_name(value):
            return _not_found(_bad_name(kind, value))
    return render_template("ui/job.html", workspace=workspace, name=name,
                           actions=ACTION_RULES)


@bp.get("/<path:anything>")
def unknown(anything):
    return _not_found()


def _bad_name(kind: str, value: str) -> str:
    shown = value if len(value) <= 80 else value[:80] + "…"
    return f"'{shown}' is not a valid {kind} name. {NAME_MESSAGE}"


def _not_found(bad_name: str | None = None):
    return render_template("ui/not_found.html", workspace=DEFAULT_WORKSPACE,
                           bad_name=bad_name), 404
