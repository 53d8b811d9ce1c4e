"""The schema as numbered migrations, written once for both databases.

Each migration is a list of statements; `{id_pk}` is the dialect's auto-numbered primary key
(app/db/dialect.py). The names are the ones recorded in each database, so a migration is
applied once and never renamed.
"""

import secrets


def _index(table: str, *columns: str, unique: bool = False, name: str | None = None) -> str:
    name = name or "idx_{}_{}".format(table, "_".join(c.split()[0] for c in columns))
    return (f"CREATE {'UNIQUE ' if unique else ''}INDEX {name} ON {table} "
            f"({', '.join(columns)})")


# Copies each job's status onto its custom-field rows (m010; the bench's seeding runs it too).
JOB_FIELDS_STATUS_FILL = ("UPDATE job_fields SET status = "
                          "(SELECT j.status FROM jobs j WHERE j.seq = job_fields.job_seq)")

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
    ("m005_results_and_logs", [
        """CREATE TABLE results (
            seq {id_pk}, job_id TEXT NOT NULL, workspace TEXT NOT NULL,
            project TEXT NOT NULL, name TEXT NOT NULL, artifact_storage_type TEXT NOT NULL,
            artifact_url TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT,
            updated_at TEXT NOT NULL, updated_by TEXT)""",
        _index("results", "job_id", "name", unique=True),
        _index("results", "job_id", "created_at"),
        _index("results", "job_id", "updated_at"),
        # `attempt` is the attempt's number (1, 2 after one rerun, ...), as readers ask for
        # it; `at` is the line's own timestamp (`timestamp` is a keyword in PostgreSQL).
        """CREATE TABLE logs (
            seq {id_pk}, job_id TEXT NOT NULL, attempt INTEGER NOT NULL,
            job_step TEXT NOT NULL, job_task TEXT NOT NULL, message TEXT NOT NULL,
            at TEXT NOT NULL, received_at TEXT NOT NULL)""",
        # A page is a range of one of these, already in (at, seq) order: a job's lines, one
        # step's, or one task's. received_at serves retention.
        _index("logs", "job_id", "attempt", "at", "seq", name="idx_logs_job"),
        _index("logs", "job_id", "attempt", "job_step", "at", "seq", name="idx_logs_step"),
        _index("logs", "job_id", "attempt", "job_task", "at", "seq", name="idx_logs_task"),
        _index("logs", "received_at"),
        # Keys the service makes for itself, one per database: every host sharing the
        # database signs and checks log cursors with the same key.
        """CREATE TABLE service_keys (
            seq {id_pk}, name TEXT NOT NULL, value TEXT NOT NULL)""",
        _index("service_keys", "name", unique=True),
        "INSERT INTO service_keys (name, value) VALUES ('log-cursor', '{new_key}')",
        # Lists sorted by source (ascending and descending, ties in creation order).
        _index("jobs", "workspace", "source"),
        _index("jobs", "workspace", "source DESC", name="idx_jobs_workspace_source_desc"),
    ]),
    # The first answer to each Idempotency-Key (app/idempotency.py). `principal` is '' when
    # authentication is off: NULLs would never collide in the unique index.
    ("m006_idempotency_keys", [
        """CREATE TABLE idempotency_keys (
            seq {id_pk}, workspace TEXT NOT NULL, principal TEXT NOT NULL,
            idem_key TEXT NOT NULL, fingerprint TEXT NOT NULL, created_at TEXT NOT NULL,
            status INTEGER, headers TEXT, body TEXT)""",
        _index("idempotency_keys", "workspace", "principal", "idem_key", unique=True,
               name="idx_idempotency_keys_key"),
        _index("idempotency_keys", "created_at"),
    ]),
    # A job's string custom fields as rows, written in the job's own transaction: a filter
    # on one (app/store/fields.py) is a range of this index, on either backend, whatever
    # the key. Values are bounded so an entry fits PostgreSQL's B-tree (2,704 bytes), and
    # compared byte by byte, so a `$like` prefix is a range of the index on both backends.
    ("m007_job_fields", [
        """CREATE TABLE job_fields (
            seq {id_pk}, job_seq BIGINT NOT NULL, workspace TEXT NOT NULL,
            key {binary_text} NOT NULL, value {binary_text} NOT NULL)""",
        _index("job_fields", "workspace", "key", "value", "job_seq", unique=True,
               name="idx_job_fields_lookup"),
        _index("job_fields", "job_seq"),
        "{job_fields_backfill}",
    ]),
    # The reconciler's reads (app/store/deadlines.py, retention.py): unfinished steps in seq
    # order, finished jobs oldest first, across every workspace.
    ("m008_reconciler_indexes", [
        _index("steps", "status", "seq"),
        _index("jobs", "updated_at"),
    ]),
    # The change feed (app/store/events.py): readers read in (txid, seq) order. `seq` is never
    # reused ({serial_pk}: AUTOINCREMENT on SQLite), `txid` the writing transaction's id on
    # PostgreSQL (0 on SQLite, where the write lock makes `seq` commit order). `event_marks`
    # holds the place of the last event pruned.
    ("m009_events", [
        """CREATE TABLE events (
            seq {serial_pk}, txid {event_txid}, workspace TEXT NOT NULL, job TEXT NOT NULL,
            job_id TEXT NOT NULL, kind TEXT NOT NULL, type TEXT NOT NULL, step TEXT,
            task TEXT, from_status TEXT, to_status TEXT, db_version INTEGER,
            at TEXT NOT NULL, by TEXT, object TEXT)""",
        _index("events", "txid", "seq"),
        _index("events", "workspace", "txid", "seq"),
        _index("events", "workspace", "job", "txid", "seq", name="idx_events_workspace_job"),
        """CREATE TABLE event_marks (name TEXT PRIMARY KEY, txid BIGINT NOT NULL,
            seq BIGINT NOT NULL)""",
        "INSERT INTO event_marks (name, txid, seq) VALUES ('pruned', 0, 0)",
    ]),
    # Each custom-field row carries its job's status (app/store/fields.py keeps it with the
    # job's), so the counts of a label are one range of this index, not a lookup per job.
    ("m010_job_fields_status", [
        "ALTER TABLE job_fields ADD COLUMN status TEXT NOT NULL DEFAULT ''",
        JOB_FIELDS_STATUS_FILL,
        _index("job_fields", "workspace", "key", "value", "status",
               name="idx_job_fields_counts"),
    ]),
    # A step's tasks by status: one range per status for a page filtered by it in name order,
    # and the task counts from the index alone (app/store/tally.py).
    ("m011_task_status_index", [
        _index("tasks", "step_id", "status", "name", name="idx_tasks_step_status_name"),
    ]),
]


def statements(migration: list[str], dialect) -> list[str]:
    """The migration in the dialect's spelling; `{new_key}` is a fresh random secret."""
    return [statement.replace("{id_pk}", dialect.id_pk)
            .replace("{binary_text}", dialect.binary_text)
            .replace("{job_fields_backfill}", dialect.job_fields_backfill)
            .replace("{serial_pk}", dialect.serial_pk)
            .replace("{event_txid}", dialect.event_txid)
            .replace("{new_key}", secrets.token_hex(32)) for statement in migration]
