"""Dispatch and page callbacks: thin adapters around services.dispatch."""

from __future__ import annotations

import logging
from typing import Any

from batchsvc.db import TRANSIENT_DB_ERRORS
from batchsvc.messaging import ADVANCE_JOB, DISPATCH_JOB, PAGE_DONE, PAGE_FAILED
from batchsvc.services import dispatch
from tasks.app import celery_app

log = logging.getLogger("batchsvc.dispatch")
# Control tasks ride out a database restart: retried after 1, 2, 4 ... 30 s; past that the
# sweeper picks the job up again. They store no result: nothing reads them.
CONTROL: dict[str, Any] = {"ignore_result": True, "autoretry_for": TRANSIENT_DB_ERRORS,
                           "retry_backoff": 1, "retry_backoff_max": 30, "retry_jitter": False,
                           "max_retries": 8}


@celery_app.task(name=DISPATCH_JOB, **CONTROL)
def dispatch_job(job_id: str) -> str:
    return dispatch.dispatch(job_id)


@celery_app.task(name=PAGE_DONE, **CONTROL)
def page_done(job_id: str, page_no: int) -> str:
    return dispatch.advance(job_id)


@celery_app.task(name=PAGE_FAILED, **CONTROL)
def page_failed(*_errback_args: Any, job_id: str, page_no: int) -> str:
    # A revoked header fails the chord; the rows still say what happened, so aggregate them.
    log.warning("page %s of %s ended with a chord error; aggregating from rows", page_no, job_id)
    return dispatch.advance(job_id)


@celery_app.task(name=ADVANCE_JOB, **CONTROL)
def advance_job(job_id: str) -> str:
    return dispatch.advance(job_id)
