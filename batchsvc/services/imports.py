"""Filling a directory from an S3 prefix by reference: no byte passes through the service.

An import lists one page (S3's 1,000 keys) per task and transaction: the page's objects
become file rows pointing at their key (ref ``s3://bucket/key``, size, ETag) and directory
files, the continuation token and the counts move on, then the next page is sent. Memory is
one page whatever the prefix holds; a crash resumes from the committed token; a redelivered
page message is a no-op (it names the page it was sent for). A key already in the directory
is skipped, so importing a prefix again adds only what is new.
"""

from __future__ import annotations

import hashlib
import posixpath
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.errors import Invalid, NotFound
from batchsvc.messaging import DISPATCH_JOB, IMPORT_PAGE
from batchsvc.models import BatchJob, DirectoryFile, S3Import, StoredFile, new_id, utcnow
from batchsvc.services import directories as directory_service
from batchsvc.services.files import file_type
from batchsvc.states import JobStatus
from batchsvc.storage import StorageError
from batchsvc.storage.s3 import client, explain, split_url
from batchsvc.uow import unit_of, unit_of_work
from batchsvc.webhooks.outbox import record_event

OPEN = ("pending", "running")
# A running import that has not moved for this long lost its message: the sweeper re-sends.
STALLED = timedelta(minutes=2)


def parse_source(value: str, loc: list[Any]) -> str:
    try:
        bucket, key = split_url(value)
    except StorageError as exc:
        raise Invalid(loc, "must be an s3://bucket/prefix URL") from exc
    if len(key.encode()) > 1024:
        raise Invalid(loc, "an S3 key is at most 1024 bytes")
    return f"s3://{bucket}/{key}"


def start_import(session: Session, project_id: str, directory_id: str, source: str,
                 region: str | None = None, job_id: str | None = None) -> S3Import:
    directory_service.get_directory(session, project_id, directory_id)
    row = S3Import(id=new_id("imp-"), project_id=project_id, directory_id=directory_id,
                   source=source, region=region or None, status="pending", pages=0, listed=0,
                   registered=0, skipped=0, updated_at=utcnow())
    session.add(row)
    session.flush()
    unit_of(session).send(IMPORT_PAGE, row.id, 0)
    return row


def get_import(session: Session, project_id: str, directory_id: str, import_id: str
               ) -> S3Import:
    row = session.get(S3Import, import_id)
    if row is None or row.project_id != project_id or row.directory_id != directory_id:
        raise NotFound(f"import {import_id} not found")
    return row


def import_view(row: S3Import) -> dict[str, Any]:
    return {"id": row.id, "directory_id": row.directory_id, "source": row.source,
            "region": row.region, "status": row.status, "pages_listed": row.pages,
            "objects_listed": row.listed, "files_registered": row.registered,
            "objects_skipped": row.skipped, "error_message": row.error_message,
            "created_at": row.created_at, "updated_at": row.updated_at,
            "completed_at": row.completed_at}


def import_page(import_id: str, page: int) -> str:
    with unit_of_work() as session:
        row = session.get(S3Import, import_id, with_for_update=True)
        if row is None or row.status not in OPEN or row.pages != page:
            return "stale"
        bucket, prefix = split_url(row.source)
        args: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
        if row.token:
            args["ContinuationToken"] = row.token
        try:
            answer = client(row.region).list_objects_v2(**args)
        except Exception as exc:  # noqa: BLE001 - any listing failure ends the import, said
            _finish(session, row, str(explain(exc, row.source, "listing")))
            return "failed"
        listed = answer.get("Contents", [])
        wanted = [o for o in listed if _wanted(o["Key"], prefix)]
        added = _register(session, row, bucket, prefix, wanted)
        row.pages, row.listed = row.pages + 1, row.listed + len(listed)
        row.registered, row.skipped = row.registered + added, row.skipped + len(listed) - added
        row.status, row.updated_at = "running", utcnow()
        row.token = answer.get("NextContinuationToken")
        if answer.get("IsTruncated") and row.token:
            unit_of(session).send(IMPORT_PAGE, row.id, row.pages)
            return "more"
        if not row.listed:
            _finish(session, row, f"no objects under {row.source}")
            return "failed"
        _finish(session, row, None)
        return "completed"


