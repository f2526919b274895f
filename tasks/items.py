"""Item tasks: claim the row, run the engine, store result and lineage, never raise.

A header task that raised would keep its chord's callback from running, so document errors
become a failed item and a small return value (DESIGN.md, step 3).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import sqlalchemy as sa
from billiard.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from celery import Task
from sqlalchemy.exc import IntegrityError

from batchsvc import limits
from batchsvc.db import is_transient_db_error, session_scope
from batchsvc.logs import bind as bind_log_ids
from batchsvc.models import BatchJob, ProcessingResult, new_id
from batchsvc.services import pipeline
from batchsvc.settings import get_settings
from batchsvc.storage import StorageError, get_storage
from tasks.app import celery_app
from tasks.engines import DocumentError, run_classify, run_parse

log = logging.getLogger("batchsvc.items")
ENGINES = {"parse": run_parse, "classify": run_classify}


def _finish(seq: int, status: str, **kw: Any) -> dict[str, Any]:
    with session_scope() as session:
        pipeline.finish_item(session, seq, status, **kw)
    return {"seq": seq, "status": status}


def process_item(seq: int, job_type: str, token: str | None = None) -> dict[str, Any]:
    settings = get_settings()
    with session_scope() as session:
        claim = pipeline.claim_item(session, seq, settings.item_lease_seconds, token)
        if claim is None:
            return {"seq": seq, "status": "noop"}
        bind_log_ids(job_id=claim.job_id, item_id=claim.item_id, item_name=claim.item_name)
        job = session.get(BatchJob, claim.job_id)
        assert job is not None
        if job.status == "dispatched":
            pipeline.mark_running(session, job.id)
        stored = pipeline.file_for_item(session, claim.file_id)
        config, params_hash = job.job_config, job.parameters_hash
        retried = job.retry_of is not None
        file_info = None if stored is None else (
            stored.size, stored.sha256, stored.storage_key)
    if claim.attempts > settings.item_max_attempts:
        return _finish(seq, "failed", error=f"gave up after {claim.attempts - 1} attempts: "
                       "the worker processing this item was lost each time "
                       "(it crashed, was killed or ran out of memory)")
    if file_info is None:
        return _finish(seq, "failed", error="the file was deleted before it could be processed")
    size, sha256, storage_key = file_info
    if size > settings.max_item_bytes:
        return _finish(seq, "skipped", skip_reason="size_limit_exceeded",
                       error=f"file is {size} bytes; the limit is {settings.max_item_bytes}")
    params = config.get("parameters") or {}
    no_cache = bool(params.get("invalidate_cache") or params.get("do_not_cache"))
    # A retry re-runs its items even where an identical file was processed before.
    if not no_cache and not retried:
        with session_scope() as session:
            cached = pipeline.find_cached_result(
                session, claim.project_id, sha256, job_type, params_hash)
        if cached:
            return _finish(seq, "skipped", skip_reason="already_processed", result_id=cached)
    try:
        data = get_storage().get_bytes(storage_key)
        seconds = limits.item_seconds(params, limits.page_count(data),
                                      settings.item_time_limit_seconds)
        with limits.deadline(seconds):
            output, summary = ENGINES[job_type](data, claim.item_name, config)
    except limits.ItemTimeout as exc:
        return _finish(seq, "failed", error=str(exc))
    except DocumentError as exc:
        return _finish(seq, "failed", error=str(exc))
    except SoftTimeLimitExceeded:
        limit = celery_app.current_task.request.timelimit[1] if celery_app.current_task else None
        return _finish(seq, "failed", error=f"timed out after {limit or '?'} s")
    except MemoryError:
        return _finish(seq, "failed", error=limits.memory_message(settings.item_memory_limit_mb))
    except StorageError as exc:
        return _finish(seq, "failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bad document must not kill the chord
        if is_transient_db_error(exc):
            raise  # db:// storage lost its connection: the task retries, the item is fine
        log.exception("engine error on item %s", seq)
        return _finish(seq, "failed", error=f"could not process the document: "
                       f"{type(exc).__name__}: {exc}")
    return _store(seq, claim, job_type, params_hash, sha256, output, summary, not no_cache)


def _store(seq: int, claim: pipeline.ClaimedItem, job_type: str, params_hash: str,
           sha256: str, output: dict[str, Any], summary: dict[str, Any],
           cacheable: bool) -> dict[str, Any]:
    result_id = new_id("res-")
    key = f"results/{claim.project_id}/{claim.job_id}/{result_id}.json"
    get_storage().put_bytes(key, json.dumps(output, default=str).encode())
    with session_scope() as session:
        try:
            with session.begin_nested():
                session.add(ProcessingResult(
                    id=result_id, project_id=claim.project_id, job_id=claim.job_id,
                    item_id=claim.item_id, file_id=claim.file_id, file_sha256=sha256,
                    job_type=job_type, parameters_hash=params_hash, output_key=key,
                    output_metadata=summary, cacheable=cacheable))
        except IntegrityError:
            # A previous run of this item stored its lineage before dying: keep that one.
            get_storage().delete(key)
            existing = session.scalar(sa.select(ProcessingResult.id).where(
                ProcessingResult.job_id == claim.job_id,
                ProcessingResult.item_id == claim.item_id))
            result_id = existing or result_id
        pipeline.finish_item(session, seq, "completed", result_id=result_id)
    return {"seq": seq, "status": "completed"}


class ItemTask(Task):
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        # The hard time limit killed the pool child (code stuck in C ignores the soft one);
        # the worker's main process runs this, so the item still ends with a reason.
        if isinstance(exc, TimeLimitExceeded) and args:
            seconds = exc.args[0] if exc.args else "?"
            with session_scope() as session:
                pipeline.finish_item(session, args[0], "failed",
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
    "ignore_result": False,  # chord header results must be kept
    # Transient database errors only; a lost worker is bounded by item_max_attempts.
    "max_retries": 8,
}


@celery_app.task(name="batchsvc.parse_item", **ITEM_OPTIONS)
def parse_item(self: Task, seq: int) -> dict[str, Any]:
    return run_item(self, seq, "parse")


@celery_app.task(name="batchsvc.classify_item", **ITEM_OPTIONS)
def classify_item(self: Task, seq: int) -> dict[str, Any]:
    return run_item(self, seq, "classify")
