"""Item tasks: claim the row, run the engine, store result and lineage, never raise.

A header task that raised would keep its chord's callback from running, so document errors
become a failed item and a small return value (DESIGN.md, step 3).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery import Task

from batchsvc import limits
from batchsvc.db import is_transient_db_error, session_scope
from batchsvc.logs import bind as bind_log_ids
from batchsvc.services import heartbeat, itemstore, pipeline
from batchsvc.settings import get_settings
from batchsvc.storage import StorageError
from tasks.app import celery_app
from tasks.engines import DocumentError, run_classify, run_parse

log = logging.getLogger("batchsvc.items")
ENGINES = {"parse": run_parse, "classify": run_classify}


def process_item(seq: int, job_type: str, token: str | None = None) -> dict[str, Any]:
    settings = get_settings()
    # The claim and every read; an outcome known without the engine ends here.
    claimed = itemstore.claim(seq, settings.item_lease_seconds, token, settings.max_item_bytes)
    if claimed is None:
        return {"seq": seq, "status": "noop"}
    claim, job, stored = claimed
    bind_log_ids(job_id=claim.job_id, item_id=claim.item_id, item_name=claim.item_name)
    # The lease lives while this process works on the item, up to the item's hard limit.
    hard_limit = limits.celery_time_limits(job.params, settings.item_time_limit_seconds)[1]
    with heartbeat.holding(seq, claim.attempts, hard_limit):
        status, fields = _outcome(claim, job, stored)
    if status == "completed":
        return {"seq": seq, "status": status}
    itemstore.finish(seq, claim.attempts, status, **fields)
    return {"seq": seq, "status": status}


def _outcome(claim: pipeline.ClaimedItem, job: itemstore.JobInfo,
             stored: itemstore.FileInfo | None) -> tuple[str, dict[str, Any]]:
    """Run the item; ("completed", {}) once its result is stored, else the final status and
    the fields that explain it."""
    settings = get_settings()
    if claim.attempts > settings.item_max_attempts:
        return "failed", {"error": f"gave up after {claim.attempts - 1} attempts: the worker "
                          "processing this item was lost each time (it crashed, was killed "
                          "or ran out of memory)"}
    if stored is None:
        return "failed", {"error": "the file was deleted before it could be processed"}
    if stored.size > settings.max_item_bytes:
        return "skipped", {"skip_reason": "size_limit_exceeded", "error":
                           f"file is {stored.size} bytes; the limit is "
                           f"{settings.max_item_bytes}"}
    if stored.cached_result_id:
        return "skipped", {"skip_reason": "already_processed",
                           "result_id": stored.cached_result_id}
    try:
        data = itemstore.read_file(stored)
    except StorageError as exc:
        return "failed", {"error": str(exc)}
    try:
        seconds = limits.item_seconds(job.params, limits.page_count(data),
                                      settings.item_time_limit_seconds)
        with limits.deadline(seconds):
            output, summary = ENGINES[job.job_type](data, claim.item_name, job.config)
    except (limits.ItemTimeout, DocumentError) as exc:
        return "failed", {"error": str(exc)}
    except SoftTimeLimitExceeded:
        limit = celery_app.current_task.request.timelimit[1] if celery_app.current_task else None
        return "failed", {"error": f"timed out after {limit or '?'} s"}
    except MemoryError:
        return "failed", {"error": limits.memory_message(settings.item_memory_limit_mb)}
    except Exception as exc:  # noqa: BLE001 - a bad document must not kill the chord
        log.exception("engine error on item %s", claim.seq)
        return "failed", {"error": f"could not process the document: "
                          f"{type(exc).__name__}: {exc}"}
    # The output, its lineage and the item's final status.
    itemstore.store_result(claim, job, stored.sha256,
                           json.dumps(output, default=str).encode(), summary)
    return "completed", {}


class ItemTask(Task):
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        # The hard time limit killed the pool child (code stuck in C ignores the soft one);
        # the worker's main process runs this, so the item still ends with a reason.
        if isinstance(exc, TimeLimitExceeded) and args:
            seconds = exc.args[0] if exc.args else "?"
            with session_scope() as session:
                pipeline.fail_claim(session, args[0], task_id,
                                    error=f"timed out after {seconds} s")


def run_item(task: Task, seq: int, job_type: str) -> dict[str, Any]:
    try:
        return process_item(seq, job_type, token=task.request.id)
    except Exception as exc:
        if not is_transient_db_error(exc):
            raise
        # The database is restarting or unreachable: the same message comes back (same task
        # id, so it may re-claim its item) after 1, 2, 4 ... 30 s.
        countdown = min(30, 2 ** task.request.retries)
        log.warning("item %s: database unavailable (%s); retry in %s s",
                    seq, type(exc).__name__, countdown)
        raise task.retry(exc=exc, countdown=countdown) from exc


ITEM_OPTIONS: dict[str, Any] = {
    "base": ItemTask,
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    # Kept for chords on a polling result backend; dispatch drops them on Redis.
    "ignore_result": False,
    # Transient database errors only; a lost worker is bounded by item_max_attempts.
    "max_retries": 8,
}


@celery_app.task(name="batchsvc.parse_item", **ITEM_OPTIONS)
def parse_item(self: Task, seq: int) -> dict[str, Any]:
    return run_item(self, seq, "parse")


@celery_app.task(name="batchsvc.classify_item", **ITEM_OPTIONS)
def classify_item(self: Task, seq: int) -> dict[str, Any]:
    return run_item(self, seq, "classify")
