"""The Flask application factory."""

from flask import Flask

from . import config, errors, http, idempotency
from .db import open_pool

API_PREFIX = "/apis/jobs/v2"


def create_app(overrides: dict | None = None) -> Flask:
    app = Flask(__name__)
    app.config.from_mapping(config.from_environment())
    if overrides:
        app.config.from_mapping(overrides)
    app.config["MAX_CONTENT_LENGTH"] = app.config["JOBS_MAX_BODY_BYTES"]
    app.json.sort_keys = False  # keep fields in the schemas' order

    # Connections open lazily, per thread and per process: nothing is opened here.
    app.extensions["jobs_db"] = open_pool(app.config["JOBS_DB"], app.config["JOBS_DB_POOL_SIZE"],
                                          app.config["JOBS_DB_TIMEOUT_MS"],
                                          app.config["JOBS_SQLITE_SYNCHRONOUS"])
    app.teardown_appcontext(http.release_db)
    errors.init_app(app)

    from . import (auth, cli, docs, events, health, jobs, logs, metrics, observability,
                   profiles, results, steps, tasks, ui)

    profiles.init_app(app)  # reads JOBS_EXECUTION_PROFILES: a bad file stops the start
    for blueprint in (jobs.bp, steps.bp, tasks.bp, results.bp, logs.bp, profiles.bp):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    idempotency.init_app(app, API_PREFIX)  # wraps the POST views just registered
    events.init_app(app, API_PREFIX)  # the feed; Events-Cursor and Prefer: wait on reads
    app.register_blueprint(health.bp)
    app.register_blueprint(ui.bp)  # /ui: pages only; their data comes through /apis
    metrics.init_app(app)
    observability.init_app(app)
    auth.init_app(app)  # after observability: refusals are logged and counted too
    app.before_request(http.refuse_an_oversized_body)  # after auth: strangers get 401
    docs.init_app(app)
    cli.init_app(app)
    logs.init_app(app)
    return app
