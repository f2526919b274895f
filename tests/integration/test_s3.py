"""Object storage on S3: moto's standalone server speaking the S3 HTTP API to boto3, a real
API process and a real Celery worker on Postgres and Redis."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace

import pytest
import requests
import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.db import make_engine
from batchsvc.models import StoredFile
from batchsvc.settings import set_settings
from tests.conformance.sdk_flow import read_bytes, upload_directory, wait_job
from tests.conftest import S3_FORBIDDEN, Stack, base_settings, running_stack, s3_settings
from tests.harness import CORPUS, REDIS_URL, postgres_database, settings_env, wait_for
from tests.s3_server import S3Server, slow_proxy

pytestmark = pytest.mark.integration
PARSE = {"job_name": "parse_raw_file_job", "parameters": {"invalidate_cache": True}}
FILES = ["minimal-document.pdf", "table_06.html", "word_sample.docx"]


def objects(server: S3Server, bucket: str, prefix: str = "") -> dict[str, int]:
    pages = server.client().get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=prefix)
    return {o["Key"]: o["Size"] for page in pages for o in page.get("Contents", [])}


def test_upload_batch_results_in_the_bucket(s3_cluster_stack: Stack, s3_server: S3Server
                                            ) -> None:
    client = s3_cluster_stack.sdk()
    directory, uploaded = upload_directory(client, "s3-batch", FILES)
    stored = objects(s3_server, "svc", "batchsvc/files/")
    assert sorted(stored.values()) == sorted(len(read_bytes(n)) for n in FILES)
    job = client.beta.batch.create(job_config=PARSE, directory_id=directory.id, page_size=2)
    status = wait_job(client, job.id)
    assert (status.job.status, status.job.processed_items) == ("completed", len(FILES))

    results = objects(s3_server, "svc", f"batchsvc/results/{status.job.project_id}/{job.id}/")
    assert len(results) == len(FILES)
    lineage = client.beta.batch.job_items.get_processing_results(uploaded[0].id)
    (record,) = lineage.processing_results
    assert record.output_s3_path == f"s3://svc/batchsvc/results/{status.job.project_id}/" \
                                    f"{job.id}/{record.result_id}.json"
    assert record.output_s3_path.removeprefix("s3://svc/") in results
    items = list(client.beta.batch.job_items.list(job.id))
    parsed = client.parsing.get(items[0].job_id, expand=["text"])
    assert parsed.job.status == "COMPLETED" and parsed.text.pages


def test_presigned_download_bypasses_the_api(s3_cluster_stack: Stack) -> None:
    client = s3_cluster_stack.sdk()
    data = read_bytes("pdflatex-4-pages.pdf")
    created = client.files.create(file=("four pages.pdf", data), purpose="parse")
    link = requests.get(f"{s3_cluster_stack.url}/api/v1/beta/files/{created.id}/content",
                        headers=s3_cluster_stack.headers(), timeout=10).json()
    endpoint = s3_cluster_stack.settings.s3_endpoint_url
    assert link["url"].startswith(f"{endpoint}/svc/batchsvc/files/") and "X-Amz-Signature" in \
        link["url"]
    answer = requests.get(link["url"], timeout=10)
    assert answer.status_code == 200 and answer.content == data
    assert "four%20pages.pdf" in answer.headers["Content-Disposition"]

    directory, (uploaded,) = upload_directory(client, "s3-download", ["table_06.html"])
    got = client.beta.directories.files.get(uploaded.id, directory_id=directory.id,
                                            expand=["download_url"])
    assert got.download_url is not None
    assert got.download_url.url.startswith(f"{endpoint}/svc/")  # S3's own, not the API's
    assert requests.get(got.download_url.url, timeout=10).content == read_bytes("table_06.html")


UPLOAD_CHILD = """
import hashlib, io, os, resource, sys
from batchsvc.storage.s3 import S3Storage
size = int(sys.argv[1])
class Source(io.RawIOBase):
    def __init__(self):
        self.left, self.digest = size, hashlib.sha256()
    def read(self, n=-1):
        n = min(self.left, n if n >= 0 else self.left)
        out = os.urandom(n)
        self.left -= n
        self.digest.update(out)
        return out
