"""Execution profiles, as the JOBS_EXECUTION_PROFILES file lists them and as listed."""

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

# Upstream's backends (the client's JobListExecutionProfilesResponse is a union of these).
BACKENDS = ["docker", "kubernetes_job", "volcano_job", "subprocess", "e2e"]
DEFAULT_PROFILE = "default"  # what a step's executor means when it names no profile
# Upstream's deadlines (JobExecutionProfileConfig), in seconds, when a profile sets none.
DEFAULT_TTL_SECONDS = {"ttl_seconds_before_active": 30 * 60, "ttl_seconds_active": 24 * 60 * 60}


class ExecutionProfileSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    backend = fields.String(required=True, validate=validate.OneOf(BACKENDS))
    provider = fields.String(required=True, validate=validate.Length(min=1, max=200))
    profile = fields.String(load_default=DEFAULT_PROFILE, validate=validate.Length(min=1, max=200))
    config = fields.Dict(keys=fields.String(), load_default=dict)

    @validates_schema
    def subprocess_runs_on_its_own_provider(self, data, **kwargs):
        # Upstream's subprocess profile has provider "subprocess" and no other.
        if data.get("backend") == "subprocess" and data.get("provider") != "subprocess":
            raise ValidationError("A 'subprocess' backend's provider must be 'subprocess'.",
                                  "provider")

    @validates_schema
    def deadlines_are_whole_seconds(self, data, **kwargs):
        for key in DEFAULT_TTL_SECONDS:
            value = data.get("config", {}).get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValidationError(f"config.{key} must be a whole number of seconds ≥ 1 "
                                      f"(default {DEFAULT_TTL_SECONDS[key]}).", "config")


class ExecutionProfileFileSchema(Schema):
    profiles = fields.List(fields.Nested(ExecutionProfileSchema), required=True)
