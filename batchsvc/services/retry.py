"""Retry: a new job over the failed (and optionally cancelled) items of a finished job."""

from __future__ import annotations

import copy

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.errors import Conflict, Invalid
from batchsvc.models import BatchJob, JobItem
from batchsvc.services.batches import get_job, new_job
from batchsvc.states import JOB_TERMINAL, ItemStatus


def retry_job(session: Session, project_id: str, job_id: str,
              include_cancelled: bool) -> BatchJob:
    """A new job over the failed (and optionally cancelled) items of a finished job."""
    old = get_job(session, project_id, job_id)
    session.execute(sa.select(BatchJob.id).where(BatchJob.id == job_id).with_for_update())
    session.refresh(old)
    if old.status not in JOB_TERMINAL or old.completed_at is None:
        raise Conflict(f"batch job {job_id} is {old.status}; only a finished job can be "
                       "retried")
    running = session.scalar(sa.select(BatchJob.id).where(
        BatchJob.retry_of == job_id, BatchJob.completed_at.is_(None)))
    if running:
        raise Conflict(f"batch job {job_id} is already being retried by {running}")
    wanted = [ItemStatus.FAILED, ItemStatus.CANCELLED] if include_cancelled \
        else [ItemStatus.FAILED]
    rows = session.execute(
        sa.select(JobItem.item_id, JobItem.file_id, JobItem.item_name)
        .where(JobItem.job_id == job_id, JobItem.status.in_(wanted))
        .order_by(JobItem.position)).all()
    if not rows:
        _nothing_to_retry(session, job_id, include_cancelled)
    config = copy.deepcopy(old.job_config)
    # A classify job's config names its classifier job; the retry gets a new one.
    if old.job_type == "classify":
        config.pop("id", None)
    job = new_job(session, project_id, old.job_type, config,
                  items=[(r.item_id, r.file_id, r.item_name) for r in rows],
                  page_size=old.page_size, threshold=old.continue_as_new_threshold,
                  retry_of=old.id)
    # The stored config is redacted: carry the encrypted originals and the hash over.
    job.secrets, job.parameters_hash = old.secrets, old.parameters_hash
    return job


def _nothing_to_retry(session: Session, job_id: str, include_cancelled: bool) -> None:
    cancelled = session.scalar(sa.select(sa.func.count()).select_from(JobItem).where(
        JobItem.job_id == job_id, JobItem.status == ItemStatus.CANCELLED))
    if cancelled and not include_cancelled:
        raise Invalid(["body", "include_cancelled"],
                      f"batch job {job_id} has no failed items; set include_cancelled to "
                      f"retry its {cancelled} cancelled items")
    raise Invalid(["path", "job_id"], f"batch job {job_id} has no failed or cancelled items "
                  "to retry")
