"""Liveness and readiness, for load balancers and orchestrators; never behind auth."""

import logging

from flask import Blueprint, jsonify

from . import faults
from .http import db

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/health/live")
def live():
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready():
    try:
        db().ping()
    except Exception as exc:
        fault = faults.classify(exc)
        if fault is None:  # the reason goes to the log, not to the caller
            log.exception("readiness check failed")
            fault = faults.StorageFault("unreachable")
        return (jsonify(status="unavailable", database=fault.kind, detail=fault.detail), 503,
                {"Retry-After": str(fault.retry_after)})
    return jsonify(status="ok", database="ok")
