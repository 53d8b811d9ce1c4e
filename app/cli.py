"""Command-line tasks, run as `flask --app wsgi <command>`."""

import click
from flask import Flask, current_app

import statemachine

from . import store
from .db import connect, migrate
from .db.web import database_command


@click.command("machine")
@click.option("--mermaid", is_flag=True, help="Print the Mermaid state diagram instead.")
def machine(mermaid: bool) -> None:
    """Print the table of legal status moves."""
    click.echo(statemachine.mermaid() if mermaid else statemachine.table(), nl=False)


@click.command("reap-stale")
@click.option("--dry-run", is_flag=True, help="List what would be reaped; change nothing.")
@database_command()
def reap_stale(dry_run: bool) -> None:
    """Move to `error` every task whose step's lifecycle.staleness_timeout_seconds has passed
    since its last update. Safe to run from cron or a timer, on any number of hosts."""
    path = current_app.config["JOBS_DB"]
    migrate(path)
    db = connect(path)
    try:
        reaped = store.reap_stale(db, dry_run=dry_run)
    finally:
        db.close()
    for task in reaped:
        click.echo(f"{'would reap' if dry_run else 'reaped'} {task['workspace']}/"
                   f"{task['job']}/{task['step']}/{task['name']} (last update "
                   f"{task['updated_at']}, timeout {task['timeout']} s)")
    click.echo(f"{len(reaped)} stale task(s){' (dry run)' if dry_run else ''}")


@click.command("prune-jobs")
@click.option("--older-than", "days", type=click.FloatRange(min=0, min_open=True),
              metavar="DAYS", help="Days since a finished job's last update (fractions "
              "allowed); JOBS_JOB_RETENTION_DAYS when left out.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; change nothing.")
@database_command()
def prune_jobs(days: float | None, dry_run: bool) -> None:
    """Delete every finished job (completed, error, cancelled) not updated for DAYS, with its
    steps, tasks, history, results records and log lines, a small batch per transaction.
    The reconciler does the same every pass when JOBS_JOB_RETENTION_DAYS is set."""
    days = days if days is not None else current_app.config["JOBS_JOB_RETENTION_DAYS"]
    if days is None:
        raise click.UsageError("give --older-than DAYS, or set JOBS_JOB_RETENTION_DAYS")
    path = current_app.config["JOBS_DB"]
    migrate(path)
    db = connect(path)
    try:
        if dry_run:
            jobs = store.expired_jobs(db, store.retention_cutoff(days), None)
        else:
            jobs = store.prune_jobs(db, days)
    finally:
        db.close()
    for job in jobs:
        click.echo(f"{'would delete' if dry_run else 'deleted'} {job['workspace']}/"
                   f"{job['name']} ({job['status']}, last update {job['updated_at']})")
    click.echo(f"{len(jobs)} finished job(s) older than {days:g} day(s)"
               f"{' (dry run)' if dry_run else ''}")


def init_app(app: Flask) -> None:
    # The database's own commands (init-db, check-db, backup) come with app.db.init_app.
    for command in (machine, reap_stale, prune_jobs):
        app.cli.add_command(command)
