"""Liveness and readiness, for load balancers and orchestrators; never behind auth."""

import logging

from flask import Blueprint, current_app, jsonify

from . import faults
from .answers import json_error
from .http import db

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/health/live")
def live():
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready():
    """200 when the database answers and no storage fault is known; 503 naming the fault
    while one lasts. Cheap: a read, plus (only during a fault) a probe of whether it is
    over that writes nothing, so readiness turns 200 by itself when it is."""
    target = current_app.config["JOBS_DB"]
    episodes = faults.episodes(target)
    fault = episodes.current()
    try:
        if not fault:
            db().ping()
        elif episodes.due_for_probe(fault["kind"]):
            db().probe(fault)
            faults.probe_passed(target)
        else:
            raise faults.StorageFault(fault["kind"], "still faulty at the last probe")
    except Exception as exc:
        fault = faults.classify(exc, target)
        if fault is None:  # the reason goes to the log, not to the caller
            log.exception("readiness check failed")
            fault = faults.StorageFault("unreachable")
        else:
            faults.began(target, fault)
        return json_error(503, fault.detail, [("Retry-After", str(fault.retry_after))],
                          status="unavailable", database=fault.kind)
    return jsonify(status="ok", database="ok")
