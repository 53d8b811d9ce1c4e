"""Execution profiles: read once from the file JOBS_EXECUTION_PROFILES names (JSON or YAML),
listed at /apis/jobs/v2/execution-profiles, and checked against every new job's executors.

The file is a list of `{backend, provider, profile, config}`. Unset, the list is empty and
job creation checks nothing. A file that cannot be read or does not validate stops the
start with a message saying what is wrong, as a malformed tokens file does.
"""

import json
from pathlib import Path

import yaml
from flask import Blueprint, Flask, current_app, jsonify
from marshmallow import ValidationError

from schemas import error
from schemas.profiles import DEFAULT_PROFILE, ExecutionProfileFileSchema, ExecutionProfileSchema

from .config import ConfigError
from .api import answers, operation
from .errors import RequestValidationError

bp = Blueprint("profiles", __name__)
_file_schema = ExecutionProfileFileSchema()
_listed = ExecutionProfileSchema(many=True)


class ProfilesConfigError(ConfigError):
    """The execution profiles file cannot be used; the message says why."""


def load_profiles(path: str) -> list[dict]:
    try:
        text = Path(path).read_text(encoding="utf-8")
        raw = json.loads(text) if path.endswith(".json") else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        raise ProfilesConfigError(
            f"JOBS_EXECUTION_PROFILES={path}: cannot read it as JSON or YAML: {exc}") from None
    try:
        profiles = _file_schema.load({"profiles": raw})["profiles"]
    except ValidationError as exc:
        raise ProfilesConfigError(
            f"JOBS_EXECUTION_PROFILES={path}: {exc.messages.get('profiles', exc.messages)}"
        ) from None
    pairs = [(p["provider"], p["profile"]) for p in profiles]
    repeated = sorted({f"{a}/{b}" for a, b in pairs if pairs.count((a, b)) > 1})
    if repeated:
        raise ProfilesConfigError(
            f"JOBS_EXECUTION_PROFILES={path}: provider/profile listed twice: {', '.join(repeated)}")
    return profiles


def configured() -> list[dict] | None:
    """The configured profiles; None when no file is set (nothing is checked then)."""
    return current_app.extensions["jobs_profiles"]


def check_executors(platform_spec: dict) -> None:
    """Refuse (422) a job whose step names a provider/profile pair that is not configured."""
    profiles = configured()
    if profiles is None:
        return
    known = {(p["provider"], p["profile"]) for p in profiles}
    names = ", ".join(sorted(f"{a}/{b}" for a, b in known)) or "none"
    errors = []
    for index, step in enumerate(platform_spec["steps"]):
        pair = (step["executor"]["provider"], step["executor"].get("profile", DEFAULT_PROFILE))
        if pair not in known:
            errors.append(error(
                "unknown_execution_profile", ["body", "platform_spec", "steps", index, "executor"],
                f"Step '{step['name']}' names execution profile '{pair[0]}/{pair[1]}', which is "
                f"not configured; configured: {names}.",
                step["executor"], {"configured": sorted(f"{a}/{b}" for a, b in known)}))
    if errors:
        raise RequestValidationError(errors)


@bp.get("/execution-profiles")
@operation("List the configured execution profiles")
@answers(200, _listed, "Every configured profile; [] when none are")
def list_profiles():
    return jsonify(_listed.dump(configured() or []))


def init_app(app: Flask) -> None:
    path = app.config.get("JOBS_EXECUTION_PROFILES")
    app.extensions["jobs_profiles"] = load_profiles(path) if path else None
