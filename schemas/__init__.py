"""marshmallow schemas for requests and responses, built once and shared."""

from .fast import plain_dumper
from .errors import HTTPValidationErrorSchema, ValidationErrorSchema, error, validation_errors
from .fields import NAME_PATTERN, valid_name
from .history import HistoryPageSchema, PageQuerySchema
from .job import (ActionSchema, JobCreateSchema, JobPageSchema, JobSchema, JobStatusSchema,
                  StatusDetailsSchema, StepPageSchema, StepSchema, StepStatusUpdateSchema)
from .query import JobListQuerySchema, StepListQuerySchema
from .task import TaskListSchema, TaskSchema, TaskUpdateSchema

task_update = TaskUpdateSchema()
task = TaskSchema()
task_list = TaskListSchema()
job_create = JobCreateSchema()
action = ActionSchema()
job = JobSchema()
job_page = JobPageSchema()
job_query = JobListQuerySchema()
job_status = JobStatusSchema()
status_details = StatusDetailsSchema()
step = StepSchema()
step_page = StepPageSchema()
step_query = StepListQuerySchema()
step_status_update = StepStatusUpdateSchema()
history_page = HistoryPageSchema()
page_query = PageQuerySchema()

# Plain dumpers of the flat entity schemas, for the single-entity answers.
dump_task = plain_dumper(task)
dump_job = plain_dumper(job)
dump_step = plain_dumper(step)

__all__ = [
    "HTTPValidationErrorSchema", "ValidationErrorSchema", "NAME_PATTERN", "error",
    "validation_errors", "valid_name",
    "action", "task_update", "task", "task_list", "job_create", "job", "job_page", "job_query",
    "history_page", "page_query", "job_status", "status_details", "dump_task", "dump_job", "dump_step", "plain_dumper", "step", "step_page", "step_query", "step_status_update",
]
