"""The state machine of a batch, as SQL on the job and item rows: dispatch, pages, the job's
progress and its end. Statuses and their legal moves come from batchsvc.states.

Every function here is safe to run twice: claims are conditional UPDATEs, so a redelivered
message or a second worker changes nothing the first one already did.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from batchsvc.models import (
    BatchJob,
    DirectoryFile,
    JobItem,
    S3Import,
    StoredFile,
    new_id,
    utcnow,
)
from batchsvc.services import counts, refinement
from batchsvc.settings import get_settings
from batchsvc.states import JOB_ACTIVE, ItemStatus, JobStatus, job_sources
from batchsvc.webhooks.outbox import record_event


def insert_items(
    session: Session, job: BatchJob, items: Sequence[tuple[str, str | None, str]], start: int,
    status: ItemStatus = ItemStatus.PENDING, lease_until: datetime | None = None,
) -> None:
    """Item rows at positions ``start``... for (item_id, file_id, name) tuples (no file_id:
    the document comes from the job's ``input_url``)."""
    if not items:
        return
    now = utcnow()
    session.execute(sa.insert(JobItem), [
        {"job_id": job.id, "project_id": job.project_id, "position": start + n,
         "item_id": item_id, "file_id": file_id, "item_name": name, "status": status,
         "result_job_id": new_id(), "updated_at": now, "lease_until": lease_until,
         "completed_at": now if status == ItemStatus.CANCELLED else None}
        for n, (item_id, file_id, name) in enumerate(items)
    ])


def claim_dispatch(session: Session, job_id: str) -> BatchJob | None:
    """pending -> dispatched; returns the job if it is (now) dispatchable or cancelled."""
    # A job whose directory an S3 import is still filling waits for it (imports._finish).
    filling = sa.exists().where(S3Import.id == BatchJob.import_id,
                                S3Import.status.in_(("pending", "running")))
    session.execute(
        sa.update(BatchJob).where(BatchJob.id == job_id, ~filling,
                                  BatchJob.status.in_(job_sources(JobStatus.DISPATCHED)))
        .values(status=JobStatus.DISPATCHED, updated_at=utcnow())
    )
    return session.get(BatchJob, job_id)


def _materialize_directory_page(session: Session, job: BatchJob, status: ItemStatus,
                                lease_until: datetime | None = None) -> int:
    rows = session.execute(
        sa.select(DirectoryFile.seq, DirectoryFile.id, DirectoryFile.file_id,
                  DirectoryFile.display_name)
        .where(DirectoryFile.directory_id == job.directory_id,
               DirectoryFile.seq > job.directory_cursor,
               DirectoryFile.seq <= job.directory_snapshot_seq,
               DirectoryFile.deleted_at.is_(None))
        .order_by(DirectoryFile.seq).limit(job.page_size)
    ).all()
    insert_items(session, job, [(r.id, r.file_id, r.display_name) for r in rows],
                 start=job.materialized_items, status=status, lease_until=lease_until)
    job.materialized_items += len(rows)
    if rows:
        job.directory_cursor = rows[-1].seq
    if len(rows) < job.page_size:
        # Files deleted since the job was created: the snapshot is exhausted.
        job.total_items = job.materialized_items
    return len(rows)


def claim_next_page(session: Session, job_id: str, lease_seconds: int | None = None
                    ) -> tuple[int, list[int]] | None:
    """Claim the next unpublished page of an active job; return (page_no, item seqs).

    ``lease_seconds``: stamp the page's pending items with the time by which a worker should
    have claimed them (the sweeper re-sends what is still pending then, or sooner once the
    queue is empty). A page materialized
    here gets the stamp in its INSERT: a later UPDATE would rewrite every row and index entry
    of the page once more."""
    job = session.execute(
        sa.select(BatchJob).where(BatchJob.id == job_id).with_for_update()
    ).scalar_one_or_none()
    if job is None or job.status not in JOB_ACTIVE:
        return None
    page_no = job.pages_published
    start = page_no * job.page_size
    if start >= job.total_items:
        return None
    lease = None if lease_seconds is None else utcnow() + timedelta(seconds=lease_seconds)
    fresh = bool(job.directory_id and job.materialized_items <= start)
    if fresh:
        _materialize_directory_page(session, job, ItemStatus.PENDING, lease)
    job.pages_published = page_no + 1
    page = sa.and_(JobItem.job_id == job_id, JobItem.position >= start,
                   JobItem.position < start + job.page_size,
                   JobItem.status == ItemStatus.PENDING)
    if lease is None or fresh:
        seqs = list(session.scalars(sa.select(JobItem.seq).where(page)
                                    .order_by(JobItem.position)))
    else:
        # Items created with the job (item_ids): stamped as they are read.
        seqs = sorted(session.scalars(
            sa.update(JobItem).where(page).values(lease_until=lease, updated_at=utcnow())
            .returning(JobItem.seq).execution_options(synchronize_session=False)))
    return page_no, seqs


# Files this small, of formats read without OCR or a layout pass, take about a millisecond to
# process, far less than a message costs the broker and the worker: they travel in chunks.
LIGHT_TYPES = ("txt", "md", "csv", "json", "html", "xml")
LIGHT_BYTES = 64 * 1024


def light_items(session: Session, seqs: list[int]) -> set[int]:
    """The items among ``seqs`` whose files are small text-like documents."""
    if not seqs:
        return set()
    return set(session.scalars(
        sa.select(JobItem.seq).join(StoredFile, StoredFile.id == JobItem.file_id)
        .where(JobItem.seq.in_(seqs), StoredFile.content_type.in_(LIGHT_TYPES),
               StoredFile.size <= LIGHT_BYTES)))


def cancel_unmaterialized(session: Session, job_id: str) -> bool:
    """For a cancelled directory job, write the remaining items as cancelled, one page a call.

    Returns True while more pages remain, so callers can continue in a fresh message."""
    job = session.execute(
        sa.select(BatchJob).where(BatchJob.id == job_id).with_for_update()
    ).scalar_one_or_none()
    if job is None or job.status != JobStatus.CANCELLED or not job.directory_id:
        return False
    if job.materialized_items >= job.total_items:
        return False
    _materialize_directory_page(session, job, ItemStatus.CANCELLED)
    return job.materialized_items < job.total_items


def mark_running(session: Session, job_id: str) -> bool:
    """dispatched -> running at the first claimed item; True for the one caller that moved it."""
    moved = cast(CursorResult[Any], session.execute(
        sa.update(BatchJob).where(BatchJob.id == job_id, BatchJob.status == JobStatus.DISPATCHED)
        .values(status=JobStatus.RUNNING, started_at=utcnow(), updated_at=utcnow())
    )).rowcount
    if moved:
        record_event(session, session.get(BatchJob, job_id), JobStatus.RUNNING)  # type: ignore[arg-type]
    return bool(moved)


def advance(session: Session, job_id: str) -> str:
    """After a page: count the items settled since, finalise if every item is terminal.

    Returns "finalized", "cancelled-final", "more" (pages remain) or "busy" (items in flight).
    """
    job = session.execute(
        sa.select(BatchJob).where(BatchJob.id == job_id).with_for_update()
    ).scalar_one_or_none()
    if job is None:
        return "missing"
    settled = counts.settle_prefix(session, job)
    if job.status == JobStatus.CANCELLED:
        if settled and job.materialized_items >= job.total_items:
            counts.refresh_counts(session, job)
            if job.completed_at is None:
                job.completed_at = utcnow()
                refinement.forget(session, job.id)
            return "cancelled-final"
        return "more" if settled else "busy"
    if job.status not in JOB_ACTIVE:
        return "done"
    published_end = job.pages_published * job.page_size
    if published_end < job.total_items:
        # Publish the next page only while less than (pages_in_flight - 1) pages of items are
        # open: a page callback (its page just settled) publishes, the sweeper's periodic
        # advance only when the queue ran low (a lost callback), so pages never pile up.
        open_items = counts.open_between(session, job, job.counted_position or 0,
                                         published_end)
        allowed = (max(1, get_settings().pages_in_flight) - 1) * job.page_size
        return "more" if open_items <= allowed else "busy"
    if not settled or job.materialized_items < job.total_items:
        return "busy"
    # Finalisation counts come from every row, not from the prefix's running sums.
    counts.refresh_counts(session, job)
    if refinement.wanted(job):
        refinement.request(session, job)
        return "refining"
    _finalize(session, job)
    return "finalized"


def _finalize(session: Session, job: BatchJob) -> None:
    now = utcnow()
    if job.job_type == "classify":
        refinement.forget(session, job.id)
    all_failed = job.total_items > 0 and job.failed_items == job.total_items
    job.status = JobStatus.FAILED if all_failed else JobStatus.COMPLETED
    job.completed_at, job.updated_at = now, now
    if job.started_at is None:
        job.started_at = now
    if all_failed:
        job.error_message = "every item failed"
        record_event(session, job, "error")
    elif job.failed_items:
        record_event(session, job, "partial_success")
    else:
        record_event(session, job, "success")


