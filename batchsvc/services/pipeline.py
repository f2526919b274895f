"""The state machine of a batch, as SQL on the job and item rows.

Every function here is safe to run twice: claims are conditional UPDATEs, so a redelivered
message or a second worker changes nothing the first one already did.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from batchsvc.models import (
    BatchJob,
    CountMark,
    DirectoryFile,
    JobItem,
    ProcessingResult,
    StoredFile,
    utcnow,
)
from batchsvc.services.batches import insert_items, item_counts
from batchsvc.settings import get_settings
from batchsvc.webhooks.outbox import record_event

ACTIVE = ("dispatched", "running")


def claim_dispatch(session: Session, job_id: str) -> BatchJob | None:
    """pending -> dispatched; returns the job if it is (now) dispatchable or cancelled."""
    session.execute(
        sa.update(BatchJob).where(BatchJob.id == job_id, BatchJob.status == "pending")
        .values(status="dispatched", updated_at=utcnow())
    )
    return session.get(BatchJob, job_id)


def _materialize_directory_page(session: Session, job: BatchJob, status: str,
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
    if job is None or job.status not in ACTIVE:
        return None
    page_no = job.pages_published
    start = page_no * job.page_size
    if start >= job.total_items:
        return None
    lease = None if lease_seconds is None else utcnow() + timedelta(seconds=lease_seconds)
    fresh = bool(job.directory_id and job.materialized_items <= start)
    if fresh:
        _materialize_directory_page(session, job, "pending", lease)
    job.pages_published = page_no + 1
    page = sa.and_(JobItem.job_id == job_id, JobItem.position >= start,
                   JobItem.position < start + job.page_size, JobItem.status == "pending")
    if lease is None or fresh:
        seqs = list(session.scalars(sa.select(JobItem.seq).where(page)
                                    .order_by(JobItem.position)))
    else:
        # Items created with the job (item_ids): stamped as they are read.
        seqs = sorted(session.scalars(
            sa.update(JobItem).where(page).values(lease_until=lease, updated_at=utcnow())
            .returning(JobItem.seq).execution_options(synchronize_session=False)))
    return page_no, seqs


def cancel_unmaterialized(session: Session, job_id: str) -> bool:
    """For a cancelled directory job, write the remaining items as cancelled, one page a call.

    Returns True while more pages remain, so callers can continue in a fresh message."""
    job = session.execute(
        sa.select(BatchJob).where(BatchJob.id == job_id).with_for_update()
    ).scalar_one_or_none()
    if job is None or job.status != "cancelled" or not job.directory_id:
        return False
    if job.materialized_items >= job.total_items:
        return False
    _materialize_directory_page(session, job, "cancelled")
    return job.materialized_items < job.total_items


@dataclass
class ClaimedItem:
    seq: int
    job_id: str
    item_id: str
    file_id: str | None
    item_name: str
    attempts: int
    project_id: str


# The per-item statements are built once, with bound parameters: building a statement costs
# more CPU than executing it (measured in bench/orchestration.py's profile). itemstore
# composes them into single round trips on Postgres.
_items = cast(sa.Table, JobItem.__table__)
_jobs = cast(sa.Table, BatchJob.__table__)
_NOW = sa.bindparam("b_now", type_=sa.DateTime(timezone=True))
CLAIM = (
    sa.update(_items)
    .where(_items.c.seq == sa.bindparam("b_seq"),
           sa.exists().where(_jobs.c.id == _items.c.job_id, _jobs.c.status != "cancelled"),
           sa.or_(_items.c.status == "pending",
                  sa.and_(_items.c.status == "processing",
                          # a NULL token matches no row: then only an expired lease counts
                          sa.or_(_items.c.lease_until < _NOW,
                                 _items.c.claim_token == sa.bindparam("b_token")))))
    .values(status="processing", attempts=_items.c.attempts + 1, started_at=_NOW,
            lease_until=sa.bindparam("b_lease", type_=sa.DateTime(timezone=True)),
            updated_at=_NOW, claim_token=sa.bindparam("b_token"))
    .returning(_items.c.seq, _items.c.job_id, _items.c.item_id, _items.c.file_id,
               _items.c.item_name, _items.c.attempts, _items.c.project_id)
)
# The claim's attempt number fences everything its holder writes afterwards (renewals, the
# finish, the lineage): a worker that lost its claim (it was cut off, stopped, or outlived its
# lease) and comes back cannot overwrite what the item's new holder does.
OWNED = sa.and_(_items.c.seq == sa.bindparam("b_seq"), _items.c.status == "processing",
                _items.c.attempts == sa.bindparam("b_attempt"))
FINISH = (
    sa.update(_items).where(OWNED)
    .values(status=sa.bindparam("b_status"), error_message=sa.bindparam("b_error"),
            skip_reason=sa.bindparam("b_skip"), result_id=sa.bindparam("b_result"),
            completed_at=_NOW, lease_until=None, updated_at=_NOW)
)
# updated_at is left as it is (naming it keeps the column's onupdate default out).
RENEW = sa.update(_items).where(OWNED).values(
    lease_until=sa.bindparam("b_lease", type_=sa.DateTime(timezone=True)),
    updated_at=_items.c.updated_at)


def claim_params(seq: int, lease_seconds: int, token: str | None) -> dict[str, Any]:
    """CLAIM's parameters (itemstore runs it inside a larger statement on Postgres)."""
    now = utcnow()
    return {"b_seq": seq, "b_now": now, "b_lease": now + timedelta(seconds=lease_seconds),
            "b_token": token}


