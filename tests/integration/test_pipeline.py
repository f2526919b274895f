"""The pipeline through real brokers and workers: RabbitMQ, classify batches, classifier jobs,
bad documents, several workers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from batchsvc.models import JobItem, ProcessingResult
from tests.conformance.sdk_flow import upload_directory, wait_job
from tests.conftest import base_settings, running_stack
from tests.harness import AMQP_URL, SHARED, port_open, wait_for

pytestmark = pytest.mark.integration
RULES = json.loads((SHARED / "classify" / "rules.json").read_text())


@pytest.fixture(scope="module")
def rabbit_stack(module_pg_url: str, tmp_path_factory: pytest.TempPathFactory):
    if not port_open(5672):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")
    settings = base_settings(tmp_path_factory.mktemp("rabbit"), database_url=module_pg_url,
                             broker_url=AMQP_URL)
    with running_stack(settings) as stack:
        yield stack


def test_parse_batch_on_rabbitmq(rabbit_stack) -> None:
    client = rabbit_stack.sdk()
    directory, uploaded = upload_directory(client, "rabbit", [
        "minimal-document.pdf", "table_06.html", "word_sample.docx"])
    job = client.beta.batch.create(job_config={"parameters": {"invalidate_cache": True}},
                                   directory_id=directory.id, page_size=2)
    status = wait_job(client, job.id)
    assert (status.job.status, status.job.processed_items) == ("completed", 3)


def test_bad_documents_fail_their_item_only(cluster_stack) -> None:
    client = cluster_stack.sdk()
    directory = client.beta.directories.create(name="bad")
    good = client.beta.directories.files.upload(
        directory.id, upload_file=("good.txt", io.BytesIO(b"plain words, nothing more")))
    client.beta.directories.files.upload(
        directory.id, upload_file=("broken.pdf", io.BytesIO(b"%PDF-1.7\n garbage \x00\xff")))
    client.beta.directories.files.upload(directory.id,
                                         upload_file=("empty.txt", io.BytesIO(b"")))
    job = client.beta.batch.create(job_config={"parameters": {}}, directory_id=directory.id)
    status = wait_job(client, job.id)
    assert status.job.status == "completed" and status.job.failed_items == 2
    items = {i.item_name: i for i in client.beta.batch.job_items.list(job.id)}
    assert items["good.txt"].status == "completed"
    assert items["broken.pdf"].status == "failed" and items["broken.pdf"].error_message
    assert items["empty.txt"].status == "failed" and "empty" in items["empty.txt"].error_message
    assert good.id == items["good.txt"].item_id


def test_classify_batch_and_classifier_results(cluster_stack) -> None:
    client = cluster_stack.sdk()
    directory = client.beta.directories.create(name="news")
    texts = {
        "match.txt": "The central bank raised interest rates as company earnings and stock "
                     "markets fell; shares of the largest banks dropped on the exchange.",
        "goal.txt": "The striker scored twice as the team won the championship final; "
                    "the coach praised the players after the tournament match.",
    }
    for name, text in texts.items():
        client.beta.directories.files.upload(directory.id,
                                             upload_file=(name, io.BytesIO(text.encode())))
    job = client.beta.batch.create(job_config={"rules": RULES, "mode": "FAST"},
                                   directory_id=directory.id)
    status = wait_job(client, job.id)
    assert status.job.status == "completed" and status.job.processed_items == 2
    with cluster_stack.session() as session:
        classifier_id = session.execute(sa.text(
            "select classifier_job_id from batch_jobs where id = :id"), {"id": job.id}).scalar()
    results = client.classifier.jobs.get_results(classifier_id)
    by_type = sorted(r.result.type for r in results.items)
    assert by_type == ["business", "sport"]
    assert all(0 <= r.result.confidence <= 1 and r.result.reasoning for r in results.items)
    assert client.classifier.jobs.get(classifier_id).status == "SUCCESS"


def test_classifier_jobs_api(cluster_stack) -> None:
    client = cluster_stack.sdk()
    uploaded = client.files.create(
        file=("phone.txt", io.BytesIO(b"The new smartphone ships with faster software, a "
                                      b"better camera and more storage for apps.")),
        purpose="classify")
    created = client.classifier.jobs.create(file_ids=[uploaded.id], rules=RULES)
    assert created.status == "PENDING"
    final = wait_for(lambda: (s := client.classifier.jobs.get(created.id).status) != "PENDING"
                     and s, timeout=120, message="classifier job to finish")
    assert final == "SUCCESS"
    (item,) = client.classifier.jobs.get_results(created.id).items
    assert item.file_id == uploaded.id and item.result.type == "tech"
    assert created.id in [j.id for j in client.classifier.jobs.list()]


def test_two_workers_one_lineage_per_item(cluster_stack) -> None:
    extra = cluster_stack.add_worker(queues=("parse",), concurrency=1)
    try:
        client = cluster_stack.sdk()
        directory = client.beta.directories.create(name="two-workers")
        for n in range(12):
            client.beta.directories.files.upload(
                directory.id, upload_file=(f"n{n}.txt", io.BytesIO(f"note {n}".encode())))
        job = client.beta.batch.create(job_config={"parameters": {"do_not_cache": True}},
                                       directory_id=directory.id, page_size=4)
        status = wait_job(client, job.id)
        assert status.job.processed_items == 12
        with cluster_stack.session() as session:
            lineage = session.execute(
                sa.select(ProcessingResult.item_id, sa.func.count())
                .where(ProcessingResult.job_id == job.id).group_by(ProcessingResult.item_id)
            ).all()
            open_items = session.scalar(sa.select(sa.func.count()).select_from(JobItem).where(
                JobItem.job_id == job.id, JobItem.status.in_(("pending", "processing"))))
        assert len(lineage) == 12 and {c for _, c in lineage} == {1} and open_items == 0
        assert b"batchsvc.parse_item" in Path(extra.log_path).read_bytes()
    finally:
        extra.stop()
        cluster_stack.workers.remove(extra)
