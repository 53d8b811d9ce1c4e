"""Job creation (request), and jobs and steps as responses."""

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from .executor import Executor
from .fields import Body, Name, StatusField, at_least_one, progress, stamps


def TaskCounts():  # noqa: N802  (a field, named as the classes it stands beside)
    return fields.Dict(keys=StatusField(), values=fields.Integer(), metadata={
        "description": "How many of the step's tasks are in each status; only statuses "
                       "with some, {} for none"})


class WholeNumber(fields.Integer):
    """A JSON number with no fractional part (`5` or `5.0`, as JSON Schema's integer);
    strings, booleans and fractions are refused."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid")
        return int(value)


class LifecycleSchema(Body):
    """How the controller looks after a step; 0 turns staleness detection off."""

    staleness_timeout_seconds = WholeNumber(load_default=0,
                                            validate=validate.Range(min=0, max=10**9))


class SecretRefSchema(Body):
    name = fields.String(required=True)


class EnvironmentVariableSchema(Body):
    """upstream's PlatformJobEnvironmentVariable: a name and a value or a secret, not both."""

    name = fields.String(required=True)
    value = fields.String(allow_none=True)
    from_secret = fields.Nested(SecretRefSchema, allow_none=True)

    @validates_schema
    def value_or_secret(self, data, **kwargs):
        given = [key for key in ("value", "from_secret") if data.get(key) is not None]
        if len(given) != 1:
            raise ValidationError("Either value or from_secret must be provided for environment "
                                  "variables." if not given else "Only one of value or "
                                  "from_secret can be provided for environment variables.")


class StepSpecSchema(Body):
    """One step of a job's platform_spec; stored as given, with upstream's defaults."""

    name = Name(required=True)
    executor = Executor(required=True)
    config = fields.Dict(keys=fields.String(), load_default=dict)
    environment = fields.List(fields.Nested(EnvironmentVariableSchema), allow_none=True)
    lifecycle = fields.Nested(LifecycleSchema,
                              load_default=lambda: {"staleness_timeout_seconds": 0})


class PlatformSpecSchema(Body):
    steps = fields.List(fields.Nested(StepSpecSchema), required=True, validate=at_least_one)

    @validates_schema
    def unique_step_names(self, data, **kwargs):
        names = [step["name"] for step in data.get("steps", [])]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValidationError(
                f"Step names must be unique within a job; repeated: {', '.join(duplicates)}.",
                "steps",
            )


class JobCreateSchema(Body):
    platform_spec = fields.Nested(PlatformSpecSchema, required=True)
    name = Name()
    # Absent strings are "" and absent objects {}: responses never carry null for them.
    description = fields.String(load_default="")
    project = fields.String(load_default="")
    spec = fields.Dict(keys=fields.String(), load_default=dict)
    source = fields.String(load_default="")
    ownership = fields.Dict(keys=fields.String(), load_default=dict)
    custom_fields = fields.Dict(keys=fields.String(), load_default=dict)


class JobSchema(Schema):
    id = fields.String()
    name = fields.String()
    workspace = fields.String()
    project = fields.String()
    description = fields.String()
    source = fields.String()
    spec = fields.Dict()
    platform_spec = fields.Dict()
    attempt_id = fields.String()
    fileset = fields.String()
    status, status_details, error_details = progress()
    ownership = fields.Dict()
    custom_fields = fields.Dict()
    created_at, created_by, updated_at, updated_by = stamps()
    db_version = fields.Integer()


class StepSchema(Schema):
    id = fields.String()
    entity_id = fields.String(attribute="id", dump_only=True)
    parent = fields.String(attribute="attempt_id", dump_only=True)
    attempt_id = fields.String()
    name = fields.String()
    workspace = fields.String()
    project = fields.String()
    config = fields.Dict()
    status, status_details, error_details = progress()
    created_at, created_by, updated_at, updated_by = stamps()
    db_version = fields.Integer()


class CountedStepSchema(StepSchema):
    """A step as its own reads and moves answer it: with its tasks counted by status (a
    change event's step has no counts: counting would cost each write a read)."""

    task_counts = TaskCounts()


class StepStatusUpdateSchema(Body):
    status = StatusField(required=True)
    status_details = fields.Dict(keys=fields.String())
    error_details = fields.Dict(keys=fields.String())


class ActionSchema(Body):
    """cancel, pause, resume and rerun take no body: an empty one, or `{}`."""


class StatusDetailsSchema(Schema):
    """PATCH status-details: the body is the object merged into the job's details."""

    class Meta:
        unknown = INCLUDE


class ListedStepSchema(Schema):
    """Upstream's "step with context", as listed."""

    id = fields.String()
    job = fields.String()
    attempt_id = fields.String()
    fileset = fields.String()
    name = fields.String()
    workspace = fields.String()
    step_spec = fields.Dict()
    status, status_details, error_details = progress()
    created_at, updated_at = stamps(by=False)
    task_counts = TaskCounts()


class PaginationSchema(Schema):
    page = fields.Integer()
    page_size = fields.Integer()
    current_page_size = fields.Integer()
    total_pages = fields.Integer()
    total_results = fields.Integer()


class JobPageSchema(Schema):
    data = fields.List(fields.Nested(JobSchema))
    pagination = fields.Nested(PaginationSchema)
    sort = fields.String()
    filter = fields.Dict()


class StepPageSchema(JobPageSchema):
    data = fields.List(fields.Nested(ListedStepSchema))


class TreeNodeSchema(Schema):
    id = fields.String()
    name = fields.String()
    status, status_details, error_details = progress()
    created_at, updated_at = stamps(by=False)


class TaskStatusSchema(TreeNodeSchema):
    error_stack = fields.String()


class StepStatusSchema(TreeNodeSchema):
    task_counts = TaskCounts()
    tasks = fields.List(fields.Nested(TaskStatusSchema), metadata={
        "description": "Left out when the query says tasks=none", "optional": True})


class StatusQuerySchema(Schema):
    """`GET .../status?tasks=none`: the tree without each step's tasks (their counts stay)."""

    tasks = fields.String(validate=validate.OneOf(["none"]))


class JobStatusSchema(TreeNodeSchema):
    steps = fields.List(fields.Nested(StepStatusSchema))
