"""Log lines: appending, paging with signed cursors both ways, filters, limits, retention."""

from datetime import datetime, timedelta, timezone

import pytest

from app import create_app
from app.db import migrate

from .conftest import EXECUTOR


def line(i, step="train", task="t0", ts=None):
    return {"job_step": step, "job_task": task, "message": f"line {i}",
            "timestamp": ts or f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z"}


def append(api, lines, job="j1"):
    return api.client.post(api.url(job, "logs"), json={"data": lines})


def read(api, job="j1", **query):
    response = api.client.get(api.url(job, "logs"), query_string=query)
    assert response.status_code == 200, response.json
    return response.json


def messages(page):
    return [entry["message"] for entry in page["data"]]


@pytest.fixture
def job(api):
    return api.create_job("j1", steps=("prep", "train"))


def test_append_and_read_one_page(api, job):
    response = append(api, [line(i) for i in range(3)])
    assert response.status_code == 201 and response.json == {"accepted": 3}
    page = read(api)
    assert page["data"][0] == {"job": "j1", "job_step": "train", "job_task": "t0",
                               "message": "line 0", "timestamp": "2026-01-01T00:00:00.000000Z"}
    assert messages(page) == ["line 0", "line 1", "line 2"]
    assert (page["next_page"], page["prev_page"], page["total"]) == ("", "", 3)


def test_lines_come_in_timestamp_order_ties_in_arrival_order(api, job):
    append(api, [line(0, ts="2026-01-01T00:00:05+02:00"), line(1, ts="2026-01-01T00:00:01Z")])
    append(api, [line(2, ts="2025-12-31T22:00:05Z"), line(3, ts="2026-01-01T00:00:01.000Z")])
    # 00:00:05+02:00 is 22:00:05 the day before: line 0 ties with line 2 and came first.
    assert messages(read(api)) == ["line 0", "line 2", "line 1", "line 3"]


def test_a_line_without_timestamp_gets_its_arrival_time(api, job):
    append(api, [{"job_step": "train", "job_task": "t0", "message": "now"}])
    assert read(api)["data"][0]["timestamp"].endswith("Z")


def test_paging_forward_and_back_with_cursors(api, job):
    append(api, [line(i) for i in range(25)])
    first = read(api, limit=10)
    assert messages(first) == [f"line {i}" for i in range(10)]
    assert first["total"] == 25 and first["prev_page"] == "" and first["next_page"]
    second = read(api, limit=10, page_cursor=first["next_page"])
    assert messages(second) == [f"line {i}" for i in range(10, 20)]
    third = read(api, limit=10, page_cursor=second["next_page"])
    assert messages(third) == [f"line {i}" for i in range(20, 25)] and third["next_page"] == ""
    back = read(api, limit=10, page_cursor=third["prev_page"])
    assert messages(back) == messages(second)
    assert messages(read(api, limit=10, page_cursor=back["prev_page"])) == messages(first)
    assert read(api, limit=10, page_cursor=back["prev_page"])["prev_page"] == ""


def test_lines_appended_while_paging_appear_on_later_pages(api, job):
    append(api, [line(i) for i in range(4)])
    first = read(api, limit=2)
    append(api, [line(i) for i in range(4, 6)])
    rest = read(api, limit=10, page_cursor=first["next_page"])
    assert messages(rest) == ["line 2", "line 3", "line 4", "line 5"]


def test_filters_by_step_task_and_attempt(api, job):
    append(api, [line(0, "prep", "t0"), line(1, "train", "t0"), line(2, "train", "t1")])
    assert messages(read(api, step_id="train")) == ["line 1", "line 2"]
    assert messages(read(api, task_id="t0")) == ["line 0", "line 1"]
    assert messages(read(api, step_id="train", task_id="t1")) == ["line 2"]
    assert read(api, step_id="eval")["total"] == 0

    api.client.post(api.url("j1", "cancel"))
    api.client.post(api.url("j1", "rerun"))
    append(api, [line(3, "train", "t0")])
    assert messages(read(api)) == ["line 3"]  # the current attempt: 2
    assert messages(read(api, attempt_id=2)) == ["line 3"]
    assert messages(read(api, attempt_id=1)) == ["line 0", "line 1", "line 2"]
    assert read(api, attempt_id=3)["data"] == []


def test_a_cursor_keeps_its_attempt_across_a_rerun(api, job):
    append(api, [line(i) for i in range(4)])
    first = read(api, limit=2)
    api.client.post(api.url("j1", "cancel"))
    api.client.post(api.url("j1", "rerun"))
    assert messages(read(api, limit=2, page_cursor=first["next_page"])) == ["line 2", "line 3"]


def test_a_filtered_page_is_followed_with_the_same_filters(api, job):
    append(api, [line(i, "train", f"t{i % 2}") for i in range(6)])
    first = read(api, limit=2, task_id="t1")
    assert messages(first) == ["line 1", "line 3"]
    assert messages(read(api, limit=2, task_id="t1", page_cursor=first["next_page"])) == ["line 5"]


@pytest.fixture
def cursor(api, job):
    append(api, [line(i) for i in range(4)])
    return read(api, limit=2)["next_page"]


def tamper(cursor: str) -> str:
    body, signature = cursor.split(".")
    return body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature


@pytest.mark.parametrize("make", [
    pytest.param(lambda c: tamper(c), id="altered-payload"),
    pytest.param(lambda c: c.split(".")[0] + ".AAAA", id="altered-signature"),
    pytest.param(lambda c: c.split(".")[0], id="no-signature"),
    pytest.param(lambda c: "garbage", id="garbage"),
    pytest.param(lambda c: "!!!.???", id="not-base64"),
    pytest.param(lambda c: "e30.e30", id="forged-empty"),
    pytest.param(lambda c: c + "x", id="appended"),
    pytest.param(lambda c: "\u00e9" * 10, id="non-ascii"),
])
def test_forged_or_altered_cursors_are_422(api, cursor, make):
    response = api.client.get(api.url("j1", "logs"), query_string={"page_cursor": make(cursor)})
    assert response.status_code == 422
    assert response.json["detail"][0]["type"] == "invalid_cursor"
    assert response.json["detail"][0]["loc"] == ["query", "page_cursor"]


@pytest.mark.parametrize("query", [{"step_id": "train"}, {"task_id": "t0"}, {"attempt_id": 2}])
def test_a_cursor_for_other_filters_is_422(api, cursor, query):
    response = api.client.get(api.url("j1", "logs"), query_string={"page_cursor": cursor, **query})
    assert response.status_code == 422 and response.json["detail"][0]["type"] == "invalid_cursor"


def test_another_jobs_cursor_is_422(api, cursor):
    api.create_job("j2")
    response = api.client.get(api.url("j2", "logs"), query_string={"page_cursor": cursor})
    assert response.status_code == 422 and response.json["detail"][0]["type"] == "invalid_cursor"


def test_another_databases_cursor_is_422(api, cursor, tmp_path):
    path = tmp_path / "other.db"
    migrate(str(path))
    other = create_app({"JOBS_DB": str(path)}).test_client()
    response = other.get(api.url("j1", "logs"), query_string={"page_cursor": cursor})
    assert response.status_code == 404  # no such job there; and with one:
    other.post(api.url(), json={"name": "j1", "platform_spec": {
        "steps": [{"name": "train", "executor": EXECUTOR}]}})
    response = other.get(api.url("j1", "logs"), query_string={"page_cursor": cursor})
    assert response.status_code == 422 and response.json["detail"][0]["type"] == "invalid_cursor"


def count_lines(query) -> int:
    return query("SELECT count(*) FROM logs")[0][0]


@pytest.mark.parametrize("body,loc,kind", [
    ({}, ["body", "data"], "missing"),
    ({"data": []}, ["body", "data"], "value_error"),
    ({"data": [line(i) for i in range(1001)]}, ["body", "data"], "value_error"),
    ({"data": [{**line(0), "job_step": "nope"}]}, ["body", "data", 0, "job_step"], "unknown_step"),
    ({"data": [line(0), {**line(1), "job_step": "eval"}]}, ["body", "data", 1, "job_step"],
     "unknown_step"),
    ({"data": [{**line(0), "job_step": "Bad"}]}, ["body", "data", 0, "job_step"],
     "string_pattern_mismatch"),
    ({"data": [{**line(0), "job_task": "-x"}]}, ["body", "data", 0, "job_task"],
     "string_pattern_mismatch"),
    ({"data": [{**line(0), "message": "x" * (64 * 1024 + 1)}]}, ["body", "data", 0, "message"],
     "value_error"),
    ({"data": [{**line(0), "message": "\u00e9" * (32 * 1024 + 1)}]},
     ["body", "data", 0, "message"], "value_error"),
    ({"data": [{**line(0), "message": 5}]}, ["body", "data", 0, "message"], "string_type"),
    ({"data": [{**line(0), "timestamp": "yesterday"}]}, ["body", "data", 0, "timestamp"],
     "datetime_parsing"),
    ({"data": [{**line(0), "timestamp": "2026-01-01T00:00:00"}]},
     ["body", "data", 0, "timestamp"], "datetime_parsing"),
    ({"data": [{**line(0), "timestamp": "2026-02-30T00:00:00Z"}]},
     ["body", "data", 0, "timestamp"], "datetime_parsing"),
    ({"data": [{k: v for k, v in line(0).items() if k != "message"}]},
     ["body", "data", 0, "message"], "missing"),
    ({"data": "lines"}, ["body", "data"], "list_type"),
    ({"data": [5]}, ["body", "data", 0], "dict_type"),
])
def test_a_bad_batch_is_refused_whole(api, job, query, body, loc, kind):
    response = api.client.post(api.url("j1", "logs"), json=body)
    assert response.status_code == 422, response.json
    assert {"loc": loc, "type": kind} in [{"loc": e["loc"], "type": e["type"]}
                                          for e in response.json["detail"]]
    assert count_lines(query) == 0


def test_a_lone_surrogate_is_refused(api, job, query):
    response = api.client.post(api.url("j1", "logs"), content_type="application/json",
                               data=b'{"data": [{"job_step": "train", "job_task": "t0", '
                                    b'"message": "\\ud800"}]}')
    assert response.status_code == 422 and count_lines(query) == 0


def test_the_limits_hold_at_their_edges(api, job):
    assert append(api, [line(i) for i in range(1000)]).status_code == 201
    assert append(api, [{**line(0), "message": "x" * 64 * 1024}]).status_code == 201
    assert len(read(api, limit=1000)["data"]) == 1000


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "attempt_id=0",
                                   "attempt_id=x", "step_id=Bad", "task_id=a--b",
                                   "page_cursor=" + "a" * 1025])
