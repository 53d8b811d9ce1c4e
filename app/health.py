"""Liveness and readiness, for load balancers and orchestrators; never behind auth."""

import logging

from flask import Blueprint, jsonify

from .http import db

log = logging.getLogger(__name__)
bp = Blueprint("health", __name__)


@bp.get("/health/live")
def live():
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready():
    try:
        db().execute("SELECT 1 FROM _sqlite_migrations LIMIT 1").fetchall()
    except Exception:  # the reason goes to the log, not to the caller
        log.exception("readiness check failed")
        return jsonify(status="unavailable", database="unreachable"), 503
    return jsonify(status="ok", database="ok")