source = Source()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
stored = S3Storage("svc", "direct").put_stream("big.bin", source)
grew = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(stored[0], stored[1] == source.digest.hexdigest(), grew * 1024)
"""


def test_streamed_multipart_upload_bounded_memory_and_verified(
        s3_cluster_stack: Stack, s3_server: S3Server) -> None:
    """A 160 MiB upload goes up in 8 MiB parts from a process whose peak RSS grows by a few
    parts, not by the file; each part's SHA-256 travels with it."""
    from batchsvc.storage import StorageError
    from batchsvc.storage.s3 import PART, S3Storage

    size = 20 * PART + 123
    out = subprocess.run([sys.executable, "-c", UPLOAD_CHILD, str(size)], check=True,
                         capture_output=True, text=True, timeout=300,
                         env=settings_env(s3_cluster_stack.settings)).stdout.split()
    assert out[:2] == [str(size), "True"]
    assert int(out[2]) < 6 * PART, f"peak RSS grew by {out[2]} bytes for {size}"
    head = s3_server.client().head_object(Bucket="svc", Key="direct/big.bin")
    assert head["ContentLength"] == size and head["ETag"].strip('"').endswith("-21")

    set_settings(s3_cluster_stack.settings)
    try:
        store = S3Storage("svc", "direct")
        whole = b"".join(store.iter_chunks("big.bin"))
        assert len(whole) == size
        assert store.read_range("big.bin", PART - 2, 4) == (whole[PART - 2:PART + 2], size)
        store.put_bytes("empty", b"")
        assert list(store.iter_chunks("empty")) == [] and store.get_bytes("empty") == b""
        # A single-part object read back is checked against its sha256 metadata.
        store.put_bytes("small.json", b'{"a": 1}')
        s3_server.client().copy_object(
            Bucket="svc", Key="direct/small.json", CopySource="svc/direct/small.json",
            Metadata={"sha256": "0" * 64}, MetadataDirective="REPLACE")
        with pytest.raises(StorageError, match="sha256 check"):
            store.get_bytes("small.json")
    finally:
        set_settings(None)


@pytest.fixture()
def stack_on(s3_server: S3Server, pg_url: str, tmp_path_factory: pytest.TempPathFactory):
    """A cluster stack with its own S3 settings (a missing bucket, a slow endpoint)."""
    def start(**overrides: object) -> Iterator[Stack]:
        settings = s3_settings(base_settings(tmp_path_factory.mktemp("s3x"),
                                             database_url=pg_url, broker_url=REDIS_URL),
                               s3_server, **overrides)
        return running_stack(settings)  # type: ignore[return-value]
    return start


def test_missing_bucket_fails_uploads_readably(stack_on, s3_server: S3Server) -> None:
    with stack_on(storage_url="s3://no-such-bucket/x") as stack:
        answer = requests.post(f"{stack.url}/api/v1/beta/files", headers=stack.headers(),
                               files={"file": ("a.pdf", read_bytes("minimal-document.pdf"))},
                               timeout=30)
        assert answer.status_code == 503
        assert "no-such-bucket" in answer.json()["detail"]
        assert "does not exist" in answer.json()["detail"]