def test_bad_queries_are_422(api, job, query):
    response = api.client.get(api.url("j1", "logs") + "?" + query)
    assert response.status_code == 422, response.json


def test_unknown_job_is_404(api, job):
    assert append(api, [line(0)], job="nope").status_code == 404
    assert api.client.get(api.url("nope", "logs")).status_code == 404


def test_lines_are_deleted_with_their_job(api, job, query):
    append(api, [line(i) for i in range(5)])
    api.client.delete(api.url("j1"))
    assert count_lines(query) == 0


def age(query, days: int) -> None:
    """Make every stored line look as if it arrived `days` ago."""
    then = datetime.now(timezone.utc) - timedelta(days=days)
    query("UPDATE logs SET received_at = ?", (then.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),))


def test_retention_hides_expired_lines_and_appends_delete_them(api, job, query):
    append(api, [line(i) for i in range(3)])
    age(query, 31)
    assert read(api)["total"] == 0  # expired: no longer served, even before deletion
    append(api, [line(9)])
    assert messages(read(api)) == ["line 9"] and count_lines(query) == 1


def test_prune_logs_deletes_expired_lines(app, api, job, query):
    append(api, [line(i) for i in range(3)])
    age(query, 40)
    app.config["JOBS_LOG_RETENTION_DAYS"] = 0  # this append keeps the expired lines
    append(api, [line(i) for i in range(3, 5)])
    app.config["JOBS_LOG_RETENTION_DAYS"] = 30
    result = app.test_cli_runner().invoke(args=["prune-logs"])
    assert result.exit_code == 0 and "3 expired log line(s) deleted" in result.output
    assert count_lines(query) == 2


def test_retention_zero_keeps_lines(app, api, job, query):
    app.config["JOBS_LOG_RETENTION_DAYS"] = 0
    append(api, [line(0)])
    age(query, 4000)
    assert read(api)["total"] == 1
