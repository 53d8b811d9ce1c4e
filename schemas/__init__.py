"""marshmallow schemas for requests and responses, built once and shared."""

from .errors import HTTPValidationErrorSchema, ValidationErrorSchema, error, validation_errors
from .fields import NAME_PATTERN, valid_name
from .job import JobCreateSchema, JobSchema, StepSchema
from .task import TaskListSchema, TaskSchema, TaskUpdateSchema

task_update = TaskUpdateSchema()
task = TaskSchema()
task_list = TaskListSchema()
job_create = JobCreateSchema()
job = JobSchema()
step = StepSchema()

__all__ = [
    "HTTPValidationErrorSchema", "ValidationErrorSchema", "JobCreateSchema", "JobSchema",
    "StepSchema", "TaskListSchema", "TaskSchema", "TaskUpdateSchema", "NAME_PATTERN",
    "error", "validation_errors", "valid_name",
    "task_update", "task", "task_list", "job_create", "job", "step",
]