def test_denied_access_fails_the_item_naming_the_key(s3_cluster_stack: Stack,
                                                     s3_server: S3Server) -> None:
    """moto enforces IAM user policies (not bucket policies) while enforcing() is on: the
    service's user may use its own buckets only, so a file in another bucket is denied."""
    client = s3_cluster_stack.sdk()
    s3_server.client().put_object(Bucket=S3_FORBIDDEN, Key="secret/doc.pdf",
                                  Body=read_bytes("minimal-document.pdf"))
    _, (ok,) = upload_directory(client, "s3-denied", ["minimal-document.pdf"])
    with s3_cluster_stack.session() as session:
        from batchsvc.models import StoredFile

        row = session.get(StoredFile, ok.file_id)
        row.storage_key = f"s3://{S3_FORBIDDEN}/secret/doc.pdf"
    with s3_server.enforcing():
        job = client.beta.batch.create(job_config=PARSE, item_ids=[ok.id])
        status = wait_job(client, job.id)
    assert status.job.status == "failed"
    (item,) = client.beta.batch.job_items.list(job.id)
    assert item.status == "failed"
    assert item.error_message == (f"access denied reading s3://{S3_FORBIDDEN}/secret/doc.pdf "
                                  "(AccessDenied)")


def test_slow_endpoint(stack_on, s3_server: S3Server) -> None:
    """0.3 s per exchange still works; past the timeout an upload is a readable 503."""
    with slow_proxy(s3_server.endpoint, 0.3) as slow, stack_on(s3_endpoint_url=slow) as stack:
        client = stack.sdk()
        directory, _ = upload_directory(client, "s3-slow", ["minimal-document.pdf"])
        status = wait_job(client, client.beta.batch.create(
            job_config=PARSE, directory_id=directory.id).id)
        assert (status.job.status, status.job.processed_items) == ("completed", 1)
    with slow_proxy(s3_server.endpoint, 3) as slower, \
            stack_on(s3_endpoint_url=slower, s3_timeout_seconds=1.0) as stack:
        answer = requests.post(f"{stack.url}/api/v1/beta/files", headers=stack.headers(),
                               files={"file": ("a.pdf", os.urandom(1000))}, timeout=60)
        assert answer.status_code == 503
        assert "S3 unreachable writing s3://svc/batchsvc/files/" in answer.json()["detail"]
        assert "timeout" in answer.json()["detail"].lower()


def test_a_storage_change_keeps_reading_old_data(s3_server: S3Server,
                                                 tmp_path_factory: pytest.TempPathFactory
                                                 ) -> None:
    """db:// -> s3:// -> db:// on one database, no data moved: a bare key is read from the
    database store, an s3:// ref from its bucket, whichever store new objects go to."""
    with postgres_database() as url:
        base = s3_settings(base_settings(tmp_path_factory.mktemp("switch"), database_url=url,
                                         broker_url=REDIS_URL), s3_server)
        on_db = replace(base, storage_url="")
        directory = None
        for count, (settings, name) in enumerate((
                (on_db, "minimal-document.pdf"), (base, "table_06.html"),
                (on_db, "word_sample.docx")), start=1):
            with running_stack(settings) as stack:
                client = stack.sdk()
                directory = directory or client.beta.directories.create(name="switch")
                with open(CORPUS / name, "rb") as fh:
                    client.beta.directories.files.upload(directory.id, upload_file=(name, fh))
                status = wait_job(client, client.beta.batch.create(
                    job_config=PARSE, directory_id=directory.id).id)
                assert (status.job.status, status.job.processed_items) == ("completed", count)
        with Session(make_engine(on_db)) as session:
            keys = sorted(session.scalars(sa.select(StoredFile.storage_key)))
        assert [k.split("/")[0] for k in keys] == ["files", "files", "s3:"]


def _put_corpus(server: S3Server, bucket: str, prefix: str, names: list[str]) -> None:
    for name in names:
        server.client().put_object(Bucket=bucket, Key=f"{prefix}{name}", Body=read_bytes(name))


def _wait_import(stack: Stack, directory_id: str, import_id: str) -> dict[str, object]:
    url = f"{stack.url}/api/v1/beta/directories/{directory_id}/imports/{import_id}"
    seen: list[dict[str, object]] = []

    def done() -> dict[str, object] | None:
        seen.append(requests.get(url, headers=stack.headers(), timeout=10).json())
        return seen[-1] if seen[-1]["status"] in ("completed", "failed") else None
    final = wait_for(done, timeout=180, message="the import")
    return {"final": final, "seen": seen}


