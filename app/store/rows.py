"""Row helpers shared by the store's modules: ids, timestamps, JSON columns, lookups."""

import json
import uuid
from datetime import datetime, timezone

from ..errors import NotFound, PreconditionFailed

JSON_COLUMNS = frozenset({
    "spec", "platform_spec", "status_details", "error_details", "ownership",
    "custom_fields", "step_spec",
})


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_id(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex}"


# One encoder for every write: json.dumps with options builds a new encoder per call.
dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def row(cursor, values) -> dict:
    return {
        col[0]: json.loads(v) if col[0] in JSON_COLUMNS and v is not None else v
        for col, v in zip(cursor.description, values)
    }


def one(db, sql: str, params=()) -> dict | None:
    cursor = db.execute(sql, params)
    values = cursor.fetchone()
    return None if values is None else row(cursor, values)


def returning(db, sql: str, params=()) -> dict:
    """The one row an INSERT/UPDATE ... RETURNING gives; read to the end so the statement
    is finished before the transaction commits."""
    cursor = db.execute(sql, params)
    [values] = cursor.fetchall()
    return row(cursor, values)


def all_rows(db, sql: str, params=()) -> list[dict]:
    cursor = db.execute(sql, params)
    return [row(cursor, values) for values in cursor.fetchall()]


def insert(db, table: str, values: dict) -> None:
    columns = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    params = [dumps(v) if k in JSON_COLUMNS and v is not None else v for k, v in values.items()]
    db.execute(f"INSERT INTO {table} ({columns}) VALUES ({marks})", params)


def pagination(page: int, size: int, shown: int, total: int) -> dict:
    """The `pagination` object of every paged answer."""
    return {"page": page, "page_size": size, "current_page_size": shown,
            "total_pages": -(-total // size), "total_results": total}


def check_version(kind: str, current: int | None, if_match) -> None:
    """If-Match: None (absent), "*" (any existing version) or the entity-tags it lists, one
    of which must be the current ETag, compared strongly (RFC 9110: a weak tag never holds)."""
    if if_match is None:
        return
    if current is None:
        raise PreconditionFailed(f"If-Match cannot hold: the {kind} does not exist yet.")
    if if_match == "*" or f'"{current}"' in if_match:
        return
    weak = "; a weak W/ tag never matches" if any(t.startswith("W/") for t in if_match) else ""
    raise PreconditionFailed(f"If-Match does not hold: the {kind} is at version {current} "
                             f'(ETag "{current}"), not {", ".join(if_match)}{weak}.')


def job_missing(workspace, job) -> NotFound:
    return NotFound(f"Job '{job}' not found in workspace '{workspace}'.")


def step_missing(workspace, job, step) -> NotFound:
    return NotFound(f"Step '{step}' for job '{job}' not found in workspace '{workspace}'.")


def task_missing(workspace, job, step, task) -> NotFound:
    return NotFound(
        f"Task '{task}' for step '{step}' of job '{job}' not found in workspace '{workspace}'."
    )


def rows_sharing_json(db, sql: str, params=()) -> list[dict]:
    """all_rows for long lists: each distinct JSON text is parsed once and the rows
    holding it share the object (most tasks report the same few details), so the objects
    must only be read, as an answer's encoding does."""
    cursor = db.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    json_columns = [c for c in columns if c in JSON_COLUMNS]
    parsed: dict = {None: None}
    found = []
    for values in cursor.fetchall():
        item = dict(zip(columns, values))
        for key in json_columns:
            text = item[key]
            if text not in parsed:
                parsed[text] = json.loads(text)
            item[key] = parsed[text]
        found.append(item)
    return found
