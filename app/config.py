"""Configuration in one place: defaults, read from the environment, overridable by tests."""

import os

DEFAULT_DB = "jobs.db"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 32
DEFAULT_ARTIFACTS_DIR = "artifacts"
DEFAULT_LOG_RETENTION_DAYS = 30


def from_environment() -> dict:
    return {
        "JOBS_DB": os.environ.get("JOBS_DB", DEFAULT_DB),
        "JOBS_MAX_BODY_BYTES": int(os.environ.get("JOBS_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
        "JOBS_AUTH_TOKENS": os.environ.get("JOBS_AUTH_TOKENS") or None,
        "JOBS_MAX_JSON_DEPTH": int(os.environ.get("JOBS_MAX_JSON_DEPTH", DEFAULT_MAX_JSON_DEPTH)),
        "JOBS_ARTIFACTS_DIR": os.environ.get("JOBS_ARTIFACTS_DIR") or DEFAULT_ARTIFACTS_DIR,
        "JOBS_LOG_RETENTION_DAYS": int(os.environ.get("JOBS_LOG_RETENTION_DAYS",
                                                      DEFAULT_LOG_RETENTION_DAYS)),
        "JOBS_EXECUTION_PROFILES": os.environ.get("JOBS_EXECUTION_PROFILES") or None,
    }