def test_prefix_import_by_reference_pages_and_progress(s3_cluster_stack: Stack,
                                                       s3_server: S3Server) -> None:
    """1,205 objects: two listing pages, registered by reference (no byte through the API),
    a folder marker and a sibling prefix left out, progress readable while it runs, and a
    second import of the same prefix adds nothing."""
    s3 = s3_server.client()
    for i in range(1205):
        s3.put_object(Bucket="user-in", Key=f"many/{i:05d}.txt", Body=f"note {i}".encode())
    s3.put_object(Bucket="user-in", Key="many/", Body=b"")
    s3.put_object(Bucket="user-in", Key="many-other/x.txt", Body=b"not mine")
    client = s3_cluster_stack.sdk()
    directory = client.beta.directories.create(name="s3-import")
    url = f"{s3_cluster_stack.url}/api/v1/beta/directories/{directory.id}/imports"
    bad = requests.post(url, headers=s3_cluster_stack.headers(), json={"s3_path": "/tmp/x"},
                        timeout=10)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "s3_path"]
    started = requests.post(url, headers=s3_cluster_stack.headers(),
                            json={"s3_path": "s3://user-in/many"}, timeout=10)
    assert started.status_code == 202 and started.json()["status"] == "pending"
    run = _wait_import(s3_cluster_stack, directory.id, started.json()["id"])
    final = run["final"]
    assert final == {**final, "status": "completed", "pages_listed": 2, "objects_listed": 1207,
                     "files_registered": 1205, "objects_skipped": 2, "error_message": None}
    files = list(client.beta.directories.files.list(directory.id, page_size=1000))
    assert len(files) == 1205 and files[0].display_name == "00000.txt"
    assert files[0].unique_id == "s3://user-in/many/00000.txt"
    with s3_cluster_stack.session() as session:
        row = session.get(StoredFile, files[7].file_id)
        head = s3.head_object(Bucket="user-in", Key="many/00007.txt")
        assert (row.storage_key, row.size, row.etag) == (
            "s3://user-in/many/00007.txt", head["ContentLength"], head["ETag"].strip('"'))
    # Nothing was copied into the service's bucket.
    assert not [k for k in objects(s3_server, "svc") if "many" in k]

    again = requests.post(url, headers=s3_cluster_stack.headers(),
                          json={"s3_path": "s3://user-in/many/"}, timeout=10).json()
    run = _wait_import(s3_cluster_stack, directory.id, again["id"])
    second = run["final"]
    assert (second["status"], second["files_registered"], second["objects_skipped"]) == (
        "completed", 0, 1206)
    # Each poll saw committed progress: counts only grow, page by page.
    pages = [s["pages_listed"] for s in run["seen"]]
    assert pages == sorted(pages) and set(pages) <= {0, 1, 2}


def test_input_and_output_s3_paths_through_the_sdk(s3_cluster_stack: Stack,
                                                   s3_server: S3Server) -> None:
    names = ["minimal-document.pdf", "table_06.html", "word_sample.docx"]
    _put_corpus(s3_server, "user-in", "batch/", names)
    client = s3_cluster_stack.sdk()
    directory = client.beta.directories.create(name="s3-params")
    job = client.beta.batch.create(directory_id=directory.id, job_config={
        "job_name": "parse_raw_file_job", "parameters": {
            "input_s3_path": "s3://user-in/batch/", "output_s3_path_prefix": "s3://user-out/run1/"}})
    status = wait_job(client, job.id)
    assert (status.job.status, status.job.total_items, status.job.processed_items) == (
        "completed", 3, 3)
    written = objects(s3_server, "user-out", "run1/")
    items = list(client.beta.batch.job_items.list(job.id))
    assert sorted(written) == sorted(f"run1/{i.item_id}.{ext}" for i in items
                                     for ext in ("json", "md", "txt"))
    for item in items:
        (record,) = client.beta.batch.job_items.get_processing_results(
            item.item_id).processing_results
        assert record.output_s3_path == f"s3://user-out/run1/{item.item_id}.json"
        parsed = client.parsing.get(item.job_id, expand=["markdown_full", "text_full"])
        md = s3_server.client().get_object(Bucket="user-out", Key=f"run1/{item.item_id}.md")
        assert md["Body"].read().decode() == parsed.markdown_full
        txt = s3_server.client().get_object(Bucket="user-out", Key=f"run1/{item.item_id}.txt")
        assert txt["Body"].read().decode() == parsed.text_full


