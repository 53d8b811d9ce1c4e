"""Paged, sorted, filtered lists of jobs, of steps and of one step's tasks.

A page is found in two steps: the wanted row ids are picked from an index (the rows a
page skips are stepped over there, never read), then only those rows are read in full.
"""


from statemachine import Status

from .fields import count_by_status, fields_where
from .jobs import get_job
from .rows import all_rows, pagination
from .tally import tally, task_counts

_ORDER = {
    "created_at": "{t}.created_at ASC", "-created_at": "{t}.created_at DESC",
    "updated_at": "{t}.updated_at ASC", "-updated_at": "{t}.updated_at DESC",
    "name": "{t}.name ASC", "-name": "{t}.name DESC",
    "source": "{t}.source ASC", "-source": "{t}.source DESC",
}
# Upstream's operator forms, `<field>__<op>` in a loaded query (schemas/query.py).
_OPERATORS = {"eq": "{c} = ?", "gte": "{c} >= ?", "lte": "{c} <= ?",
              "like": "{c} LIKE ? ESCAPE '\\'",  # `\` escapes, on SQLite and PostgreSQL
              "in": "{c} IN ({marks})", "nin": "{c} NOT IN ({marks})"}


def _where(filters: dict, columns: dict[str, str]) -> tuple[list[str], list]:
    clauses, params = [], []
    for key, column in columns.items():
        value = filters.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            clauses.append(f"{column} IN ({', '.join('?' for _ in value)})")
            params += value
        else:
            clauses.append(f"{column} = ?")
            params.append(value)
    return clauses, params


def _operator_where(query: dict, columns: dict[str, str]) -> tuple[list[str], list]:
    """`filter[field][$op]` clauses; times are compared as stored text (fixed width, UTC)."""
    clauses, params = [], []
    for key, value in query.items():
        field, _, op = key.partition("__")
        if not op or field not in columns:
            continue
        values = value if isinstance(value, list) else [value]
        clauses.append(_OPERATORS[op].format(c=columns[field],
                                             marks=", ".join("?" for _ in values)))
        params += values
    return clauses, params


def _echo(query: dict) -> dict:
    """The filters as the answer repeats them, in upstream's shape."""
    echo = {k: query[k] for k in ("status", "project", "name", "source", "job", "workspace")
            if k in query}
    operators = [(field, op, value) for key, value in query.items()
                 for field, _, op in [key.partition("__")] if op]
    # filter[custom_fields.k]=v is a plain filter, as filter[name]=v is.
    for key, op, value in query.get("custom_fields", ()):
        field = f"custom_fields.{key}"
        if op == "eq" and field not in echo:
            echo[field] = value
        else:
            operators.append((field, op, value))
    for field, op, value in operators:
        plain = echo.get(field)
        echo[field] = {**(plain if isinstance(plain, dict) else
                          {} if plain is None else {"$eq": plain}), f"${op}": value}
    return echo


def _order_by(alias: str, sort: str, unique: frozenset = frozenset()) -> str:
    # Ties keep creation order (`seq`), so a job's steps list in spec order. A column in
    # `unique` has no ties: without the tie-break one index, read either way, is the order.
    order = _ORDER[sort].format(t=alias)
    return order if sort.lstrip("-") in unique else order + f", {alias}.seq ASC"


def page_ids_sql(base: str, where: str, alias: str, sort: str,
                 unique: frozenset = frozenset()) -> str:
    """The ids of one page, in order."""
    return (f"SELECT {alias}.seq FROM {base} WHERE {where} "
            f"ORDER BY {_order_by(alias, sort, unique)} LIMIT ? OFFSET ?")


def _page(db, base: str, clauses: list[str], params: list, alias: str, query: dict,
          select: str, unique: frozenset = frozenset()) -> dict:
    where = " AND ".join(clauses)
    total = db.execute(f"SELECT COUNT(*) FROM {base} WHERE {where}", params).fetchone()[0]
    size = query["page_size"]
    ids = page_ids_sql(base, where, alias, query["sort"], unique)
    rows = all_rows(db, f"SELECT {select} FROM {base} WHERE {alias}.seq IN ({ids}) "
                        f"ORDER BY {_order_by(alias, query['sort'], unique)}",
                    [*params, size, (query["page"] - 1) * size])
    return {
        "data": rows,
        "pagination": pagination(query["page"], size, len(rows), total),
        "sort": query["sort"],
        "filter": _echo(query),
    }


def jobs_where(db, workspace: str, query: dict) -> tuple[list[str], list]:
    """The clauses (on `jobs j`) of the jobs list's filters: the list, its counts and the
    bulk actions all pick their jobs with these."""
    clauses, params = _where(query, {"status": "j.status", "project": "j.project",
                                     "name": "j.name", "source": "j.source",
                                     "workspace": "j.workspace"})
    more, more_params = _operator_where(query, {
        "name": "j.name", "source": "j.source", "created_at": "j.created_at",
        "updated_at": "j.updated_at"})
    custom, custom_params = fields_where(db.dialect, workspace, query.get("custom_fields", ()))
    return (["j.workspace = ?", *clauses, *more, *custom],
            [workspace, *params, *more_params, *custom_params])


