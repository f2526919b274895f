"""Dispatch: publish a job's items page by page, each page a chord with an aggregating
callback; after each page, count and publish the next or finalise (DESIGN.md steps 2 and 4).

Each page is claimed and materialised in one transaction; its chord goes out after that
commit (the unit of work), so no item task races its row.
"""

from __future__ import annotations

from typing import Any

from batchsvc import limits
from batchsvc.messaging import DISPATCH_JOB, PRIORITY, canvas, message_priority
from batchsvc.models import BatchJob
from batchsvc.services import pipeline
from batchsvc.settings import get_settings
from batchsvc.states import JOB_ACTIVE, JobStatus
from batchsvc.uow import unit_of, unit_of_work


def job_priority(job: BatchJob) -> int:
    """The job's ``priority`` option as a priority level (medium when absent)."""
    params = job.job_config.get("parameters") or {}
    return PRIORITY.get(str(params.get("priority") or "medium"), PRIORITY["medium"])


# Light items (pipeline.light_items) per message.
CHUNK_ITEMS = 8


def item_message(job: BatchJob, seqs: list[int], priority: int | None = None) -> Any:
    """One message for ``seqs`` (one item, or a chunk of light ones), with Celery's (soft,
    hard) limits from the job's timeout options as the backstop (each item arms its exact
    limit itself) and the job's priority."""
    params = job.job_config.get("parameters") or {}
    soft, hard = limits.celery_time_limits(params, float(get_settings().item_time_limit_seconds))
    level = job_priority(job) if priority is None else priority
    return canvas.item(job.job_type, seqs, soft * len(seqs), hard * len(seqs),
                       message_priority(level))


def chunked(seqs: list[int], light: set[int]) -> list[list[int]]:
    """Consecutive light items grouped by CHUNK_ITEMS; every other item alone."""
    out: list[list[int]] = []
    for seq in seqs:
        if seq in light and out and len(out[-1]) < CHUNK_ITEMS and out[-1][-1] in light:
            out[-1].append(seq)
        else:
            out.append([seq])
    return out


def publish_pages(job_id: str, pages: int) -> int:
    """Claim and publish up to ``pages`` pages; returns the number of items published."""
    settings = get_settings()
    published = 0
    for _ in range(pages):
        with unit_of_work() as session:
            # The sweeper re-sends items not claimed by the queue timeout (a lost message).
            claimed = pipeline.claim_next_page(session, job_id,
                                               settings.item_queue_timeout_seconds)
            if claimed is None:
                break
            page_no, seqs = claimed
            job = session.get(BatchJob, job_id)
            assert job is not None
            chunks = chunked(seqs, pipeline.light_items(session, seqs))
            unit_of(session).publish(canvas.page(
                (item_message(job, chunk) for chunk in chunks), job_id, page_no))
            threshold = job.continue_as_new_threshold
        published += len(seqs)
        if published >= threshold:
            break
    return published


def dispatch(job_id: str) -> str:
    """pending -> dispatched, then the first pages (or, for a cancelled directory job, its
    unmaterialised items as cancelled, a page per message); the job's state after."""
    with unit_of_work() as session:
        job = pipeline.claim_dispatch(session, job_id)
        status = job.status if job else None
    if status is None:
        return "missing"
    if status == JobStatus.PENDING:
        return "waiting for its S3 import"
    if status == JobStatus.CANCELLED:
        with unit_of_work() as session:
            if pipeline.cancel_unmaterialized(session, job_id):
                unit_of(session).send(DISPATCH_JOB, job_id)  # continue as new
                return "cancelling"
    elif status in JOB_ACTIVE:
        publish_pages(job_id, max(1, get_settings().pages_in_flight))
    return advance(job_id)


def advance(job_id: str) -> str:
    """Count what settled, publish the next page or finalise (pipeline.advance)."""
    with unit_of_work() as session:
        state = pipeline.advance(session, job_id)
    if state == "more":
        publish_pages(job_id, 1)
    return state