def test_s3_paths_denied_fail_readably(s3_cluster_stack: Stack, s3_server: S3Server) -> None:
    _put_corpus(s3_server, S3_FORBIDDEN, "in/", ["minimal-document.pdf"])
    _put_corpus(s3_server, "user-in", "one/", ["minimal-document.pdf"])
    client = s3_cluster_stack.sdk()
    with s3_server.enforcing():
        denied_in = client.beta.batch.create(
            directory_id=client.beta.directories.create(name="s3-denied-in").id,
            job_config={"parameters": {"input_s3_path": f"s3://{S3_FORBIDDEN}/in/"}})
        denied_out = client.beta.batch.create(
            directory_id=client.beta.directories.create(name="s3-denied-out").id,
            job_config={"parameters": {"input_s3_path": "s3://user-in/one/",
                                       "output_s3_path_prefix": f"s3://{S3_FORBIDDEN}/out"}})
        first, second = wait_job(client, denied_in.id), wait_job(client, denied_out.id)
    assert first.job.status == "failed"
    assert first.job.error_message == (f"input_s3_path: access denied listing "
                                       f"s3://{S3_FORBIDDEN}/in/ (AccessDenied)")
    assert second.job.status == "failed"
    (item,) = client.beta.batch.job_items.list(denied_out.id)
    assert item.error_message == (f"output_s3_path_prefix: access denied writing "
                                  f"s3://{S3_FORBIDDEN}/out/{item.item_id}.md (AccessDenied)")
    with pytest.raises(Exception, match="input_s3_path"):
        client.beta.batch.create(item_ids=[item.item_id], job_config={
            "parameters": {"input_s3_path": "s3://user-in/one/"}})


def test_an_imported_file_is_read_as_it_was_listed(s3_cluster_stack: Stack,
                                                   s3_server: S3Server) -> None:
    """A key overwritten after its import fails its item (If-Match on the listed ETag);
    the untouched one parses."""
    _put_corpus(s3_server, "user-in", "changed/", ["minimal-document.pdf", "table_06.html"])
    client = s3_cluster_stack.sdk()
    directory = client.beta.directories.create(name="s3-changed")
    url = f"{s3_cluster_stack.url}/api/v1/beta/directories/{directory.id}/imports"
    started = requests.post(url, headers=s3_cluster_stack.headers(),
                            json={"s3_path": "s3://user-in/changed/"}, timeout=10).json()
    assert _wait_import(s3_cluster_stack, directory.id, started["id"])["final"][
        "files_registered"] == 2
    s3_server.client().put_object(Bucket="user-in", Key="changed/table_06.html",
                                  Body=b"<p>another version</p>")
    status = wait_job(client, client.beta.batch.create(
        job_config=PARSE, directory_id=directory.id).id)
    assert (status.job.processed_items, status.job.failed_items) == (1, 1)
    failed = [i for i in client.beta.batch.job_items.list(status.job.id) if i.status == "failed"]
    assert [i.error_message for i in failed] == [
        "stored object s3://user-in/changed/table_06.html changed since it was registered "
        "(its ETag is no longer the one listed)"]