def list_jobs(db, workspace: str, query: dict) -> dict:
    clauses, params = jobs_where(db, workspace, query)
    return _page(db, "jobs j", clauses, params, "j", query, "j.*")


STATUSES = sorted(s.value for s in Status)  # the order counts are answered in


def count_jobs(db, workspace: str, query: dict) -> dict:
    """How many jobs the filters keep, by status (only those with some), from the indexes.

    Without a custom-field filter each status is counted in its own range of the
    (workspace, status) index: on SQLite that is about twice as fast as grouping every
    entry (12 ms against 20 at 100,000 jobs, bench/many_jobs.py), and as fast on PostgreSQL.
    With one custom-field filter and at most a status filter, the field's rows carry the
    status: one range of their (workspace, key, value, status) index (45 → 10 ms on SQLite for
    a label on a fifth of 100,000 jobs). With more filters, the jobs its index rows name are grouped:
    counting them per status would look each one up once per status."""
    clauses, params = jobs_where(db, workspace, query)
    where = " AND ".join(clauses)
    if set(query) <= {"status", "custom_fields"} and len(query.get("custom_fields", ())) == 1:
        found = sorted(count_by_status(db, workspace, query["custom_fields"][0],
                                       query.get("status")))
    elif query.get("custom_fields"):
        found = db.execute(f"SELECT j.status, COUNT(*) FROM jobs j WHERE {where} "
                           "GROUP BY j.status ORDER BY j.status", params).fetchall()
    else:
        statuses = sorted(set(query.get("status") or STATUSES))
        counts = db.execute("SELECT " + ", ".join(
            f"(SELECT COUNT(*) FROM jobs j WHERE {where} AND j.status = ?)" for _ in statuses),
            [p for status in statuses for p in (*params, status)]).fetchone()
        found = zip(statuses, counts)
    by_status = {status: n for status, n in found if n}
    return {"total": sum(by_status.values()), "by_status": by_status}


def matching_names(db, workspace: str, query: dict, limit: int) -> tuple[int, list[str]]:
    """How many jobs the filters keep, and the names of the first `limit`, oldest first."""
    clauses, params = jobs_where(db, workspace, query)
    where = " AND ".join(clauses)
    total = db.execute(f"SELECT COUNT(*) FROM jobs j WHERE {where}", params).fetchone()[0]
    names = db.execute(f"SELECT j.name FROM jobs j WHERE {where} "
                       f"ORDER BY j.created_at, j.seq LIMIT ?", [*params, limit]).fetchall()
    return total, [name for (name,) in names]


_STEP_COLUMNS = """s.seq, s.id, j.name AS job, s.attempt_id, j.fileset, s.name, s.workspace,
    s.step_spec, s.status, s.status_details, s.error_details, s.created_at, s.updated_at"""


def list_steps(db, workspace: str, job: str, query: dict) -> dict:
    """The current attempt's steps of one job, or of every job in the workspace (`-`)."""
    clauses, params = _where(query, {"status": "s.status", "project": "s.project",
                                     "name": "s.name", "source": "j.source", "job": "j.name",
                                     "workspace": "s.workspace"})
    more, more_params = _operator_where(query, {
        "name": "s.name", "source": "j.source", "created_at": "s.created_at",
        "updated_at": "s.updated_at"})
    clauses, params = clauses + more, params + more_params
    if job == "-":
        scope, scope_params = ["s.workspace = ?"], [workspace]
    else:
        scope, scope_params = ["s.attempt_id = ?"], [get_job(db, workspace, job)["attempt_id"]]
    found = _page(db, "steps s JOIN jobs j ON j.attempt_id = s.attempt_id",
                  [*scope, *clauses], [*scope_params, *params], "s", query, _STEP_COLUMNS)
    tallies = tally(db, [s["id"] for s in found["data"]])  # one read for the page
    for step in found["data"]:
        step["task_counts"] = task_counts(tallies[step["id"]])
    return found


def list_tasks(db, step_id: str, query: dict) -> dict:
    """A page of one step's tasks. A name is unique within its step, so a name order is one
    range of (step_id, name), or with one status of (step_id, status, name), read either way."""
    clauses, params = _where(query, {"status": "t.status", "name": "t.name"})
    more, more_params = _operator_where(query, {"name": "t.name"})
    return _page(db, "tasks t", ["t.step_id = ?", *clauses, *more],
                 [step_id, *params, *more_params], "t", query, "t.*", frozenset({"name"}))
