"""Structured logs: one JSON object per line, carrying the request, job, item and task ids.

The API, the workers and the CLI share one formatter. Ids reach it through a context
variable (``bind``) that the request hooks and the task signals fill, so a log call never
has to pass them by hand.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger as _GunicornLogger

from batchsvc.messaging import JOB_ARG_TASKS
from batchsvc.settings import Settings, get_settings

_context: ContextVar[dict[str, str] | None] = ContextVar("batchsvc_log_context", default=None)
CONTEXT_FIELDS = ("request_id", "job_id", "item_id", "task_id", "task_name")
# A client's X-Request-ID is echoed into logs and headers, so accept only plain tokens.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@+=-]{1,128}")
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


def bind(**fields: Any) -> None:
    """Add ids to every log line this thread (or task) writes from now on."""
    added = {k: str(v) for k, v in fields.items() if v is not None}
    _context.set({**(_context.get() or {}), **added})


def clear() -> None:
    _context.set({})


def current() -> dict[str, str]:
    return dict(_context.get() or {})


def _task_ids() -> dict[str, str]:
    if "celery" not in sys.modules:
        return {}
    from celery._state import get_current_task

    task = get_current_task()
    if task is None or not task.request.id:
        return {}
    return {"task_id": task.request.id, "task_name": task.name}


class ContextFilter(logging.Filter):
    """Copy the bound ids (and the running Celery task's id) onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in {**_task_ids(), **(_context.get() or {})}.items():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """Human-readable lines, with the bound ids appended."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        ids = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS
                       if getattr(record, k, None))
        line = super().format(record)
        return f"{line} [{ids}]" if ids else line


def formatter(settings: Settings | None = None) -> logging.Formatter:
    settings = settings or get_settings()
    return JsonFormatter() if settings.log_json else PlainFormatter()


def configure_logging(settings: Settings | None = None, level: int | str | None = None) -> None:
    """Send every log record of this process to stderr through one handler."""
    settings = settings or get_settings()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(settings))
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level or settings.log_level.upper())
    # warnings.warn() writes to stderr directly; through logging it becomes a JSON line too.
    logging.captureWarnings(True)
    # Celery's task and redirect loggers keep their own handlers; route them to ours.
    for name in ("celery", "celery.task", "celery.redirected"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True


class GunicornLogger(_GunicornLogger):
    """gunicorn's own lines (boot, worker exits) in the same JSON shape as the app's."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())
                handler.addFilter(ContextFilter())


def server_log_args(settings: Settings | None = None) -> list[str]:
    """gunicorn flags: JSON lines (and the app's own access log) or gunicorn's text log."""
    settings = settings or get_settings()
    if settings.log_json:
        return ["--logger-class", "batchsvc.logs.GunicornLogger"]
    return ["--access-logfile", "-"]


def worker_log_args(settings: Settings | None = None) -> list[str]:
    """celery global flags: no ASCII banner on stdout when every line must be JSON."""
    settings = settings or get_settings()
    return ["--quiet"] if settings.log_json else []


def request_id_from(header: str | None) -> str:
    """The client's request id if it is a sane token, else a fresh one."""
    if header and SANE_REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


# Tasks whose first argument is a job id; item tasks bind their ids once they claim a row.


def connect_celery(settings: Settings | None = None) -> None:
    """Bind job ids per task, and (in JSON mode) take over the worker's log set-up."""
    from celery.signals import setup_logging, task_prerun

    def _prerun(task: Any = None, args: Any = None, **_: Any) -> None:
        clear()
        if task is not None and task.name in JOB_ARG_TASKS and args:
            bind(job_id=args[0])

    def _setup(loglevel: Any = None, **_: Any) -> None:
        configure_logging(level=loglevel)

    # Cleared when the next task starts, not when this one ends: the worker's "succeeded"
    # line and the metrics' postrun hook still see this task's ids.
    task_prerun.connect(_prerun, weak=False)
    if (settings or get_settings()).log_json:
        # Now, for what Celery says before it sets logging up (the root-user warning), and
        # again from its set-up signal, after which Celery leaves logging entirely to us.
        configure_logging(settings)
        setup_logging.connect(_setup, weak=False)
