"""A job's item counts without a pass over the whole job: the counted prefix and count marks.

Invariants, written and read only here:
- Every item at a position below ``job.counted_position`` is terminal, and the job's four
  counter columns (``states.ITEM_COUNTERS``) hold exactly their counts. Terminal items never
  become open again, so the prefix only moves forward (``settle_prefix``, under the job's row
  lock); finalisation recounts every row (``refresh_counts``).
- A count mark (``job_count_marks``) records the counters at a position the prefix reached;
  it never changes. A filtered listing starts its scan at the last mark below its offset.
- Positions are 0..materialized_items-1 without gaps.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.models import BatchJob, CountMark, JobItem
from batchsvc.states import ITEM_COUNTERS, ITEM_OPEN, ITEM_TERMINAL, JOB_TERMINAL, ItemStatus

_items = cast(sa.Table, JobItem.__table__)
_FIRST_OPEN = sa.select(*(
    sa.select(sa.func.min(_items.c.position)).where(
        _items.c.job_id == sa.bindparam("b_job"), _items.c.status == status,
        _items.c.position >= sa.bindparam("b_from")).scalar_subquery()
    for status in ITEM_OPEN))


def item_counts(session: Session, job_id: str, start: int = 0,
                stop: int | None = None) -> dict[str, int]:
    """Items by status, of the whole job or of positions [start, stop)."""
    stmt = sa.select(JobItem.status, sa.func.count()).where(JobItem.job_id == job_id)
    if start:
        stmt = stmt.where(JobItem.position >= start)
    if stop is not None:
        stmt = stmt.where(JobItem.position < stop)
    return {status: count for status, count in session.execute(stmt.group_by(JobItem.status))}


def cached_counts(job: BatchJob) -> dict[str, int]:
    """The counters of the counted prefix, by item status."""
    return {status: getattr(job, column) or 0 for status, column in ITEM_COUNTERS.items()}


def _set_counters(job: BatchJob, counts: dict[str, int]) -> None:
    for status, column in ITEM_COUNTERS.items():
        setattr(job, column, counts.get(status, 0))


def _live_window(job: BatchJob) -> tuple[int, int, int]:
    """(start, end, unsent): the positions whose items may still change, and how many items
    past the published pages of a live job were never sent (so are pending)."""
    end = job.materialized_items
    if job.status not in JOB_TERMINAL:
        end = min(end, job.pages_published * job.page_size)
    start = min(job.counted_position or 0, job.materialized_items)
    return start, end, max(0, job.materialized_items - max(end, start))


def live_counts(session: Session, job: BatchJob) -> dict[str, int]:
    """Exact item counts by status: the prefix's counters, plus a GROUP BY of the pages in
    flight; items past the published pages of a live job were never sent, so are pending."""
    counts = cached_counts(job)
    start, end, unsent = _live_window(job)
    if end > start:
        for status, count in item_counts(session, job.id, start, end).items():
            counts[status] = counts.get(status, 0) + count
    if unsent > 0:
        counts[ItemStatus.PENDING] = counts.get(ItemStatus.PENDING, 0) + unsent
    return counts


def open_between(session: Session, job: BatchJob, start: int, stop: int) -> int:
    counts = item_counts(session, job.id, start, stop)
    return sum(counts.get(status, 0) for status in ITEM_OPEN)


def settle_prefix(session: Session, job: BatchJob) -> bool:
    """Move the counted prefix over the items that became terminal since the last call and
    add them to the counters; True when every materialised item is terminal.

    The work is proportional to the items settled since (about a page), not to the job: the
    first open position comes from two index lookups on (job_id, status, position). Call
    with the job row locked."""
    start = job.counted_position or 0
    if start >= job.materialized_items:
        return True
    first_open = [p for p in session.execute(
        _FIRST_OPEN, {"b_job": job.id, "b_from": start}).one() if p is not None]
    stop = min(first_open) if first_open else job.materialized_items
    if stop > start:
        counts = cached_counts(job)
        for status, count in item_counts(session, job.id, start, stop).items():
            counts[status] = counts.get(status, 0) + count
        _set_counters(job, counts)
        job.counted_position = stop
        session.add(CountMark(job_id=job.id, position=stop, **{
            status.value: counts.get(status, 0) for status in ITEM_COUNTERS}))
    return stop >= job.materialized_items


def refresh_counts(session: Session, job: BatchJob) -> dict[str, int]:
    """Recount every item from the rows: at finalisation, when all are terminal, so the
    counted prefix then covers the whole job."""
    counts = item_counts(session, job.id)
    _set_counters(job, counts)
    job.counted_position = job.materialized_items
    return counts


def scan_start(session: Session, job: BatchJob, status: str, offset: int) -> tuple[int, int]:
    """(position, items of ``status`` before it) to start a filtered listing's scan from.

    Every item before the counted prefix is terminal, so an open status starts at its end;
    a terminal status starts at the last count mark (or the prefix's end) holding at most
    ``offset`` such items: a skip of about a page instead of up to the whole job."""
    counted = job.counted_position or 0
    if status not in ITEM_TERMINAL:
        return counted, 0
    before = cached_counts(job).get(status, 0)
    if offset >= before:
        return counted, before
    column = getattr(CountMark, status)
    mark = session.execute(
        sa.select(CountMark.position, column).where(CountMark.job_id == job.id, column <= offset)
        .order_by(CountMark.position.desc()).limit(1)).first()
    return (mark[0], mark[1]) if mark else (0, 0)


def status_total(session: Session, job: BatchJob, status: str) -> int:
    """How many items of the job have ``status`` now."""
    if job.completed_at is not None:
        return cached_counts(job).get(status, 0)  # final: no statement
    return int(session.scalar(sa.select(status_total_column(job, status))) or 0)


def status_total_column(job: BatchJob, status: str) -> sa.ColumnElement[int]:
    """``status_total`` as an SQL expression, to ride along the statement that lists the
    items (one round trip less per filtered listing)."""
    known = cached_counts(job).get(status, 0)
    if job.completed_at is not None:
        return sa.literal(known, sa.Integer)
    start, end, unsent = _live_window(job)
    if status == ItemStatus.PENDING:
        known += unsent
    if end <= start:
        return sa.literal(known, sa.Integer)
    in_window = sa.select(sa.func.count()).where(
        JobItem.job_id == job.id, JobItem.status == status, JobItem.position >= start,
        JobItem.position < end).scalar_subquery()
    return sa.literal(known, sa.Integer) + in_window


def progress(counts: dict[str, Any], total: int, final: bool) -> float:
    """Percent of the job's items that are terminal."""
    if not total:
        return 100.0 if final else 0.0
    done = sum(counts.get(status, 0) for status in ITEM_TERMINAL)
    return round(100.0 * min(done, total) / total, 2)
