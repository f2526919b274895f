"""Nothing stays pending or running forever (docs/liveness.md): what the sweeper does, and the
item endings decided outside the item's own run.

Every ``sweep_interval_seconds`` the sweep re-sends items whose claim's lease ran out (their
worker died, was stopped or cut off), re-sends queued items whose message is lost (the broker
reports their queue empty, or they outlived ``item_queue_timeout_seconds``), fails items that
keep killing their worker, dispatches jobs whose dispatch message was lost, advances jobs whose
chord callback never came, re-sends webhook deliveries that are due, and deletes ephemeral
directories past their expiry with the files only they held. Recovered items go
out at the highest priority, so they run next rather than behind queued pages.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from batchsvc.messaging import (
    ADVANCE_JOB,
    DELIVER_WEBHOOK,
    DISPATCH_JOB,
    RECOVERED_PRIORITY,
    canvas,
)
from batchsvc.models import BatchJob, JobItem, WebhookDelivery, utcnow
from batchsvc.services import directories, dispatch, imports
from batchsvc.settings import get_settings
from batchsvc.states import JOB_ACTIVE, DeliveryStatus, ItemStatus, JobStatus
from batchsvc.storage import get_storage
from batchsvc.uow import unit_of, unit_of_work

# Concurrent sweeps (two beats started at once) would re-send the same items twice.
SWEEP_LOCK = 0x73776570  # "swep"


def _rows(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _end(where: Any, error: str) -> Any:
    now = utcnow()
    return sa.update(JobItem).where(JobItem.status == ItemStatus.PROCESSING, where).values(
        status=ItemStatus.FAILED, error_message=error, completed_at=now, lease_until=None,
        updated_at=now)


def fail_claim(session: Session, seqs: list[int], token: str, error: str) -> bool:
    """Fail the item of ``seqs`` still held under the message ``token`` (the worker's main
    process, after the hard time limit killed the pool child that held it)."""
    return bool(_rows(session.execute(_end(sa.and_(JobItem.seq.in_(seqs),
                                                   JobItem.claim_token == token), error))))


def resend(session: Session, seqs: list[int]) -> int:
    """Re-send the items of ``seqs`` that are pending again (or still), each in a message of
    its own at the highest priority, chained to their job's aggregation; after the commit."""
    rows = session.execute(sa.select(JobItem.seq, BatchJob).join(
        BatchJob, BatchJob.id == JobItem.job_id).where(
        JobItem.seq.in_(seqs), JobItem.status == ItemStatus.PENDING)).all() if seqs else []
    uow = unit_of(session)
    for seq, job in rows:
        # Outside any chord now, so the aggregation is chained onto the item itself.
        uow.publish(canvas.recovered_item(
            dispatch.item_message(job, [seq], RECOVERED_PRIORITY), job.id))
    return len(rows)


def give_up(session: Session, seq: int, error: str) -> bool:
    """Fail an item whose holders kept dying, once the last attempt's lease ran out (never
    one whose lease is alive)."""
    return bool(_rows(session.execute(_end(sa.and_(JobItem.seq == seq,
                                                   JobItem.lease_until < utcnow()), error))))


def expired_claims(session: Session, now: datetime, limit: int = 1000) -> list[Any]:
    """(seq, job_id, attempts) of claimed items whose lease ran out: their holder died, was
    stopped or cut off, or outlived its time limit."""
    return list(session.execute(
        sa.select(JobItem.seq, JobItem.job_id, JobItem.attempts)
        .where(JobItem.status == ItemStatus.PROCESSING, JobItem.lease_until < now).limit(limit)
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
        .where(JobItem.status == ItemStatus.PENDING, JobItem.lease_until.is_not(None),
               BatchJob.status.in_(JOB_ACTIVE), lost).limit(limit)
    ).all())


def requeue(session: Session, seqs: list[int], queue_seconds: int) -> list[int]:
    """Items back to pending, queued afresh (the sweeper sends each one a new message);
    returns those moved. A claim that is alive is left alone."""
    if not seqs:
        return []
    now = utcnow()
    return list(session.scalars(sa.update(JobItem).where(
        JobItem.seq.in_(seqs),
        sa.or_(JobItem.status == ItemStatus.PENDING,
               sa.and_(JobItem.status == ItemStatus.PROCESSING, JobItem.lease_until < now)))
        .values(status=ItemStatus.PENDING, lease_until=now + timedelta(seconds=queue_seconds),
                claim_token=None, updated_at=now)
        .returning(JobItem.seq).execution_options(synchronize_session=False)))


