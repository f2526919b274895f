"""The messages of a batch as Celery canvases, built by task name (no task code needed):
one item message (one item, or a chunk of light ones), one page (a chord of its item
messages with an aggregating callback), a recovered item."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from celery import chord, signature

from batchsvc.messaging import ADVANCE_JOB, ITEM_TASKS, PAGE_DONE, PAGE_FAILED, celery_app


def item(job_type: str, seqs: list[int], soft: float, hard: float, priority: int) -> Any:
    # A Redis backend counts chord parts itself, so item results need not be stored (one key
    # less per item in Redis); a backend that polls results for chords (a database) needs them.
    return signature(ITEM_TASKS[job_type], args=(seqs,), app=celery_app, soft_time_limit=soft,
                     time_limit=hard, priority=priority,
                     ignore_result=bool(celery_app.backend.supports_native_join))


def page(items: Iterable[Any], job_id: str, page_no: int) -> Any:
    """The page's items as a chord whose body aggregates the page from the rows."""
    body = signature(PAGE_DONE, args=(job_id, page_no), app=celery_app, immutable=True)
    errback = signature(PAGE_FAILED, kwargs={"job_id": job_id, "page_no": page_no},
                        app=celery_app)
    headers = list(items)
    if not headers:
        return body
    # A generator, not a list: for a list header the Redis backend's apply_chord also builds
    # a GroupResult whose barrier subscribes to every item's result channel and holds the
    # results for good (item results are never stored, so never arrive): the publishing
    # process and Redis then grow with every page.
    return chord((h for h in headers), body.on_error(errback))


def recovered_item(message: Any, job_id: str) -> Any:
    """An item re-sent outside its page's chord: the aggregation is chained onto it."""
    return message | signature(ADVANCE_JOB, args=(job_id,), app=celery_app, immutable=True)
