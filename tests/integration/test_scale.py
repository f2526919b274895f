"""A 2,000-item directory batch through the API and real workers: every item accounted for.

The functional twin of bench/large.py (no timing here): many pages, pages in flight, the
counted prefix, and item listings at deep offsets."""

from __future__ import annotations

import hashlib
import uuid

import pytest
import requests
import sqlalchemy as sa

from batchsvc.models import (
    Blob,
    Directory,
    DirectoryFile,
    JobItem,
    ProcessingResult,
    Project,
    StoredFile,
    utcnow,
)
from tests.conftest import Stack
from tests.harness import wait_for

pytestmark = pytest.mark.integration
FILES = 2000
API = "/api/v1/beta/batch-processing"


def bulk_directory(stack: Stack, count: int) -> tuple[str, list[str]]:
    """A directory of ``count`` distinct small text files, inserted as rows (setup only)."""
    now = utcnow()
    with stack.session() as session:
        project = session.scalar(sa.select(Project.id).where(
            Project.name == stack.settings.default_project))
        directory = Directory(id=str(uuid.uuid4()), project_id=project, name="scale")
        session.add(directory)
        files, blobs, links = [], [], []
        for n in range(count):
            text = f"scale document {n} of {count}\n".encode()
            file_id = str(uuid.uuid4())
            key = f"files/{project}/{file_id}"
            files.append({"id": file_id, "project_id": project, "name": f"doc-{n:05d}.txt",
                          "size": len(text), "sha256": hashlib.sha256(text).hexdigest(),
                          "storage_key": key, "content_type": "txt", "created_at": now})
            blobs.append({"key": key, "chunk": 0, "data": text})
            links.append({"id": str(uuid.uuid4()), "directory_id": directory.id,
                          "project_id": project, "file_id": file_id,
                          "display_name": f"doc-{n:05d}.txt", "unique_id": file_id,
                          "metadata": {}, "created_at": now, "updated_at": now})
        session.flush()
        session.execute(sa.insert(StoredFile), files)
        session.execute(sa.insert(Blob), blobs)
        session.execute(sa.insert(DirectoryFile.__table__), links)
        return directory.id, [link["id"] for link in links]


def test_two_thousand_item_directory_batch(cluster_stack: Stack) -> None:
    directory_id, file_ids = bulk_directory(cluster_stack, FILES)
    headers = cluster_stack.headers()
    created = requests.post(f"{cluster_stack.url}{API}", headers=headers, timeout=30, json={
        "directory_id": directory_id, "job_config": {"parameters": {}}, "page_size": 50})
    assert created.status_code == 200, created.text
    job_id = created.json()["id"]
    assert created.json()["total_items"] == FILES

    def finished() -> dict | None:
        body = requests.get(f"{cluster_stack.url}{API}/{job_id}", headers=headers,
                            timeout=30).json()
        return body if body["job"]["completed_at"] else None

    status = wait_for(finished, timeout=110, interval=1.0, message="the 2,000-item batch")
    job = status["job"]
    assert job["status"] == "completed" and status["progress_percentage"] == 100.0
    assert (job["processed_items"], job["failed_items"], job["skipped_items"]) == (FILES, 0, 0)

    with cluster_stack.session() as session:
        items = session.execute(sa.select(JobItem.position, JobItem.item_id, JobItem.status,
                                          JobItem.result_id)
                                .where(JobItem.job_id == job_id)).all()
        lineage = session.execute(sa.select(ProcessingResult.item_id, ProcessingResult.id)
                                  .where(ProcessingResult.job_id == job_id)).all()
        counted = session.scalar(sa.text("select counted_position from batch_jobs "
                                         "where id = :id"), {"id": job_id})
    # Every directory file became exactly one item, at positions 0..n-1, completed, with
    # exactly one lineage record that the item points at.
    assert sorted(i.position for i in items) == list(range(FILES))
    assert sorted(i.item_id for i in items) == sorted(file_ids)
    assert {i.status for i in items} == {"completed"}
    assert len(lineage) == FILES and len({row.item_id for row in lineage}) == FILES
    assert {i.result_id for i in items} == {row.id for row in lineage}
    assert counted == FILES

    # Listings at any offset, with and without a status filter, agree with the rows.
    page = requests.get(f"{cluster_stack.url}{API}/{job_id}/items", headers=headers,
                        params={"offset": 1990, "limit": 20}, timeout=30).json()
    assert page["total_size"] == FILES
    assert [i["item_name"] for i in page["items"]] == [f"doc-{n:05d}.txt"
                                                       for n in range(1990, FILES)]
    done = requests.get(f"{cluster_stack.url}{API}/{job_id}/items", headers=headers,
                        params={"offset": 1500, "limit": 3, "status": "completed"},
                        timeout=30).json()
    assert done["total_size"] == FILES
    assert [i["item_name"] for i in done["items"]] == [f"doc-{n:05d}.txt"
                                                       for n in range(1500, 1503)]
    none = requests.get(f"{cluster_stack.url}{API}/{job_id}/items", headers=headers,
                        params={"status": "pending"}, timeout=30).json()
    assert (none["total_size"], none["items"]) == (0, [])