def _wanted(key: str, prefix: str) -> bool:
    # A prefix not ending in "/" names one object or a folder: "a.pdf" is not "a.pdf.bak".
    if key.endswith("/"):
        return False
    return prefix.endswith("/") or not prefix or key == prefix or key.startswith(prefix + "/")


def _display_name(key: str, prefix: str) -> str:
    """The key below the prefix's folder: ``docs/a/b.pdf`` under ``docs`` is ``a/b.pdf``."""
    if key == prefix:
        return posixpath.basename(key)
    return key[len(prefix) + (0 if prefix.endswith("/") or not prefix else 1):]


def _register(session: Session, row: S3Import, bucket: str, prefix: str,
              objects: list[dict[str, Any]]) -> int:
    if not objects:
        return 0
    refs = {f"s3://{bucket}/{o['Key']}": o for o in objects}
    if session.get_bind().dialect.name == "postgresql":
        # A plan for these 1,000 values, not a prepared generic one: Postgres hashes an IN
        # list only when it sees the values; the generic plan compared every row of the
        # directory with each of them in turn (30,000 keys: 31 s of a 39 s import).
        session.execute(sa.text("SET LOCAL plan_cache_mode = force_custom_plan"))
    known = set(session.scalars(sa.select(DirectoryFile.unique_id).where(
        DirectoryFile.directory_id == row.directory_id, DirectoryFile.deleted_at.is_(None),
        DirectoryFile.unique_id.in_(list(refs)))))
    files, entries, now = [], [], utcnow()
    for ref, obj in refs.items():
        if ref in known:
            continue
        etag = str(obj.get("ETag", "")).strip('"')
        name = _display_name(obj["Key"], prefix)
        file_id = new_id()
        files.append({
            "id": file_id, "project_id": row.project_id, "name": name[:1024],
            "size": int(obj.get("Size", 0)), "storage_key": ref, "etag": etag,
            # The dedup key until the bytes are read: same ETag and size, same content.
            "sha256": hashlib.sha256(f"s3-etag:{etag}:{obj.get('Size', 0)}".encode())
            .hexdigest(), "content_type": file_type(b"", name), "purpose": "user_data",
            "created_at": now})
        entries.append({
            "id": new_id(), "directory_id": row.directory_id, "project_id": row.project_id,
            "file_id": file_id, "display_name": name[:1024], "unique_id": ref,
            "metadata_": {}, "created_at": now, "updated_at": now})
    if files:
        session.execute(sa.insert(StoredFile), files)
        session.execute(sa.insert(DirectoryFile), entries)
    return len(files)


def _finish(session: Session, row: S3Import, error: str | None) -> None:
    now = utcnow()
    row.status = "failed" if error else "completed"
    row.error_message, row.completed_at, row.updated_at = error, now, now
    session.flush()
    job = session.scalar(sa.select(BatchJob).where(BatchJob.import_id == row.id)
                         .with_for_update())
    if job is None or job.status != JobStatus.PENDING:
        return
    if error:
        job.status, job.error_message = JobStatus.FAILED, f"input_s3_path: {error}"
        job.completed_at = job.updated_at = now
        record_event(session, job, "error")
        return
    # The job covers what the import registered: its directory as it now stands.
    snapshot = session.execute(
        sa.select(sa.func.count(), sa.func.max(DirectoryFile.seq)).where(
            DirectoryFile.directory_id == job.directory_id, DirectoryFile.deleted_at.is_(None))
    ).one()
    job.total_items, job.directory_snapshot_seq = snapshot[0], snapshot[1] or 0
    unit_of(session).send(DISPATCH_JOB, job.id)


def resend_stalled(session: Session) -> int:
    """The sweeper's part: re-send the page of each import whose message was lost."""
    stalled = session.execute(sa.select(S3Import.id, S3Import.pages).where(
        S3Import.status.in_(OPEN), S3Import.updated_at < utcnow() - STALLED)).all()
    for import_id, page in stalled:
        unit_of(session).send(IMPORT_PAGE, import_id, page)
    return len(stalled)
