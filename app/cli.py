"""Command-line tasks: `flask --app wsgi init-db`."""

import click
from flask import Flask, current_app

from .db import migrate


@click.command("init-db")
def init_db() -> None:
    """Create the database file if needed and apply pending migrations."""
    applied = migrate(current_app.config["JOBS_DB"])
    click.echo(f"{current_app.config['JOBS_DB']}: applied {len(applied)} migration(s)"
               + (f": {', '.join(applied)}" if applied else ""))


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db)