def finish_params(seq: int, attempt: int, status: str, error: str | None = None,
                  skip_reason: str | None = None, result_id: str | None = None
                  ) -> dict[str, Any]:
    """FINISH's parameters (itemstore runs it on its own connection on Postgres)."""
    return {"b_seq": seq, "b_attempt": attempt, "b_status": status, "b_error": error,
            "b_skip": skip_reason, "b_result": result_id, "b_now": utcnow()}


def renew_params(seq: int, attempt: int, lease_seconds: float) -> dict[str, Any]:
    return {"b_seq": seq, "b_attempt": attempt,
            "b_lease": utcnow() + timedelta(seconds=lease_seconds)}


def claim_item(
    session: Session, seq: int, lease_seconds: int, token: str | None = None,
) -> ClaimedItem | None:
    """pending -> processing (or re-claim an expired lease); None when another owns it.

    ``token`` (the Celery task id) lets a redelivery or retry of the message that claimed the
    item re-claim it at once, instead of waiting for the lease after a lost worker or a
    dropped database connection."""
    row = session.execute(CLAIM, claim_params(seq, lease_seconds, token)).first()
    return ClaimedItem(*row) if row else None


def mark_running(session: Session, job_id: str) -> bool:
    """dispatched -> running at the first claimed item; True for the one caller that moved it."""
    moved = cast(CursorResult[Any], session.execute(
        sa.update(BatchJob).where(BatchJob.id == job_id, BatchJob.status == "dispatched")
        .values(status="running", started_at=utcnow(), updated_at=utcnow())
    )).rowcount
    if moved:
        record_event(session, session.get(BatchJob, job_id), "running")  # type: ignore[arg-type]
    return bool(moved)


def finish_item(
    session: Session, seq: int, attempt: int, status: str, *, error: str | None = None,
    skip_reason: str | None = None, result_id: str | None = None,
) -> bool:
    """processing -> a terminal status for the holder of claim ``attempt``; False if the
    item was not ours any more."""
    return bool(cast(CursorResult[Any], session.execute(
        FINISH, finish_params(seq, attempt, status, error, skip_reason, result_id))).rowcount)


def fail_claim(session: Session, seq: int, token: str, error: str) -> bool:
    """Fail an item still held under the message ``token`` (the worker's main process, after
    the hard time limit killed the pool child that held it)."""
    now = utcnow()
    return bool(cast(CursorResult[Any], session.execute(
        sa.update(JobItem).where(JobItem.seq == seq, JobItem.status == "processing",
                                 JobItem.claim_token == token)
        .values(status="failed", error_message=error, completed_at=now, lease_until=None,
                updated_at=now))).rowcount)


def give_up(session: Session, seq: int, error: str) -> bool:
    """Fail an item whose holders kept dying (the sweeper, after the last attempt's lease
    ran out); never one whose lease is alive."""
    now = utcnow()
    return bool(cast(CursorResult[Any], session.execute(
        sa.update(JobItem).where(JobItem.seq == seq, JobItem.status == "processing",
                                 JobItem.lease_until < now)
        .values(status="failed", error_message=error, completed_at=now, lease_until=None,
                updated_at=now))).rowcount)


def find_cached_result(
    session: Session, project_id: str, sha256: str, job_type: str, params_hash: str
) -> str | None:
    return session.scalar(
        sa.select(ProcessingResult.id).where(
            ProcessingResult.project_id == project_id, ProcessingResult.file_sha256 == sha256,
            ProcessingResult.job_type == job_type, ProcessingResult.parameters_hash == params_hash,
            ProcessingResult.cacheable.is_(True))
        .order_by(ProcessingResult.processed_at.desc()).limit(1)
    )


def file_for_item(session: Session, file_id: str | None) -> StoredFile | None:
    if file_id is None:
        return None
    row = session.get(StoredFile, file_id)
    return None if row is None or row.deleted_at is not None else row


def refresh_counts(session: Session, job: BatchJob) -> dict[str, int]:
    """Recount every item from the rows: at finalisation, when all are terminal, so the
    counted prefix then covers the whole job."""
    counts = item_counts(session, job.id)
    job.processed_items = counts.get("completed", 0)
    job.failed_items = counts.get("failed", 0)
    job.skipped_items = counts.get("skipped", 0)
    job.cancelled_items = counts.get("cancelled", 0)
    job.counted_position = job.materialized_items
    return counts


_FIRST_OPEN = sa.select(*(
    sa.select(sa.func.min(_items.c.position)).where(
        _items.c.job_id == sa.bindparam("b_job"), _items.c.status == status,
        _items.c.position >= sa.bindparam("b_from")).scalar_subquery()
    for status in ("pending", "processing")))


