"""The item path on both databases (one suite for the SQLite and the Postgres store): leases
stamped at publication, items completed once; and the Postgres store's own connection:
reconnection after a lost backend, fork safety, asynchronous commit."""

from __future__ import annotations

import io

import psycopg
import pytest
import sqlalchemy as sa

from batchsvc.db import is_transient_db_error
from batchsvc.models import JobItem, ProcessingResult
from batchsvc.services import batches, directories, pipeline
from batchsvc.services.items import itemdb
from batchsvc.services.items.process import process_item
from batchsvc.settings import Settings
from batchsvc.uow import unit_of_work
from tests.conftest import batch_body

PROJECT = "p-itemdb"


def upload(texts: list[str]) -> tuple[str, list[str]]:
    with unit_of_work() as session:
        directory = directories.create_directory(session, PROJECT, {"name": "d"})
        ids = [directories.upload_file(session, PROJECT, directory.id, f"f{i}.txt",
                                       io.BytesIO(text.encode()), {}).id
               for i, text in enumerate(texts)]
        return directory.id, ids


def published_page(body: dict) -> tuple[str, list[int]]:
    """Create a job and claim its first page the way dispatch does (with a lease)."""
    with unit_of_work() as session:
        job, _ = batches.create_batch(session, PROJECT, batch_body({
            "job_config": {"parameters": {}}, **body}))
        job_id = job.id
    with unit_of_work() as session:
        pipeline.claim_dispatch(session, job_id)
    with unit_of_work() as session:
        claimed = pipeline.claim_next_page(session, job_id, lease_seconds=60)
        assert claimed is not None
    return job_id, claimed[1]


def leases(seqs: list[int]) -> list[object]:
    with unit_of_work() as session:
        return list(session.scalars(sa.select(JobItem.lease_until).where(JobItem.seq.in_(seqs))))


@pytest.mark.parametrize("kind", ["directory", "item_ids"])
def test_published_items_carry_a_lease(db: Settings, kind: str) -> None:
    directory_id, file_ids = upload(["one", "two", "three"])
    body = {"directory_id": directory_id} if kind == "directory" else {"item_ids": file_ids}
    _, seqs = published_page(body)
    assert len(seqs) == 3 and seqs == sorted(seqs)
    assert all(lease is not None for lease in leases(seqs))


def test_items_complete_once(db: Settings) -> None:
    directory_id, _ = upload(["alpha text", "beta text"])
    job_id, seqs = published_page({"directory_id": directory_id})
    assert [process_item(seq, token="t1")["status"] for seq in seqs] == \
        ["completed", "completed"]
    # A redelivered message finds its item finished: nothing is written twice.
    assert process_item(seqs[0], token="t2")["status"] == "noop"
    with unit_of_work() as session:
        items = session.scalars(sa.select(JobItem).where(JobItem.job_id == job_id)).all()
        results = session.scalars(sa.select(ProcessingResult)
                                  .where(ProcessingResult.job_id == job_id)).all()
        assert {i.status for i in items} == {"completed"}
        assert {i.result_id for i in items} == {r.id for r in results}
        assert all(r.output_metadata["pages"] == 1 for r in results)
        assert all(i.lease_until is None for i in items)


@pytest.mark.usefixtures("pg_settings")
def test_the_item_connection_commits_asynchronously() -> None:
    setting = itemdb.cursor().connection.execute(
        "select current_setting('synchronous_commit')").fetchone()
    assert setting == ("off",)


@pytest.mark.usefixtures("pg_settings")
def test_a_lost_backend_is_transient_and_the_next_call_reconnects() -> None:
    directory_id, _ = upload(["first", "second"])
    _, seqs = published_page({"directory_id": directory_id})
    assert process_item(seqs[0])["status"] == "completed"
    pid = itemdb.cursor().connection.info.backend_pid
    with unit_of_work() as session:
        session.execute(sa.text("select pg_terminate_backend(:pid)"), {"pid": pid})
    with pytest.raises(psycopg.OperationalError) as lost:
        process_item(seqs[1])
    assert is_transient_db_error(lost.value)
    # The retried message claims the same item again.
    assert process_item(seqs[1])["status"] == "completed"
    assert itemdb.cursor().connection.info.backend_pid != pid


@pytest.mark.usefixtures("pg_settings")
def test_a_forked_child_never_closes_its_parents_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    parent = itemdb.cursor().connection
    monkeypatch.setattr(itemdb.os, "getpid", lambda: -1)
    child = itemdb.cursor().connection
    assert child is not parent and not parent.closed and parent in itemdb._inherited
