"""The official llama-cloud SDK (2.13.0) against a live batchsvc, in both modes."""

from __future__ import annotations

import pytest
from llama_cloud import APIStatusError

from batchsvc.services.auth import create_api_key
from tests.conformance.sdk_flow import FILES, snapshot, upload_directory, wait_job
from tests.harness import CORPUS

pytestmark = pytest.mark.conformance

PARSE_CONFIG = {"job_name": "parse_raw_file_job",
                "parameters": {"max_pages": 3, "page_separator": "\n---\n"}}


# s3_cluster: the cluster with files and results in moto's S3 (tests/s3_server.py).
@pytest.fixture(params=["embedded", "cluster", "s3_cluster"])
def stack(request: pytest.FixtureRequest):
    return request.getfixturevalue(f"{request.param}_stack")


def test_directory_batch_end_to_end(stack) -> None:
    client = stack.sdk()
    directory, uploaded = upload_directory(client, "conformance")
    listed = list(client.beta.directories.files.list(directory.id, page_size=3))
    assert [f.id for f in listed] == [f.id for f in uploaded]  # cursor paging, in order
    assert client.beta.directories.get(directory.id).name == "conformance"

    job = client.beta.batch.create(job_config=PARSE_CONFIG, directory_id=directory.id,
                                   page_size=3)
    assert job.id.startswith("bjb-") and job.status == "pending" and job.total_items == len(FILES)
    status = wait_job(client, job.id)
    assert status.job.status == "completed" and status.progress_percentage == 100
    assert status.job.processed_items == len(FILES) and status.job.failed_items == 0
    assert status.job.completed_at is not None and status.job.started_at is not None

    items = list(client.beta.batch.job_items.list(job.id, limit=2))  # paged by offset
    assert sorted(i.item_id for i in items) == sorted(f.id for f in uploaded)
    assert {i.status for i in items} == {"completed"}
    done = list(client.beta.batch.job_items.list(job.id, status="completed"))
    assert len(done) == len(FILES)

    lineage = client.beta.batch.job_items.get_processing_results(uploaded[1].id)
    assert lineage.item_name == "pdflatex-4-pages.pdf"
    (record,) = lineage.processing_results
    assert record.job_type == "parse" and record.result_id and record.output_s3_path

    parsed = client.parsing.get(items[0].job_id, expand=["markdown", "text", "job_metadata"])
    assert parsed.job.status == "COMPLETED"
    assert parsed.markdown.pages and any(p.markdown.strip() for p in parsed.markdown.pages)

    jobs = list(client.beta.batch.list(job_type="parse", directory_id=directory.id))
    assert [j.id for j in jobs] == [job.id]


def test_item_ids_batch_dedup_and_cache_options(stack) -> None:
    client = stack.sdk()
    directory, uploaded = upload_directory(client, "dedup", FILES[:3])
    ids = [f.id for f in uploaded]
    config = {"parameters": {"max_pages": 1}}
    first = wait_job(client, client.beta.batch.create(job_config=config, item_ids=ids).id)
    assert first.job.processed_items == 3
    second = wait_job(client, client.beta.batch.create(job_config=config, item_ids=ids).id)
    assert second.job.skipped_items == 3 and second.job.status == "completed"
    skipped = list(client.beta.batch.job_items.list(second.job.id))
    assert {i.skip_reason for i in skipped} == {"already_processed"}
    # The skipped item's parse job still serves the earlier result.
    assert client.parsing.get(skipped[0].job_id, expand=["text"]).text.pages
    fresh = {"parameters": {"max_pages": 1, "invalidate_cache": True}}
    third = wait_job(client, client.beta.batch.create(job_config=fresh, item_ids=ids).id)
    assert third.job.processed_items == 3 and third.job.skipped_items == 0
    lineage = client.beta.batch.job_items.get_processing_results(ids[0], job_type="parse")
    assert len(lineage.processing_results) == 2


def test_cancel_and_errors(stack) -> None:
    client = stack.sdk()
    directory, uploaded = upload_directory(client, "cancel", FILES[:2])
    job = client.beta.batch.create(job_config=PARSE_CONFIG, directory_id=directory.id)
    cancelled = client.beta.batch.cancel(job.id, reason="changed my mind")
    assert cancelled.status == "cancelled" and cancelled.job_id == job.id
    final = wait_job(client, job.id)
    assert final.job.status == "cancelled"
    items = list(client.beta.batch.job_items.list(job.id))
    # An item may have finished before the cancel landed: completed, or skipped when another
    # test of this stack already parsed the same file.
    assert len(items) == 2
    assert all(i.status in ("cancelled", "completed", "skipped") for i in items), items
    with pytest.raises(APIStatusError) as conflict:
        client.beta.batch.cancel(job.id)
    assert conflict.value.status_code == 409
    with pytest.raises(APIStatusError) as missing:
        client.beta.batch.get_status("bjb-00000000-0000-0000-0000-000000000000")
    assert missing.value.status_code == 404
    with pytest.raises(APIStatusError) as invalid:
        client.beta.batch.create(job_config={"parameters": {"max_pages": "three"}},
                                 item_ids=[uploaded[0].id])
    assert invalid.value.status_code == 422
    assert "max_pages" in str(invalid.value.body)


@pytest.mark.parametrize("other", ["embedded_stack", "s3_cluster_stack"])
def test_modes_agree(other: str, cluster_stack, request: pytest.FixtureRequest) -> None:
    """The same files and config give the same counts, statuses, lineage and text, embedded
    or on S3 as on the database store."""
    snapshots = []
    for stack in (request.getfixturevalue(other), cluster_stack):
        client = stack.sdk()
        directory, _ = upload_directory(client, "agree")
        job = client.beta.batch.create(
            job_config={"parameters": {"max_pages": 2, "invalidate_cache": True}},
            directory_id=directory.id, page_size=4)
        wait_job(client, job.id)
        snapshots.append(snapshot(client, job.id))
    assert snapshots[0] == snapshots[1]


def test_item_ids_take_file_ids_and_directory_file_ids(stack) -> None:
    client = stack.sdk()
    _, (in_directory,) = upload_directory(client, "mixed-ids", FILES[1:2])
    with open(CORPUS / FILES[2], "rb") as fh:
        loose = client.files.create(file=(FILES[2], fh), purpose="parse")
    job = client.beta.batch.create(job_config=PARSE_CONFIG,
                                   item_ids=[loose.id, in_directory.id])
    assert job.total_items == 2
    final = wait_job(client, job.id)
    assert final.job.status == "completed" and final.job.failed_items == 0
    items = {i.item_id: i for i in client.beta.batch.job_items.list(job.id)}
    assert set(items) == {loose.id, in_directory.id}
    assert items[loose.id].item_name == FILES[2]
    parsed = client.parsing.get(items[loose.id].job_id, expand=["text"])
    assert parsed.job.status == "COMPLETED" and parsed.text.pages

    with pytest.raises(APIStatusError) as unknown:
        client.beta.batch.create(job_config=PARSE_CONFIG,
                                 item_ids=[loose.id, "dfl-does-not-exist"])
    assert unknown.value.status_code == 422
    assert unknown.value.body["detail"][0]["loc"] == ["body", "item_ids", 1]
    # Another project's file is unknown here.
    with stack.session() as session:
        other = stack.sdk(key=create_api_key(session, "other-project"))
    with pytest.raises(APIStatusError) as foreign:
        other.beta.batch.create(job_config=PARSE_CONFIG, item_ids=[loose.id])
    assert foreign.value.status_code == 422
    assert foreign.value.body["detail"][0]["loc"] == ["body", "item_ids", 0]
