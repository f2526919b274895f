"""Retry, streamed results and progress events on a real (SQLite) database, with the item
task run in-process on real documents."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import sqlalchemy as sa

from batchsvc.api.events import status_body
from batchsvc.errors import Conflict, Invalid
from batchsvc.models import BatchJob, ClassifierJob, JobItem
from batchsvc.secrets import decrypt
from batchsvc.services import batches, directories, exports, pipeline, retry
from batchsvc.services import events as event_stream
from batchsvc.services.items.process import process_item
from batchsvc.uow import unit_of_work
from tests.conftest import batch_body

pytestmark = pytest.mark.usefixtures("sqlite_settings")
PROJECT = "p1"
GOOD = b"# Quarterly report\n\nRevenue grew in every region.\n"
CORRUPT = bytes(range(256)) * 8  # not a PDF, whatever its name says


def upload(files: dict[str, bytes]) -> list[str]:
    with unit_of_work() as session:
        directory = directories.create_directory(session, PROJECT, {"name": "d"})
        return [directories.upload_file(session, PROJECT, directory.id, name,
                                        io.BytesIO(data), {}).id
                for name, data in files.items()]


def run_job(config: dict, item_ids: list[str]) -> str:
    """Create a job and run every item through the real item task, then finalise it."""
    with unit_of_work() as session:
        job, _ = batches.create_batch(session, PROJECT, batch_body({"job_config": config,
                                                         "item_ids": item_ids}))
        job_id = job.id
    return finish(job_id)


def finish(job_id: str) -> str:
    with unit_of_work() as session:
        pipeline.claim_dispatch(session, job_id)
    with unit_of_work() as session:
        _, seqs = pipeline.claim_next_page(session, job_id)
    for seq in seqs:
        process_item(seq)
    with unit_of_work() as session:
        assert pipeline.advance(session, job_id) == "finalized"
    return job_id


def set_status(job_id: str, name: str, status: str) -> None:
    with unit_of_work() as session:
        session.execute(sa.update(JobItem).where(JobItem.job_id == job_id,
                                                 JobItem.item_name == name)
                        .values(status=status, error_message=f"simulated {status}"))


def statuses(job_id: str) -> dict[str, tuple[str, str | None]]:
    with unit_of_work() as session:
        rows = session.scalars(sa.select(JobItem).where(JobItem.job_id == job_id)).all()
        return {r.item_name: (r.status, r.skip_reason) for r in rows}


def test_results_stream_as_jsonl_and_zip() -> None:
    ids = upload({"report.md": GOOD, "broken.pdf": CORRUPT, "notes.txt": b"plain words"})
    job_id = run_job({"parameters": {}}, ids)

    lines = [json.loads(line) for line in b"".join(exports.jsonl_results(job_id)).splitlines()]
    assert [line["item_name"] for line in lines] == ["report.md", "broken.pdf", "notes.txt"]
    report, broken, _ = lines
    assert report["status"] == "completed" and report["result"]["pages"]
    assert broken["status"] == "failed" and broken["result"] is None
    assert broken["error_message"]

    archive = zipfile.ZipFile(io.BytesIO(b"".join(exports.zip_results(job_id, "parse"))))
    assert sorted(archive.namelist()) == ["manifest.jsonl", "notes.txt.md", "report.md.md"]
    assert "Revenue grew in every region." in archive.read("report.md.md").decode()
    manifest = [json.loads(x) for x in archive.read("manifest.jsonl").splitlines()]
    assert {m["item_name"]: m["file"] for m in manifest} == {
        "report.md": "report.md.md", "broken.pdf": None, "notes.txt": "notes.txt.md"}


def test_zip_entry_names_are_safe_and_unique() -> None:
    used: set[str] = set()
    names = [exports.entry_name(n, ".md", used) for n in ("a/b.pdf", "a/b.pdf", "..", "x")]
    assert names == ["a_b.pdf.md", "a_b.pdf-2.md", "document.md", "x.md"]


def test_retry_reruns_failed_and_cancelled_items_bypassing_the_cache() -> None:
    ids = upload({"one.md": GOOD, "two.md": GOOD + b"more", "bad.pdf": CORRUPT})
    secret = {"webhook_url": "http://127.0.0.1:9/hook", "webhook_signing_secret": "s3cret"}
    old = run_job({"parameters": {"webhook_configurations": [secret]}}, ids)
    # one.md "was lost" and two.md "was cancelled": both have cached results already.
    set_status(old, "one.md", "failed")
    set_status(old, "two.md", "cancelled")

    with unit_of_work() as session:
        only_failed = retry.retry_job(session, PROJECT, old, include_cancelled=False)
        assert only_failed.total_items == 2 and only_failed.retry_of == old
        session.rollback()
    with unit_of_work() as session:
        job = retry.retry_job(session, PROJECT, old, include_cancelled=True)
        before = session.get(BatchJob, old)
        assert job.retry_of == old and job.total_items == 3
        assert job.parameters_hash == before.parameters_hash
        assert decrypt(job.secrets) == decrypt(before.secrets) != {}
        new = job.id
    with unit_of_work() as session, pytest.raises(Conflict, match="already being retried"):
        retry.retry_job(session, PROJECT, old, include_cancelled=True)

    finish(new)
    assert statuses(new) == {"one.md": ("completed", None), "two.md": ("completed", None),
                             "bad.pdf": ("failed", None)}


def test_retry_refuses_unfinished_jobs_and_jobs_without_failures() -> None:
    ids = upload({"one.md": GOOD})
    with unit_of_work() as session:
        job, _ = batches.create_batch(session, PROJECT, batch_body({
            "job_config": {"parameters": {}}, "item_ids": ids}))
        pending = job.id
    with unit_of_work() as session, pytest.raises(Conflict, match="pending"):
        retry.retry_job(session, PROJECT, pending, include_cancelled=False)

    clean = run_job({"parameters": {"invalidate_cache": True}}, ids)
    with unit_of_work() as session, pytest.raises(Invalid) as nothing:
        retry.retry_job(session, PROJECT, clean, include_cancelled=True)
    assert nothing.value.detail[0]["loc"] == ["path", "job_id"]

    set_status(clean, "one.md", "cancelled")
    with unit_of_work() as session, pytest.raises(Invalid) as hint:
        retry.retry_job(session, PROJECT, clean, include_cancelled=False)
    assert hint.value.detail[0]["loc"] == ["body", "include_cancelled"]


def test_classify_retry_gets_its_own_classifier_job() -> None:
    ids = upload({"invoice.md": b"Invoice 42: amount due 100 EUR, pay by March."})
    rules = [{"type": "invoice", "description": "a bill asking for payment"},
             {"type": "poem", "description": "verse with rhyme"}]
    old = run_job({"rules": rules, "mode": "FAST"}, ids)
    set_status(old, "invoice.md", "failed")
    with unit_of_work() as session:
        job = retry.retry_job(session, PROJECT, old, include_cancelled=False)
        old_config = session.get(BatchJob, old).job_config
        assert job.job_config["id"] != old_config["id"]
        assert session.get(ClassifierJob, job.job_config["id"]).batch_job_id == job.id
        new = job.id
    finish(new)
    lines = [json.loads(x) for x in b"".join(exports.jsonl_results(new)).splitlines()]
    assert lines[0]["status"] == "completed" and lines[0]["result"]["type"] == "invoice"


def test_events_of_a_finished_job_end_at_once() -> None:
    ids = upload({"one.md": GOOD})
    job_id = run_job({"parameters": {"invalidate_cache": True}}, ids)
    stream = b"".join(event_stream.progress_events(PROJECT, job_id, interval=0.2,
                                                   render=status_body)).decode()
    blocks = [block for block in stream.split("\n\n") if block.startswith("id:")]
    assert [e.splitlines()[1] for e in blocks] == ["event: progress", "event: end"]
    data = json.loads(blocks[-1].splitlines()[2].removeprefix("data: "))
    assert data["job"]["status"] == "completed" and data["progress_percentage"] == 100
