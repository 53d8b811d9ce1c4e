"""Every accepted status change, recorded in the transaction that makes it.

A change is announced on `transition_accepted` only once its transaction has committed,
so a metric can never count a change that was rolled back.
"""

from ..signals import transition_accepted
from .rows import all_rows, insert, pagination


def record(db, kind: str, entity: dict, job_id: str, source: str | None, target: str,
           at: str, by: str | None, version: int) -> None:
    """Write one history entry; announce it after commit."""
    if source == target:
        return
    insert(db, "history", {
        "workspace": entity["workspace"], "job_id": job_id, "entity_kind": kind,
        "entity_id": entity["id"], "entity_name": entity["name"], "from_status": source,
        "to_status": target, "at": at, "by": by, "db_version": version,
    })
    db.after_commit.append(lambda: transition_accepted.send(kind, source=source, target=target))


_ENTRY = """SELECT entity_kind, entity_id, entity_name, from_status AS "from",
                   to_status AS "to", at, by, db_version FROM history"""


def page(db, where: str, params: list, page_number: int, size: int) -> dict:
    total = db.execute(f"SELECT COUNT(*) FROM history WHERE {where}", params).fetchone()[0]
    rows = all_rows(db, f"{_ENTRY} WHERE {where} ORDER BY seq LIMIT ? OFFSET ?",
                    [*params, size, (page_number - 1) * size])
    return {"data": rows, "pagination": pagination(page_number, size, len(rows), total)}

