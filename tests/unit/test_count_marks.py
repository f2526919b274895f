"""Status-filtered item listings start at count marks: every offset gives what a scan from
position 0 gives, inside the counted prefix, across its end and in the live tail."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from batchsvc.models import CountMark, JobItem
from batchsvc.services import batches, directories, pipeline
from batchsvc.uow import unit_of_work
from tests.conftest import batch_body

pytestmark = pytest.mark.usefixtures("sqlite_settings")
PROJECT = "p-marks"
OUTCOMES = ("completed", "failed", "completed", "skipped", "completed", "cancelled")


def job_with_items(n: int, page_size: int) -> str:
    with unit_of_work() as session:
        directory = directories.create_directory(session, PROJECT, {"name": "d"})
        ids = [directories.upload_file(session, PROJECT, directory.id, f"f{i:03d}.txt",
                                       io.BytesIO(f"doc {i}".encode()), {}).id
               for i in range(n)]
        job, _ = batches.create_batch(session, PROJECT, batch_body({
            "job_config": {"parameters": {}}, "item_ids": ids, "page_size": page_size}))
        job_id = job.id
    with unit_of_work() as session:
        pipeline.claim_dispatch(session, job_id)
    return job_id


def run_pages(job_id: str, pages: int, open_in_last: int) -> None:
    """Publish and settle ``pages`` pages; the last one keeps ``open_in_last`` items open."""
    for page in range(pages):
        with unit_of_work() as session:
            claimed = pipeline.claim_next_page(session, job_id)
            assert claimed is not None
            seqs = claimed[1]
            for n, seq in enumerate(seqs):
                keep_open = page == pages - 1 and n < open_in_last
                status = "processing" if keep_open else OUTCOMES[(seq * 7 + n) % len(OUTCOMES)]
                session.execute(sa.update(JobItem).where(JobItem.seq == seq)
                                .values(status=status))
        with unit_of_work() as session:
            pipeline.advance(session, job_id)


def names(job_id: str, status: str, offset: int, limit: int) -> list[str]:
    with unit_of_work() as session:
        listing = batches.list_job_items(session, PROJECT, job_id,
                                         {"offset": offset, "limit": limit, "status": status})
    return [item["item_name"] for item in listing["items"]]


def scanned(job_id: str, status: str) -> list[str]:
    with unit_of_work() as session:
        return list(session.scalars(sa.select(JobItem.item_name).where(
            JobItem.job_id == job_id, JobItem.status == status).order_by(JobItem.position)))


def test_every_offset_matches_a_full_scan() -> None:
    job_id = job_with_items(60, page_size=7)
    run_pages(job_id, pages=6, open_in_last=3)
    with unit_of_work() as session:
        marks = session.scalars(sa.select(CountMark).where(CountMark.job_id == job_id)).all()
        assert len(marks) >= 3  # the prefix moved page by page
        assert all(m.completed + m.failed + m.skipped + m.cancelled == m.position
                   for m in marks)
    for status in ("completed", "failed", "skipped", "cancelled", "processing", "pending"):
        everything = scanned(job_id, status)
        for offset in range(len(everything) + 2):
            assert names(job_id, status, offset, 4) == everything[offset:offset + 4], \
                (status, offset)


def test_a_finished_job_lists_the_same_through_its_marks() -> None:
    job_id = job_with_items(25, page_size=4)
    run_pages(job_id, pages=7, open_in_last=0)
    with unit_of_work() as session:
        assert session.get(batches.BatchJob, job_id).completed_at is not None
    for status in ("completed", "failed", "skipped", "cancelled"):
        everything = scanned(job_id, status)
        for offset in range(len(everything) + 1):
            assert names(job_id, status, offset, 3) == everything[offset:offset + 3]