def settle_prefix(session: Session, job: BatchJob) -> bool:
    """Move the counted prefix over the items that became terminal since the last call and
    add them to the cached counts; True when every materialised item is terminal.

    The work is proportional to the items settled since (about a page), not to the job:
    the first open position comes from two index lookups on (job_id, status, position).
    Call with the job row locked. Terminal items never become open again, so the prefix
    only moves forward."""
    start = job.counted_position or 0
    if start >= job.materialized_items:
        return True
    first_open = [p for p in session.execute(
        _FIRST_OPEN, {"b_job": job.id, "b_from": start}).one() if p is not None]
    stop = min(first_open) if first_open else job.materialized_items
    if stop > start:
        counts = item_counts(session, job.id, start, stop)
        job.processed_items = (job.processed_items or 0) + counts.get("completed", 0)
        job.failed_items = (job.failed_items or 0) + counts.get("failed", 0)
        job.skipped_items = (job.skipped_items or 0) + counts.get("skipped", 0)
        job.cancelled_items = (job.cancelled_items or 0) + counts.get("cancelled", 0)
        job.counted_position = stop
        session.add(CountMark(job_id=job.id, position=stop, completed=job.processed_items,
                              failed=job.failed_items, skipped=job.skipped_items,
                              cancelled=job.cancelled_items))
    return stop >= job.materialized_items


def advance(session: Session, job_id: str) -> str:
    """After a page: count the items settled since, finalise if every item is terminal.

    Returns "finalized", "cancelled-final", "more" (pages remain) or "busy" (items in flight).
    """
    job = session.execute(
        sa.select(BatchJob).where(BatchJob.id == job_id).with_for_update()
    ).scalar_one_or_none()
    if job is None:
        return "missing"
    settled = settle_prefix(session, job)
    if job.status == "cancelled":
        if settled and job.materialized_items >= job.total_items:
            refresh_counts(session, job)
            if job.completed_at is None:
                job.completed_at = utcnow()
            return "cancelled-final"
        return "more" if settled else "busy"
    if job.status not in ACTIVE:
        return "done"
    published_end = job.pages_published * job.page_size
    if published_end < job.total_items:
        # Publish the next page only while less than (pages_in_flight - 1) pages of items are
        # open: a page callback (its page just settled) publishes, the sweeper's periodic
        # advance only when the queue ran low (a lost callback), so pages never pile up.
        counts = item_counts(session, job.id, job.counted_position or 0, published_end)
        open_items = counts.get("pending", 0) + counts.get("processing", 0)
        allowed = (max(1, get_settings().pages_in_flight) - 1) * job.page_size
        return "more" if open_items <= allowed else "busy"
    if not settled or job.materialized_items < job.total_items:
        return "busy"
    # Finalisation counts come from every row, not from the prefix's running sums.
    refresh_counts(session, job)
    _finalize(session, job)
    return "finalized"


def _finalize(session: Session, job: BatchJob) -> None:
    now = utcnow()
    all_failed = job.total_items > 0 and job.failed_items == job.total_items
    job.status = "failed" if all_failed else "completed"
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


def expired_claims(session: Session, now: datetime, limit: int = 1000) -> list[Any]:
    """(seq, job_id, attempts) of claimed items whose lease ran out: their holder died, was
    stopped or cut off, or outlived its time limit."""
    return list(session.execute(
        sa.select(JobItem.seq, JobItem.job_id, JobItem.attempts)
        .where(JobItem.status == "processing", JobItem.lease_until < now).limit(limit)
    ).all())


def unclaimed_items(session: Session, now: datetime, lost_types: tuple[str, ...],
                    queued_before: datetime, limit: int = 1000) -> list[Any]:
    """(seq, job_id) of queued items whose message is presumed lost: past their queue
    timeout, or (``lost_types``: job types whose queue the broker reports empty) queued
    before ``queued_before`` and still unclaimed. Rows of pages not yet published have no
    lease and are not queued."""
    lost = JobItem.lease_until < now
    if lost_types:
        lost = sa.or_(lost, sa.and_(BatchJob.job_type.in_(lost_types),
                                    JobItem.updated_at < queued_before))
    return list(session.execute(
        sa.select(JobItem.seq, JobItem.job_id).join(BatchJob, BatchJob.id == JobItem.job_id)
        .where(JobItem.status == "pending", JobItem.lease_until.is_not(None),
               BatchJob.status.in_(ACTIVE), lost).limit(limit)
    ).all())


def requeue(session: Session, seqs: list[int], queue_seconds: int) -> list[int]:
    """Items back to pending, queued afresh (the sweeper sends each one a new message);
    returns those moved. A claim that is alive is left alone."""
    if not seqs:
        return []
    now = utcnow()
    return list(session.scalars(sa.update(JobItem).where(
        JobItem.seq.in_(seqs),
        sa.or_(JobItem.status == "pending",
               sa.and_(JobItem.status == "processing", JobItem.lease_until < now)))
        .values(status="pending", lease_until=now + timedelta(seconds=queue_seconds),
                claim_token=None, updated_at=now)
        .returning(JobItem.seq).execution_options(synchronize_session=False)))
