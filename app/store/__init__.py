"""Reads and check-and-set writes of jobs, steps and tasks.

Every write runs in one BEGIN IMMEDIATE transaction: the rows a decision depends on are
read after the write lock is taken, so no other writer can change them before the write.
Queries go through `execute` with fixed SQL; sqlite-utils' convenience methods inspect the
schema on each call and are kept for migrations.
"""

from .jobs import (act, create_job, delete_job, get_job, job_history, merge_status_details,
                   rerun, status_tree, tree_fingerprint, tree_head)
from .bulk import bulk_act
from .events import job_mark
from .lists import count_jobs, list_jobs, list_steps
from .logs import append_logs, cursor_key, prune_logs, read_logs
from .results import create_result, get_result, list_results
from .reaper import reap_stale
from .retention import cutoff as retention_cutoff
from .retention import expired_jobs, prune_jobs
from .steps import get_step, update_step_status
from .tally import counted
from .tasks import get_task, list_tasks, put_task, task_history

__all__ = [
    "act", "bulk_act", "counted", "count_jobs", "create_job", "delete_job", "get_job",
    "get_step", "get_task", "job_mark", "list_jobs", "tree_fingerprint", "tree_head",
    "list_steps", "list_tasks", "merge_status_details", "put_task", "rerun", "status_tree",
    "update_step_status", "job_history", "task_history", "reap_stale",
    "append_logs", "cursor_key", "prune_logs", "read_logs",
    "create_result", "get_result", "list_results",
    "expired_jobs", "prune_jobs", "retention_cutoff",
]
