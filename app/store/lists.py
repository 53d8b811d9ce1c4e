"""Paged, sorted, filtered lists of jobs and of steps.

A page is found in two steps: the wanted row ids are picked from an index (the rows a
page skips are stepped over there, never read), then only those rows are read in full.
"""

from .jobs import get_job
from .rows import all_rows, pagination

_ORDER = {
    "created_at": "{t}.created_at ASC", "-created_at": "{t}.created_at DESC",
    "updated_at": "{t}.updated_at ASC", "-updated_at": "{t}.updated_at DESC",
    "name": "{t}.name ASC", "-name": "{t}.name DESC",
}


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


def _order_by(alias: str, sort: str) -> str:
    # Ties keep creation order (`seq`), so a job's steps list in spec order.
    return _ORDER[sort].format(t=alias) + f", {alias}.seq ASC"


def page_ids_sql(base: str, where: str, alias: str, sort: str) -> str:
    """The ids of one page, in order."""
    return (f"SELECT {alias}.seq FROM {base} WHERE {where} ORDER BY {_order_by(alias, sort)} "
            "LIMIT ? OFFSET ?")


def _page(db, base: str, clauses: list[str], params: list, alias: str, query: dict,
          select: str) -> dict:
    where = " AND ".join(clauses)
    total = db.execute(f"SELECT COUNT(*) FROM {base} WHERE {where}", params).fetchone()[0]
    size = query["page_size"]
    ids = page_ids_sql(base, where, alias, query["sort"])
    rows = all_rows(db, f"SELECT {select} FROM {base} WHERE {alias}.seq IN ({ids}) "
                        f"ORDER BY {_order_by(alias, query['sort'])}",
                    [*params, size, (query["page"] - 1) * size])
    return {
        "data": rows,
        "pagination": pagination(query["page"], size, len(rows), total),
        "sort": query["sort"],
        "filter": {k: query[k] for k in ("status", "project", "name", "source", "job")
                   if k in query},
    }


def list_jobs(db, workspace: str, query: dict) -> dict:
    clauses, params = _where(query, {"status": "j.status", "project": "j.project",
                                     "name": "j.name", "source": "j.source"})
    return _page(db, "jobs j", ["j.workspace = ?", *clauses], [workspace, *params], "j",
                 query, "j.*")


_STEP_COLUMNS = """s.seq, s.id, j.name AS job, s.attempt_id, j.fileset, s.name, s.workspace,
    s.step_spec, s.status, s.status_details, s.error_details, s.created_at, s.updated_at"""


def list_steps(db, workspace: str, job: str, query: dict) -> dict:
    """The current attempt's steps of one job, or of every job in the workspace (`-`)."""
    clauses, params = _where(query, {"status": "s.status", "project": "s.project",
                                     "name": "s.name", "source": "j.source", "job": "j.name"})
    if job == "-":
        scope, scope_params = ["s.workspace = ?"], [workspace]
    else:
        scope, scope_params = ["s.attempt_id = ?"], [get_job(db, workspace, job)["attempt_id"]]
    return _page(db, "steps s JOIN jobs j ON j.attempt_id = s.attempt_id",
                 [*scope, *clauses], [*scope_params, *params], "s", query, _STEP_COLUMNS)
