"""The periodic sweeper: nothing stays pending or running forever.

It re-sends items whose lease ran out (lost messages, dead workers), fails items that keep
killing their worker, dispatches jobs whose dispatch message was lost, advances jobs whose
chord callback never came, and re-sends webhook deliveries that are due.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from batchsvc.db import session_scope
from batchsvc.models import BatchJob, JobItem, WebhookDelivery, utcnow
from batchsvc.services import pipeline
from batchsvc.settings import get_settings
from tasks.app import celery_app, send
from tasks.dispatch import advance_job, dispatch_job, item_signature


@celery_app.task(name="batchsvc.sweep")
def sweep() -> dict[str, Any]:
    settings = get_settings()
    sweep_cancelled_processing()
    now = utcnow()
    resent = failed = 0
    with session_scope() as session:
        stale = pipeline.stale_items(session, now)
        resend = []
        for seq, job_id, status, attempts in stale:
            if status == "processing" and attempts >= settings.item_max_attempts:
                pipeline.finish_item(
                    session, seq, "failed",
                    error=f"gave up after {attempts} attempts: the worker was lost each time")
                failed += 1
            else:
                resend.append((seq, job_id))
        pipeline.requeue_stale(session, [seq for seq, _ in resend], settings.item_lease_seconds)
        jobs = {j.id: j for j in session.scalars(
            sa.select(BatchJob).where(BatchJob.id.in_({job_id for _, job_id in resend})))}
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
    for seq, job_id in resend:
        job = jobs.get(job_id)
        if job is not None:
            # Outside any chord now, so chain the aggregation onto the item itself.
            (item_signature(job, seq) | advance_job.si(job_id)).delay()
            resent += 1
    for job_id in stuck_pending:
        dispatch_job.delay(job_id)
    for job_id, status in active:
        # dispatch_job also writes a cancelled directory job's unmaterialised items, which
        # the cancel request could not hand over while the broker was down.
        (dispatch_job if status == "cancelled" else advance_job).delay(job_id)
    for delivery_id in due:
        send("batchsvc.deliver_webhook", delivery_id)
    return {"resent": resent, "failed": failed, "dispatched": len(stuck_pending),
            "advanced": len(active), "webhooks": len(due)}


def sweep_cancelled_processing() -> None:
    """Items of a cancelled job left in processing by a dead worker end cancelled."""
    with session_scope() as session:
        session.execute(
            sa.update(JobItem).where(
                JobItem.status == "processing", JobItem.lease_until < utcnow(),
                JobItem.job_id.in_(sa.select(BatchJob.id).where(BatchJob.status == "cancelled")))
            .values(status="cancelled", completed_at=utcnow(), lease_until=None))
