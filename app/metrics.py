"""Prometheus metrics: requests by route, method and status, latency, and transitions.

Under gunicorn, gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR at a fresh folder before any
worker imports this module, so every worker's counts land in shared files and `/metrics`
sums them; without it (dev server, tests) the process's own registry is used.
"""

import os

from flask import Blueprint, Response
from prometheus_client import (CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge,
                               Histogram, generate_latest, multiprocess, REGISTRY)

from .signals import (lease_changed, reconciler_passed, storage_fault_answered,
                      transition_accepted, transition_refused)

REQUESTS = Counter("jobs_http_requests_total", "HTTP requests answered.",
                   ["route", "method", "status"])
LATENCY = Histogram("jobs_http_request_duration_seconds", "Time to answer a request.",
                    ["route", "method"],
                    buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
TRANSITIONS = Counter("jobs_transitions_total", "Status changes asked for, by outcome.",
                      ["kind", "from", "to", "outcome"])
LOG_LINES = Counter("jobs_log_lines_appended_total", "Log lines stored by appends.")
DOWNLOADS = Counter("jobs_result_downloads_total", "Artifact downloads, by outcome "
                    "(sent; missing; refused: would read outside its fileset).", ["outcome"])
STORAGE_FAULTS = Counter("jobs_storage_faults_total",
                         "Requests answered 503 because the storage failed, by kind of fault.",
                         ["kind"])

WATCHERS = Gauge("jobs_event_watchers", "Requests waiting for events now (long-polls, "
                 "streams, Prefer: wait).", multiprocess_mode="livesum")
EVENTS_SENT = Counter("jobs_events_sent_total", "Events sent to readers, by form.", ["form"])
CURSOR_LAG = Histogram("jobs_event_cursor_lag_seconds", "How long after its commit an event "
                       "was sent to a reader (a reader far behind shows here too).",
                       buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 60, 600, 3600))
# 1 in the process holding the reconciler's lease, 0 in the others. Under gunicorn the
# multi-process collector labels each live worker's value with its `pid` itself ('liveall':
# a dead worker's file goes with it); in one process the label is set here.
_MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR" in os.environ
LEASE_HELD = Gauge("jobs_reconciler_lease_held",
                   "1 in the process that holds the reconciler's lease, 0 in the others.",
                   [] if _MULTIPROCESS else ["pid"], multiprocess_mode="liveall")
PASSES = Counter("jobs_reconciler_passes_total",
                 "Reconciler passes run by the lease holder, by outcome (ok, failed).",
                 ["outcome"])
ACTIONS = Counter("jobs_reconciler_actions_total",
                  "What the reconciler did, by kind (deadline_before_active, deadline_active, "
                  "stale_step, stale_task, pruned_job).", ["kind"])
PASS_SECONDS = Histogram("jobs_reconciler_pass_seconds", "Time a reconciler pass took.",
                         buckets=(.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5))

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics():
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    # content_type, not mimetype: werkzeug would append a second "; charset=utf-8".
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


def _storage_fault(kind, **_):
    STORAGE_FAULTS.labels(kind).inc()


def _accepted(kind, source, target, **_):
    TRANSITIONS.labels(kind, source or "", target, "accepted").inc()


def _refused(kind, source, target, **_):
    TRANSITIONS.labels(kind, source or "", target, "refused").inc()


def _lease(pid, held, **_):
    (LEASE_HELD if _MULTIPROCESS else LEASE_HELD.labels(str(pid))).set(1 if held else 0)


def _passed(pid, seconds, failed, actions, **_):
    PASSES.labels("failed" if failed else "ok").inc()
    PASS_SECONDS.observe(seconds)
    for kind, count in actions.items():
        if count:
            ACTIONS.labels(kind).inc(count)


def subscribe() -> None:
    """Count what app/signals.py announces (connecting twice is connecting once)."""
    lease_changed.connect(_lease, weak=False)
    reconciler_passed.connect(_passed, weak=False)
    transition_accepted.connect(_accepted, weak=False)
    transition_refused.connect(_refused, weak=False)
    storage_fault_answered.connect(_storage_fault, weak=False)