def cancel_abandoned(session: Session) -> None:
    """Items of a cancelled job left processing by a dead worker, or left pending (no claim
    takes an item of a cancelled job), end cancelled."""
    session.execute(
        sa.update(JobItem).where(
            sa.or_(JobItem.status == ItemStatus.PENDING,
                   sa.and_(JobItem.status == ItemStatus.PROCESSING,
                           JobItem.lease_until < utcnow())),
            JobItem.job_id.in_(sa.select(BatchJob.id)
                               .where(BatchJob.status == JobStatus.CANCELLED)))
        .values(status=ItemStatus.CANCELLED, completed_at=utcnow(), lease_until=None)
        .execution_options(synchronize_session=False))


def _locked(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite has one writer at a time already
    return bool(session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SWEEP_LOCK))))


def sweep(lost_types: Callable[[], tuple[str, ...]]) -> dict[str, Any]:
    """One sweep; ``lost_types()``: the job types whose item queue the broker reports empty.
    Every message goes out after the sweep's commit."""
    settings = get_settings()
    empty = lost_types()
    now = utcnow()
    # A message takes this long at most from publish to its claim when a worker is free.
    queued_before = now - timedelta(seconds=max(10.0, 2 * settings.sweep_interval_seconds))
    failed = 0
    with unit_of_work() as session:
        if not _locked(session):
            return {"skipped": "another sweep is running"}
        uow = unit_of(session)
        cancel_abandoned(session)
        lost: list[int] = []
        for seq, _job_id, attempts in expired_claims(session, now):
            if attempts >= settings.item_max_attempts:
                failed += give_up(session, seq, f"gave up after {attempts} attempts: the "
                                  "worker processing this item was lost each time")
            else:
                lost.append(seq)
        lost += [seq for seq, _ in unclaimed_items(session, now, empty, queued_before)]
        recovered = resend(session, requeue(session, lost, settings.item_queue_timeout_seconds))
        stuck = list(session.scalars(sa.select(BatchJob.id).where(
            BatchJob.status == JobStatus.PENDING,
            BatchJob.created_at < now - timedelta(seconds=settings.sweep_interval_seconds))))
        for job_id in stuck:
            uow.send(DISPATCH_JOB, job_id)
        active = session.execute(sa.select(BatchJob.id, BatchJob.status).where(
            BatchJob.status.in_((*JOB_ACTIVE, JobStatus.CANCELLED)),
            BatchJob.completed_at.is_(None))).all()
        for job_id, status in active:
            # Dispatch also writes a cancelled directory job's unmaterialised items, which
            # the cancel request could not hand over while the broker was down.
            uow.send(DISPATCH_JOB if status == JobStatus.CANCELLED else ADVANCE_JOB, job_id)
        due = list(session.scalars(sa.select(WebhookDelivery.id).where(
            WebhookDelivery.status == DeliveryStatus.PENDING,
            sa.or_(WebhookDelivery.next_attempt_at.is_(None),
                   WebhookDelivery.next_attempt_at < now - timedelta(seconds=30)),
            WebhookDelivery.created_at < now - timedelta(seconds=30))))
        # A parked delivery waits for a pending sibling to wake it; parked ones with no pending
        # sibling left lost their wake-up (a crash between commit and publish): due again,
        # and their claims put them back in order.
        sibling = sa.orm.aliased(WebhookDelivery)
        due += list(session.scalars(sa.update(WebhookDelivery).where(
            WebhookDelivery.status == DeliveryStatus.WAITING,
            WebhookDelivery.created_at < now - timedelta(seconds=30),
            ~sa.exists().where(sibling.job_id == WebhookDelivery.job_id,
                               sibling.config_index == WebhookDelivery.config_index,
                               sibling.status == DeliveryStatus.PENDING))
            .values(status=DeliveryStatus.PENDING, next_attempt_at=None)
            .returning(WebhookDelivery.id).execution_options(synchronize_session=False)))
        for delivery_id in due:
            uow.send(DELIVER_WEBHOOK, delivery_id)
        expired = directories.expire_directories(session, now)
        stalled = imports.resend_stalled(session)
    # Bytes go only once their rows are committed as deleted: a failed commit keeps both.
    store = get_storage()
    for key in expired:
        store.delete(key)
    return {"resent": recovered, "failed": failed, "dispatched": len(stuck),
            "advanced": len(active), "webhooks": len(due), "imports": stalled,
            "empty_queues": list(empty), "expired_files": len(expired)}
