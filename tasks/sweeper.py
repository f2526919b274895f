"""The periodic sweeper: nothing stays pending or running forever (docs/liveness.md).

Every ``sweep_interval_seconds`` it re-sends items whose claim's lease ran out (their worker
died, was stopped or cut off), re-sends queued items whose message is lost (the broker reports
their queue empty, or they outlived ``item_queue_timeout_seconds``), fails items that keep
killing their worker, dispatches jobs whose dispatch message was lost, advances jobs whose
chord callback never came, and re-sends webhook deliveries that are due. Recovered items go
out at the highest priority, so they run next rather than behind queued pages.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.db import session_scope
from batchsvc.models import BatchJob, JobItem, WebhookDelivery, utcnow
from batchsvc.services import pipeline
from batchsvc.settings import get_settings
from tasks.app import ITEM_TASKS, RECOVERED_PRIORITY, celery_app, queue_name, send
from tasks.broker import queue_sizes
from tasks.dispatch import advance_job, dispatch_job, item_signature

# Concurrent sweeps (two beats started at once) would re-send the same items twice.
SWEEP_LOCK = 0x73776570  # "swep"


def _lost_types() -> tuple[str, ...]:
    """Job types whose item queue the broker reports empty: a queued, unclaimed item of
    such a type has lost its message (a broker restart, a crashed embedded worker)."""
    names = {kind: queue_name(kind) for kind in ITEM_TASKS}
    sizes = queue_sizes(list(names.values()))
    if sizes is None:
        return ()
    return tuple(kind for kind, name in names.items() if sizes[name] == 0)


def _locked(session: Session) -> bool:
    if session.get_bind().dialect.name != "postgresql":
        return True  # SQLite has one writer at a time already
    return bool(session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SWEEP_LOCK))))


@celery_app.task(name="batchsvc.sweep", ignore_result=True)
def sweep() -> dict[str, Any]:
    settings = get_settings()
    lost_types = _lost_types()
    now = utcnow()
    # A message takes this long at most from publish to its claim when a worker is free.
    queued_before = now - timedelta(seconds=max(10.0, 2 * settings.sweep_interval_seconds))
    failed = 0
    with session_scope() as session:
        if not _locked(session):
            return {"skipped": "another sweep is running"}
        sweep_cancelled_processing(session)
        resend: list[int] = []
        for seq, _job_id, attempts in pipeline.expired_claims(session, now):
            if attempts >= settings.item_max_attempts:
                failed += pipeline.give_up(
                    session, seq, f"gave up after {attempts} attempts: the worker "
                    "processing this item was lost each time")
            else:
                resend.append(seq)
        resend += [seq for seq, _ in pipeline.unclaimed_items(session, now, lost_types,
                                                              queued_before)]
        moved = set(pipeline.requeue(session, resend, settings.item_queue_timeout_seconds))
        owners = dict(session.execute(sa.select(JobItem.seq, JobItem.job_id)
                                      .where(JobItem.seq.in_(moved))).all()) if moved else {}
        jobs = {j.id: j for j in session.scalars(
            sa.select(BatchJob).where(BatchJob.id.in_(set(owners.values()))))}
        stuck_pending = list(session.scalars(sa.select(BatchJob.id).where(
            BatchJob.status == "pending",
            BatchJob.created_at < now - timedelta(seconds=settings.sweep_interval_seconds))))
        active = session.execute(sa.select(BatchJob.id, BatchJob.status).where(
            BatchJob.status.in_(pipeline.ACTIVE + ("cancelled",)),
            BatchJob.completed_at.is_(None))).all()
        due = list(session.scalars(sa.select(WebhookDelivery.id).where(
            WebhookDelivery.status == "pending",
            sa.or_(WebhookDelivery.next_attempt_at.is_(None),
                   WebhookDelivery.next_attempt_at < now - timedelta(seconds=30)),
            WebhookDelivery.created_at < now - timedelta(seconds=30))))
    # Sent after the commit: every message finds its rows.
    for seq, job_id in owners.items():
        # Outside any chord now, so chain the aggregation onto the item itself.
        (item_signature(jobs[job_id], seq, RECOVERED_PRIORITY) | advance_job.si(job_id)).delay()
    for job_id in stuck_pending:
        dispatch_job.delay(job_id)
    for job_id, status in active:
        # dispatch_job also writes a cancelled directory job's unmaterialised items, which
        # the cancel request could not hand over while the broker was down.
        (dispatch_job if status == "cancelled" else advance_job).delay(job_id)
    for delivery_id in due:
        send("batchsvc.deliver_webhook", delivery_id)
    return {"resent": len(owners), "failed": failed, "dispatched": len(stuck_pending),
            "advanced": len(active), "webhooks": len(due), "empty_queues": list(lost_types)}


def sweep_cancelled_processing(session: Session) -> None:
    """Items of a cancelled job left in processing by a dead worker end cancelled."""
    session.execute(
        sa.update(JobItem).where(
            JobItem.status == "processing", JobItem.lease_until < utcnow(),
            JobItem.job_id.in_(sa.select(BatchJob.id).where(BatchJob.status == "cancelled")))
        .values(status="cancelled", completed_at=utcnow(), lease_until=None)
        .execution_options(synchronize_session=False))
