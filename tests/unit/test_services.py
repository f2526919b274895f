"""Service rules on a real (SQLite) database: creation, paging, claims, finalisation."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa

from batchsvc.errors import Conflict, Invalid, NotFound
from batchsvc.models import BatchJob, JobItem
from batchsvc.secrets import REDACTED, decrypt, split_secrets
from batchsvc.services import batches, directories, pipeline
from batchsvc.services.items import get_store
from batchsvc.states import ItemStatus
from batchsvc.uow import unit_of_work
from tests.conftest import batch_body

pytestmark = pytest.mark.usefixtures("sqlite_settings")


def make_directory(n: int, project: str = "p1") -> tuple[str, list[str]]:
    with unit_of_work() as session:
        directory = directories.create_directory(session, project, {"name": "d"})
        ids = [directories.upload_file(session, project, directory.id, f"f{i}.txt",
                                       io.BytesIO(f"document {i}".encode()), {}).id
               for i in range(n)]
        return directory.id, ids


def test_directory_job_materialises_pages_in_order() -> None:
    directory_id, ids = make_directory(5)
    with unit_of_work() as session:
        job, created = batches.create_batch(session, "p1", batch_body({
            "job_config": {"parameters": {}}, "directory_id": directory_id, "page_size": 2}))
        assert created and job.total_items == 5 and job.materialized_items == 0
        job_id = job.id
    pages = []
    with unit_of_work() as session:
        pipeline.claim_dispatch(session, job_id)
    while True:
        with unit_of_work() as session:
            claimed = pipeline.claim_next_page(session, job_id)
        if claimed is None:
            break
        pages.append(claimed)
    assert [len(seqs) for _, seqs in pages] == [2, 2, 1]
    with unit_of_work() as session:
        items = session.scalars(sa.select(JobItem).where(JobItem.job_id == job_id)
                                .order_by(JobItem.position)).all()
        assert [i.item_id for i in items] == ids


def test_claim_is_atomic_and_finalisation_counts_rows() -> None:
    _, ids = make_directory(3)
    with unit_of_work() as session:
        job, _ = batches.create_batch(session, "p1", batch_body({"job_config": {"parameters": {}},
                                                      "item_ids": ids}))
        job_id = job.id
        pipeline.claim_dispatch(session, job_id)
    with unit_of_work() as session:
        _, seqs = pipeline.claim_next_page(session, job_id)
    store = get_store()
    first = store.claim(seqs[0], "t1")
    again = store.claim(seqs[0], "t2")
    assert first is not None and first.attempt == 1 and again is None
    store.finish(first, ItemStatus.COMPLETED)
    claims = [store.claim(seq, "t1") for seq in seqs[1:]]
    assert None not in claims
    store.finish(claims[0], ItemStatus.FAILED, error="broken")  # type: ignore[arg-type]
    with unit_of_work() as session:
        assert pipeline.advance(session, job_id) == "busy"
    store.finish(claims[1], ItemStatus.SKIPPED,  # type: ignore[arg-type]
                 skip_reason="already_processed")
    with unit_of_work() as session:
        assert pipeline.advance(session, job_id) == "finalized"
        job = session.get(BatchJob, job_id)
        assert (job.status, job.processed_items, job.failed_items, job.skipped_items) == (
            "completed", 1, 1, 1)


def test_all_failed_is_failed() -> None:
    _, ids = make_directory(2)
    with unit_of_work() as session:
        job, _ = batches.create_batch(session, "p1", batch_body({"job_config": {"parameters": {}},
                                                      "item_ids": ids}))
        job_id = job.id
        pipeline.claim_dispatch(session, job_id)
        _, seqs = pipeline.claim_next_page(session, job_id)
    for seq in seqs:
        claim = get_store().claim(seq, "t")
        assert claim is not None
        get_store().finish(claim, ItemStatus.FAILED, error="x")
    with unit_of_work() as session:
        assert pipeline.advance(session, job_id) == "finalized"
        assert session.get(BatchJob, job_id).status == "failed"


def test_cancel_and_conflict() -> None:
    directory_id, _ = make_directory(2)
    with unit_of_work() as session:
        job, _ = batches.create_batch(session, "p1", batch_body({"job_config": {"parameters": {}},
                                                      "directory_id": directory_id}))
        job_id = job.id
    with unit_of_work() as session:
        batches.cancel_batch(session, "p1", job_id, "stop")
    with unit_of_work() as session, pytest.raises(Conflict):
        batches.cancel_batch(session, "p1", job_id, None)
    with unit_of_work() as session:
        assert pipeline.cancel_unmaterialized(session, job_id) is False
        assert pipeline.advance(session, job_id) == "cancelled-final"
        job = session.get(BatchJob, job_id)
        assert job.cancelled_items == 2 and job.completed_at is not None


def test_other_projects_and_unknown_ids() -> None:
    directory_id, ids = make_directory(1)
    with unit_of_work() as session, pytest.raises(NotFound):
        directories.get_directory(session, "p2", directory_id)
    with unit_of_work() as session, pytest.raises(Invalid) as exc:
        batches.create_batch(session, "p2", batch_body({"job_config": {}, "item_ids": ids}))
    assert exc.value.detail[0]["loc"] == ["body", "item_ids", 0]


def test_idempotency_key() -> None:
    _, ids = make_directory(1)
    body = {"job_config": {"parameters": {}}, "item_ids": ids}
    with unit_of_work() as session:
        first, created = batches.create_batch(session, "p1", batch_body(body), "key-1")
    with unit_of_work() as session:
        second, created_again = batches.create_batch(session, "p1", batch_body(body), "key-1")
    assert created and not created_again and first.id == second.id
    with unit_of_work() as session, pytest.raises(Conflict):
        batches.create_batch(session, "p1", batch_body({**body, "page_size": 7}), "key-1")


def test_secrets_are_redacted_and_recoverable() -> None:
    config = {"parameters": {"webhook_configurations": [
        {"webhook_url": "https://x.example/h", "webhook_signing_secret": "s3cret",
         "webhook_headers": {"Authorization": "Bearer abc"}}], "gpt4o_api_key": "sk-live"}}
    clean, secret = split_secrets(config)
    text = repr(clean)
    assert "s3cret" not in text and "abc" not in text and "sk-live" not in text
    assert clean["parameters"]["gpt4o_api_key"] == REDACTED
    assert "sk-live" not in repr(secret)
    from batchsvc.secrets import encrypt

    assert decrypt(encrypt(secret)) == secret


def test_parameters_hash_ignores_delivery_options() -> None:
    a = batches.parameters_hash("parse", {"parameters": {"max_pages": 2}})
    b = batches.parameters_hash("parse", {"parameters": {"max_pages": 2, "webhook_url": "x",
                                                         "invalidate_cache": True}})
    c = batches.parameters_hash("parse", {"parameters": {"max_pages": 3}})
    assert a == b != c
