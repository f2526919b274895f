"""A job row read FOR UPDATE stays as read until the commit, on both databases: SQLite has no
row locks, so there the read takes the database's write lock (batchsvc.db)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from batchsvc.models import BatchJob, JobItem
from batchsvc.services import batches, pipeline, recovery
from batchsvc.settings import Settings
from batchsvc.states import ItemStatus, JobStatus
from batchsvc.uow import unit_of_work
from tests.conftest import dispatched_directory_job

PROJECT = "p-locks"


def test_a_cancel_during_a_page_claim_leaves_no_item_pending(
        db: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded dashboard's cancel, clicked while the dispatcher wrote the first page, once
    # left that page pending in a cancelled job: never claimed, never ended.
    job_id = dispatched_directory_job(PROJECT, 3)
    errors: list[BaseException] = []

    def cancel() -> None:
        try:
            with unit_of_work() as session:
                batches.cancel_batch(session, PROJECT, job_id, "stop")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    canceller = threading.Thread(target=cancel)
    materialize = pipeline._materialize_directory_page

    def cancel_between_read_and_write(*args: Any, **kwargs: Any) -> int:
        # The window: the dispatcher has read the job as running, its page is not written.
        canceller.start()
        canceller.join(timeout=1.0)  # as far as the cancel gets meanwhile
        return materialize(*args, **kwargs)

    monkeypatch.setattr(pipeline, "_materialize_directory_page", cancel_between_read_and_write)
    with unit_of_work() as session:
        assert pipeline.claim_next_page(session, job_id) is not None
    canceller.join()
    assert not errors, errors
    with unit_of_work() as session:
        statuses = list(session.scalars(sa.select(JobItem.status)
                                        .where(JobItem.job_id == job_id)))
        job = session.get(BatchJob, job_id)
        assert job is not None and job.status == JobStatus.CANCELLED
    assert statuses == [ItemStatus.CANCELLED] * 3


def test_the_sweeper_ends_pending_items_a_cancelled_job_was_left_with(db: Settings) -> None:
    # Whatever wrote them, pending items of a cancelled job are claimed by no one: they would
    # keep the job from ending.
    job_id = dispatched_directory_job(PROJECT, 2)
    with unit_of_work() as session:
        assert pipeline.claim_next_page(session, job_id) is not None
        session.execute(sa.update(BatchJob).where(BatchJob.id == job_id)
                        .values(status=JobStatus.CANCELLED))
    recovery.sweep(lambda: ())
    with unit_of_work() as session:
        assert pipeline.advance(session, job_id) == "cancelled-final"
        job = session.get(BatchJob, job_id)
        assert job is not None and job.cancelled_items == 2 and job.completed_at is not None
