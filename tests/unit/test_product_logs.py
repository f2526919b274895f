"""JSON log lines and request ids."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from batchsvc import logs
from batchsvc.app import create_app


def record(message: str, **extra: object) -> logging.LogRecord:
    rec = logging.getLogger("batchsvc.test").makeRecord(
        "batchsvc.test", logging.WARNING, __file__, 1, message, (), None, extra=extra)
    logs.ContextFilter().filter(rec)
    return rec


def test_one_json_object_per_line_with_bound_ids() -> None:
    logs.clear()
    logs.bind(job_id="bjb-1", item_id="dfl-2", request_id=None)
    try:
        line = logs.JsonFormatter().format(record("two\nlines", status=200))
    finally:
        logs.clear()
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "two\nlines" and entry["level"] == "WARNING"
    assert (entry["job_id"], entry["item_id"], entry["status"]) == ("bjb-1", "dfl-2", 200)
    assert "request_id" not in entry and entry["logger"] == "batchsvc.test"


def test_exceptions_stay_on_the_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = record("failed")
        rec.exc_info = sys.exc_info()
    entry = json.loads(logs.JsonFormatter().format(rec))
    assert "ValueError: boom" in entry["exc_info"]


def test_plain_formatter_appends_ids() -> None:
    logs.clear()  # ids an earlier test bound in this process (process_item binds its own)
    logs.bind(task_id="t-1")
    try:
        line = logs.PlainFormatter().format(record("hello"))
    finally:
        logs.clear()
    assert line.endswith("batchsvc.test: hello [task_id=t-1]")


@pytest.mark.parametrize(("sent", "kept"), [
    ("req-42.a:b@c", True), ("x" * 128, True), ("x" * 129, False), ("has space", False),
    ("new\nline", False), ("", False), (None, False)])
def test_request_id_is_accepted_only_when_sane(sent: str | None, kept: bool) -> None:
    got = logs.request_id_from(sent)
    assert (got == sent) is kept
    assert kept or len(got) == 32


@pytest.mark.usefixtures("sqlite_settings")
def test_request_id_header_on_every_response() -> None:
    client = create_app().test_client()
    echoed = client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["X-Request-ID"] == "abc-123"
    unauthorised = client.get("/api/v1/beta/batch-processing",
                              headers={"X-Request-ID": "bad id\x01"})
    assert unauthorised.status_code == 401
    assert len(unauthorised.headers["X-Request-ID"]) == 32
    first = client.get("/healthz").headers["X-Request-ID"]
    assert first != client.get("/healthz").headers["X-Request-ID"]


def test_server_and_worker_flags_follow_the_setting() -> None:
    from batchsvc.settings import Settings

    assert logs.server_log_args(Settings(log_json=True)) == [
        "--logger-class", "batchsvc.logs.GunicornLogger"]
    assert logs.server_log_args(Settings(log_json=False)) == ["--access-logfile", "-"]
    assert logs.worker_log_args(Settings(log_json=True)) == ["--quiet"]
