"""The schema as numbered migrations, written once for both databases.

Each migration is a list of statements; `{id_pk}` is the dialect's auto-numbered primary key
(app/db/dialect.py). The names are the ones recorded in each database, so a migration is
applied once and never renamed.
"""


def _index(table: str, *columns: str, unique: bool = False, name: str | None = None) -> str:
    name = name or "idx_{}_{}".format(table, "_".join(c.split()[0] for c in columns))
    return (f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON {table} "
            f"({', '.join(columns)})")


MIGRATIONS: list[tuple[str, list[str]]] = [
    ("m001_jobs_steps_tasks", [
        """CREATE TABLE jobs (
            seq {id_pk}, id TEXT NOT NULL, workspace TEXT NOT NULL, name TEXT NOT NULL,
            project TEXT, description TEXT, source TEXT, spec TEXT, platform_spec TEXT,
            attempt_id TEXT NOT NULL, fileset TEXT, status TEXT NOT NULL, status_details TEXT,
            error_details TEXT, ownership TEXT, custom_fields TEXT,
            created_at TEXT, created_by TEXT, updated_at TEXT, updated_by TEXT,
            db_version INTEGER NOT NULL)""",
        _index("jobs", "id", unique=True),
        _index("jobs", "workspace", "name", unique=True),
        _index("jobs", "workspace", "created_at"),
        _index("jobs", "workspace", "updated_at"),
        """CREATE TABLE steps (
            seq {id_pk}, id TEXT NOT NULL, job_id TEXT NOT NULL, attempt_id TEXT NOT NULL,
            workspace TEXT NOT NULL, project TEXT, name TEXT NOT NULL, step_spec TEXT,
            status TEXT NOT NULL, status_details TEXT, error_details TEXT,
            created_at TEXT, created_by TEXT, updated_at TEXT, updated_by TEXT,
            db_version INTEGER NOT NULL)""",
        _index("steps", "id", unique=True),
        _index("steps", "attempt_id", "name", unique=True),
        _index("steps", "job_id"),
        """CREATE TABLE tasks (
            seq {id_pk}, id TEXT NOT NULL, step_id TEXT NOT NULL, workspace TEXT NOT NULL,
            project TEXT, name TEXT NOT NULL, status TEXT NOT NULL, status_details TEXT,
            error_details TEXT, error_stack TEXT,
            created_at TEXT, created_by TEXT, updated_at TEXT, updated_by TEXT,
            db_version INTEGER NOT NULL)""",
        _index("tasks", "id", unique=True),
        _index("tasks", "step_id", "name", unique=True),
    ]),
    ("m002_list_and_join_indexes", [
        _index("jobs", "attempt_id", unique=True),
        _index("jobs", "workspace", "status"),
        _index("steps", "workspace", "created_at"),
    ]),
    # Lists order by (column DESC, seq ASC) for "-column": ties keep creation order. Only an
    # index with the column descending serves that order without sorting every row.
    ("m003_descending_list_indexes", [
        _index("jobs", "workspace", f"{column} DESC", name=f"idx_jobs_workspace_{column}_desc")
        for column in ("created_at", "updated_at", "name")
    ]),
    ("m004_history", [
        """CREATE TABLE history (
            seq {id_pk}, workspace TEXT NOT NULL, job_id TEXT NOT NULL,
            entity_kind TEXT NOT NULL, entity_id TEXT NOT NULL, entity_name TEXT,
            from_status TEXT, to_status TEXT NOT NULL, at TEXT NOT NULL, by TEXT,
            db_version INTEGER)""",
        _index("history", "entity_id", "seq"),
        _index("history", "job_id", "seq"),
    ]),
]


def statements(migration: list[str], dialect) -> list[str]:
    return [statement.replace("{id_pk}", dialect.id_pk) for statement in migration]
