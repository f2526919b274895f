"""Dispatch: publish a job's items page by page, each page a chord with an aggregating callback."""

from __future__ import annotations

import logging
from typing import Any

from celery import chord, signature

from batchsvc import limits
from batchsvc.db import TRANSIENT_DB_ERRORS, session_scope
from batchsvc.models import BatchJob
from batchsvc.services import pipeline
from batchsvc.settings import get_settings
from tasks.app import ITEM_TASKS, PRIORITY, celery_app, message_priority

log = logging.getLogger("batchsvc.dispatch")
# Control tasks ride out a database restart: retried after 1, 2, 4 ... 30 s; past that the
# sweeper picks the job up again.
DB_RETRY: dict[str, Any] = {"autoretry_for": TRANSIENT_DB_ERRORS, "retry_backoff": 1,
                            "retry_backoff_max": 30, "retry_jitter": False, "max_retries": 8}


def item_time_limits(job: BatchJob) -> tuple[float, float]:
    """(soft, hard) Celery limits from the job's timeout options, capped by the server.

    They are the backstop: the item task arms the exact limit (base + per page) itself."""
    params = job.job_config.get("parameters") or {}
    return limits.celery_time_limits(params, float(get_settings().item_time_limit_seconds))


def job_priority(job: BatchJob) -> int:
    """The job's ``priority`` option as a priority level (medium when absent)."""
    params = job.job_config.get("parameters") or {}
    return PRIORITY.get(str(params.get("priority") or "medium"), PRIORITY["medium"])


def item_signature(job: BatchJob, seq: int, priority: int | None = None) -> Any:
    soft, hard = item_time_limits(job)
    level = job_priority(job) if priority is None else priority
    # A Redis backend counts chord parts itself, so item results need not be stored (one key
    # less per item in Redis); a backend that polls results for chords (a database) needs them.
    return signature(ITEM_TASKS[job.job_type], args=(seq,), app=celery_app,
                     soft_time_limit=soft, time_limit=hard, priority=message_priority(level),
                     ignore_result=bool(celery_app.backend.supports_native_join))


def publish_pages(job_id: str, pages: int) -> int:
    """Claim and publish up to ``pages`` pages; returns the number of items published."""
    settings = get_settings()
    published = 0
    for _ in range(pages):
        with session_scope() as session:
            # The sweeper re-sends items not claimed by the lease (a lost message).
            claimed = pipeline.claim_next_page(session, job_id,
                                               settings.item_queue_timeout_seconds)
            if claimed is None:
                break
            page_no, seqs = claimed
            job = session.get(BatchJob, job_id)
            threshold = job.continue_as_new_threshold if job else settings.default_page_size
            headers = [item_signature(job, seq) for seq in seqs] if job else []
        body = page_done.si(job_id, page_no)
        if headers:
            # A generator, not a list: for a list header the Redis backend's apply_chord also
            # builds a GroupResult whose barrier subscribes to every item's result channel and
            # holds the results for good (item results are never stored, so never arrive):
            # the publishing process and Redis then grow with every page.
            chord(h for h in headers)(
                body.on_error(page_failed.s(job_id=job_id, page_no=page_no)))
        else:
            body.delay()
        published += len(seqs)
        if published >= threshold:
            break
    return published


# Control tasks store no result: nothing reads them, and page_done's would list the ids of
# the whole page it published ("children"), a few KB per page in Redis.
@celery_app.task(name="batchsvc.dispatch_job", ignore_result=True, **DB_RETRY)
def dispatch_job(job_id: str) -> dict[str, Any]:
    settings = get_settings()
    with session_scope() as session:
        job = pipeline.claim_dispatch(session, job_id)
        status = job.status if job else None
    if status is None:
        return {"job_id": job_id, "state": "missing"}
    if status == "cancelled":
        with session_scope() as session:
            more = pipeline.cancel_unmaterialized(session, job_id)
        if more:
            dispatch_job.delay(job_id)  # continue as new: one page per message
            return {"job_id": job_id, "state": "cancelling"}
    elif status in pipeline.ACTIVE:
        publish_pages(job_id, max(1, settings.pages_in_flight))
    return {"job_id": job_id, "state": _advance(job_id)}


def _advance(job_id: str) -> str:
    with session_scope() as session:
        state = pipeline.advance(session, job_id)
    if state == "more":
        publish_pages(job_id, 1)
    return state


@celery_app.task(name="batchsvc.page_done", ignore_result=True, **DB_RETRY)
def page_done(job_id: str, page_no: int) -> str:
    return _advance(job_id)


@celery_app.task(name="batchsvc.page_failed", ignore_result=True, **DB_RETRY)
def page_failed(*_errback_args: Any, job_id: str, page_no: int) -> str:
    # A revoked header fails the chord; the rows still say what happened, so aggregate them.
    log.warning("page %s of %s ended with a chord error; aggregating from rows", page_no, job_id)
    return _advance(job_id)


@celery_app.task(name="batchsvc.advance_job", ignore_result=True, **DB_RETRY)
def advance_job(job_id: str) -> str:
    return _advance(job_id)
