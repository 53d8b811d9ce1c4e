"""The Flask application factory.

Flask is imported inside create_app, not here: importing `app.store` or `app.db` (a script,
a migration) runs this file first and must not bring in the web side.
"""

API_PREFIX = "/apis/jobs/v2"


def create_app(overrides: dict | None = None):
    from flask import Flask

    from . import (answers, auth, cli, compression, config, db, docs, events, health, http,
                   idempotency, logs, metrics, observability, profiles, ui)

    app = Flask(__name__)
    app.config.from_mapping(config.from_environment())
    if overrides:
        app.config.from_mapping(overrides)
    app.config["MAX_CONTENT_LENGTH"] = app.config["JOBS_MAX_BODY_BYTES"]
    app.json.sort_keys = False  # keep fields in the schemas' order

    db.init_app(app)  # the pool (opens nothing yet), its teardown, init-db/check-db/backup
    answers.init_app(app)
    profiles.init_app(app)  # reads JOBS_EXECUTION_PROFILES: a bad file stops the start
    register_api(app)
    idempotency.init_app(app, API_PREFIX)  # wraps the POST views just registered
    events.init_app(app)  # the change feed's tail, nudged by this process's writes
    for blueprint in (health.bp, ui.bp, metrics.bp, docs.bp):  # ui: pages; data via /apis
        app.register_blueprint(blueprint)
    metrics.subscribe()

    # Before-request hooks run in this order. The request id comes first, so every answer,
    # a refusal by any later hook included, carries it and is logged and counted.
    observability.init_app(app)
    app.before_request(answers.refuse_a_damaged_database)
    auth.init_app(app)
    app.before_request(http.refuse_an_oversized_body)  # after auth: strangers get 401

    cli.init_app(app)
    logs.init_app(app)  # prune-logs
    # Its after_request runs before those registered above: the request log and metrics see
    # the answer as sent, compressed or not.
    compression.init_app(app)
    return app


def register_api(app) -> None:
    """The API's views under API_PREFIX (app/docs.py also builds its document from these)."""
    from . import bulk, events, jobs, logs, profiles, results, steps, tasks

    for blueprint in (jobs.bp, bulk.bp, steps.bp, tasks.bp, results.bp, logs.bp,
                      profiles.bp):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX)
    events.register(app, API_PREFIX)  # the feed; Events-Cursor and Prefer: wait on reads
