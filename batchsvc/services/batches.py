"""Batch jobs: create, read, list, cancel. Creation commits rows; the caller enqueues after."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from batchsvc.models import (
    BatchJob,
    ClassifierJob,
    CountMark,
    DirectoryFile,
    IdempotencyKey,
    JobItem,
    ProcessingResult,
    StoredFile,
    new_id,
    utcnow,
)
from batchsvc.services import directories as directory_service
from batchsvc.services.errors import Conflict, Invalid, NotFound
from batchsvc.services.secrets import encrypt, split_secrets
from batchsvc.settings import get_settings
from batchsvc.webhooks.outbox import record_event
from batchsvc.webhooks.validation import validate_targets
from schemas.batch import load_job_config
from schemas.common import validation_detail

TERMINAL_JOB = ("completed", "failed", "cancelled")
TERMINAL_ITEM = ("completed", "failed", "skipped", "cancelled")
# Options that change where results go or who hears of them, not what is computed.
NON_SEMANTIC = {
    "webhook_url", "webhook_configurations", "invalidate_cache", "do_not_cache", "priority",
    "custom_metadata", "job_timeout_in_seconds", "job_timeout_extra_time_per_page_in_seconds",
    "output_s3_path_prefix", "output_s3_region", "output_bucket", "resource_info",
}


def parameters_hash(job_type: str, config: dict[str, Any]) -> str:
    if job_type == "classify":
        relevant = {k: config.get(k) for k in ("rules", "mode", "parsing_configuration")}
    else:
        params = config.get("parameters") or {}
        relevant = {k: v for k, v in params.items() if k not in NON_SEMANTIC}
    canonical = json.dumps([job_type, relevant], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _body_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _check_idempotency(
    session: Session, project_id: str, key: str | None, body_hash: str
) -> BatchJob | None:
    if not key:
        return None
    row = session.get(IdempotencyKey, (project_id, key))
    if row is None:
        return None
    if row.body_hash != body_hash:
        raise Conflict("Idempotency-Key was already used with a different request body")
    return session.get(BatchJob, row.job_id)


def _resolve_item_ids(
    session: Session, project_id: str, item_ids: list[str]
) -> list[tuple[str, str, str]]:
    """Map directory-file ids to (item_id, file_id, name), keeping order; 422 on unknown ids."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(item_ids), 1000):
        chunk = item_ids[start:start + 1000]
        rows = session.execute(
            sa.select(DirectoryFile.id, DirectoryFile.file_id, DirectoryFile.display_name).where(
                DirectoryFile.id.in_(chunk), DirectoryFile.project_id == project_id,
                DirectoryFile.deleted_at.is_(None))
        ).all()
        found.update({r.id: (r.file_id, r.display_name) for r in rows})
    for index, item_id in enumerate(item_ids):
        if item_id not in found:
            raise Invalid(["body", "item_ids", index], f"no directory file {item_id}")
    return [(i, *found[i]) for i in item_ids]


def create_batch(
    session: Session, project_id: str, data: dict[str, Any], idempotency_key: str | None = None,
) -> tuple[BatchJob, bool]:
    """Write the job (and its items when ids are given). Returns (job, created)."""
    body_hash = _body_hash(data)
    existing = _check_idempotency(session, project_id, idempotency_key, body_hash)
    if existing is not None:
        return existing, False
    try:
        job_type, raw_config = load_job_config(data["job_config"])
    except ValidationError as exc:
        detail = validation_detail(exc, "body")
        for entry in detail:
            entry["loc"].insert(1, "job_config")
        raise Invalid.many(detail) from exc
    validate_targets(raw_config, ["body", "job_config"])
    items = None
    if not data.get("directory_id"):
        items = _resolve_item_ids(session, project_id, data["item_ids"])
    else:
        directory_service.get_directory(session, project_id, data["directory_id"])
    job = new_job(session, project_id, job_type, raw_config, items=items,
                  directory_id=data.get("directory_id"), page_size=data.get("page_size"),
                  threshold=data.get("continue_as_new_threshold"))
    if idempotency_key:
        session.add(IdempotencyKey(project_id=project_id, key=idempotency_key,
                                   body_hash=body_hash, job_id=job.id))
    return job, True


def new_job(
    session: Session, project_id: str, job_type: str, raw_config: dict[str, Any], *,
    items: list[tuple[str, str, str]] | None = None, directory_id: str | None = None,
    page_size: int | None = None, threshold: int | None = None,
    classifier_job_id: str | None = None,
) -> BatchJob:
    """Insert a job over a directory (items materialised later) or over resolved items."""
    settings = get_settings()
    config, secret_values = split_secrets(raw_config)
    page_size = page_size or settings.default_page_size
    job = BatchJob(
        id=new_id("bjb-"), project_id=project_id, job_type=job_type, status="pending",
        job_config=config, secrets=encrypt(secret_values),
        parameters_hash=parameters_hash(job_type, raw_config), page_size=page_size,
        continue_as_new_threshold=threshold or page_size,
    )
    if job_type == "classify":
        job.classifier_job_id = classifier_job_id or _create_classifier_job(
            session, project_id, config, job.id)
        config["id"] = job.classifier_job_id
    if directory_id:
        job.directory_id = directory_id
        snapshot = session.execute(
            sa.select(sa.func.count(), sa.func.max(DirectoryFile.seq)).where(
                DirectoryFile.directory_id == directory_id, DirectoryFile.deleted_at.is_(None))
        ).one()
        job.total_items, job.directory_snapshot_seq = snapshot[0], snapshot[1] or 0
        session.add(job)
    else:
        items = items or []
        job.total_items = job.materialized_items = len(items)
        session.add(job)
        session.flush()
        insert_items(session, job, items, start=0)
    session.flush()
    record_event(session, job, "pending")
    return job


def insert_items(
    session: Session, job: BatchJob, items: list[tuple[str, str, str]], start: int,
    status: str = "pending", lease_until: datetime | None = None,
) -> None:
    if not items:
        return
    now = utcnow()
    session.execute(sa.insert(JobItem), [
        {"job_id": job.id, "project_id": job.project_id, "position": start + n,
         "item_id": item_id, "file_id": file_id, "item_name": name, "status": status,
         "result_job_id": new_id(), "updated_at": now, "lease_until": lease_until,
         "completed_at": now if status == "cancelled" else None}
        for n, (item_id, file_id, name) in enumerate(items)
    ])


def _create_classifier_job(
    session: Session, project_id: str, config: dict[str, Any], batch_job_id: str | None
) -> str:
    wanted = config.get("id")
    if wanted and session.get(ClassifierJob, wanted) is not None:
        raise Invalid(["body", "job_config", "id"], f"classifier job id {wanted} is in use")
    row = ClassifierJob(
        id=wanted or new_id(), project_id=project_id, batch_job_id=batch_job_id,
        rules=config["rules"], mode=config.get("mode") or "FAST",
        parsing_configuration=config.get("parsing_configuration"),
        user_id=config.get("user_id"),
    )
    session.add(row)
    return row.id


def get_job(session: Session, project_id: str, job_id: str) -> BatchJob:
    job = session.get(BatchJob, job_id)
    if job is None or job.project_id != project_id:
        raise NotFound(f"batch job {job_id} not found")
    return job


def item_counts(session: Session, job_id: str, start: int = 0,
                stop: int | None = None) -> dict[str, int]:
    """Items by status, of the whole job or of positions [start, stop)."""
    stmt = sa.select(JobItem.status, sa.func.count()).where(JobItem.job_id == job_id)
    if start:
        stmt = stmt.where(JobItem.position >= start)
    if stop is not None:
        stmt = stmt.where(JobItem.position < stop)
    rows = session.execute(stmt.group_by(JobItem.status)).all()
    return {status: count for status, count in rows}


def cached_counts(job: BatchJob) -> dict[str, int]:
    return {"completed": job.processed_items or 0, "failed": job.failed_items or 0,
            "skipped": job.skipped_items or 0, "cancelled": job.cancelled_items or 0}


def live_counts(session: Session, job: BatchJob) -> dict[str, int]:
    """Exact item counts by status without a pass over the whole job.

    Items before ``counted_position`` are terminal and already in the cached counts; items at
    or after the published pages of a running job were never sent, so are pending; only the
    window between (the pages in flight) is grouped."""
    counts = cached_counts(job)
    end = job.materialized_items
    if job.status not in TERMINAL_JOB:
        end = min(end, job.pages_published * job.page_size)
    start = min(job.counted_position or 0, job.materialized_items)
    if end > start:
        for status, count in item_counts(session, job.id, start, end).items():
            counts[status] = counts.get(status, 0) + count
    unsent = job.materialized_items - max(end, start)
    if unsent > 0:
        counts["pending"] = counts.get("pending", 0) + unsent
    return counts


def job_view(job: BatchJob, counts: dict[str, int] | None = None) -> dict[str, Any]:
    if counts is not None:
        processed, failed = counts.get("completed", 0), counts.get("failed", 0)
        skipped, cancelled = counts.get("skipped", 0), counts.get("cancelled", 0)
    else:
        processed, failed = job.processed_items, job.failed_items
        skipped, cancelled = job.skipped_items, job.cancelled_items
    return {
        "id": job.id, "job_type": job.job_type, "project_id": job.project_id,
        "status": job.status, "total_items": job.total_items, "directory_id": job.directory_id,
        "processed_items": processed, "failed_items": failed, "skipped_items": skipped,
        "cancelled_items": cancelled, "error_message": job.error_message,
        "created_at": job.created_at, "updated_at": job.updated_at,
        "started_at": job.started_at, "completed_at": job.completed_at,
        "effective_at": job.created_at, "job_record_id": job.id, "workflow_id": job.id,
    }


def fresh_view(session: Session, job: BatchJob) -> dict[str, Any]:
    """Exact counts while a job is live (see live_counts); cached once it has ended."""
    if job.status in TERMINAL_JOB and job.completed_at is not None:
        return job_view(job)
    return job_view(job, live_counts(session, job))


def progress(view: dict[str, Any]) -> float:
    total = view["total_items"]
    if not total:
        return 100.0 if view["status"] in TERMINAL_JOB else 0.0
    done = (view["processed_items"] + view["failed_items"] + view["skipped_items"]
            + view.get("cancelled_items", 0))
    return round(100.0 * min(done, total) / total, 2)


def list_batches(session: Session, project_id: str, query: dict[str, Any]) -> dict[str, Any]:
    stmt = sa.select(BatchJob).where(BatchJob.project_id == project_id)
    for key in ("directory_id", "job_type", "status"):
        if query.get(key):
            stmt = stmt.where(getattr(BatchJob, key) == query[key])
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(BatchJob.created_at.desc(), BatchJob.id)
                           .offset(query["offset"]).limit(query["limit"])).all()
    return {"items": [job_view(r) for r in rows], "total_size": total}


def cancel_batch(
    session: Session, project_id: str, job_id: str, reason: str | None
) -> BatchJob:
    job = get_job(session, project_id, job_id)
    # Lock the row so a finishing page callback and the cancel do not interleave.
    session.execute(sa.select(BatchJob.id).where(BatchJob.id == job_id).with_for_update())
    session.refresh(job)
    if job.status in TERMINAL_JOB:
        raise Conflict(f"batch job {job_id} is already {job.status}")
    now = utcnow()
    session.execute(
        sa.update(JobItem).where(JobItem.job_id == job_id, JobItem.status == "pending")
        .values(status="cancelled", completed_at=now, lease_until=None, updated_at=now)
    )
    job.status, job.cancel_reason, job.updated_at = "cancelled", reason, now
    job.error_message = f"cancelled: {reason}" if reason else "cancelled"
    record_event(session, job, "cancelled")
    return job


def item_view(item: JobItem, job_type: str) -> dict[str, Any]:
    return {
        "item_id": item.item_id, "item_name": item.item_name, "status": item.status,
        "skip_reason": item.skip_reason, "error_message": item.error_message,
        # For parse batches this id answers GET /api/v2/parse/{job_id}.
        "job_id": item.result_job_id, "job_record_id": item.result_id,
        "started_at": item.started_at, "completed_at": item.completed_at,
        "effective_at": item.completed_at or item.started_at,
    }


def _scan_start(session: Session, job: BatchJob, status: str, offset: int) -> tuple[int, int]:
    """(position, items of ``status`` before it) to start a filtered listing's scan from.

    Every item before the counted prefix is terminal, so an open status starts at its end;
    a terminal status starts at the last count mark (or the prefix's end) holding at most
    ``offset`` such items: a skip of about a page instead of up to the whole job."""
    counted = job.counted_position or 0
    if status not in TERMINAL_ITEM:
        return counted, 0
    before = cached_counts(job).get(status, 0)
    if offset >= before:
        return counted, before
    column = getattr(CountMark, status)
    mark = session.execute(
        sa.select(CountMark.position, column).where(CountMark.job_id == job.id, column <= offset)
        .order_by(CountMark.position.desc()).limit(1)).first()
    return (mark[0], mark[1]) if mark else (0, 0)


def list_job_items(
    session: Session, project_id: str, job_id: str, query: dict[str, Any]
) -> dict[str, Any]:
    job = get_job(session, project_id, job_id)
    offset, limit, status = query["offset"], query["limit"], query.get("status")
    stmt = sa.select(JobItem).where(JobItem.job_id == job_id)
    if status:
        # The scan starts at the last count mark below the offset and skips the rest in the
        # (job_id, status, position) index alone; only the page's rows are read from the table.
        start, before = _scan_start(session, job, status, offset)
        positions = sa.select(JobItem.position).where(
            JobItem.job_id == job_id, JobItem.status == status, JobItem.position >= start
        ).order_by(JobItem.position).offset(offset - before).limit(limit)
        stmt = stmt.where(JobItem.position.in_(positions))
        total = live_counts(session, job).get(status, 0) if job.completed_at is None \
            else cached_counts(job).get(status, 0)
    else:
        # Positions are 0..n-1 without gaps, so an offset is a position: no rows skipped.
        stmt = stmt.where(JobItem.position >= offset, JobItem.position < offset + limit)
        total = job.materialized_items
    rows = session.scalars(stmt.order_by(JobItem.position)).all()
    return {"items": [item_view(r, job.job_type) for r in rows], "total_size": total}


def processing_results(
    session: Session, project_id: str, item_id: str, job_type: str | None
) -> dict[str, Any]:
    name = session.scalar(sa.select(DirectoryFile.display_name).where(
        DirectoryFile.id == item_id, DirectoryFile.project_id == project_id))
    if name is None:
        name = session.scalar(sa.select(StoredFile.name).where(
            StoredFile.id == item_id, StoredFile.project_id == project_id))
    if name is None:
        raise NotFound(f"item {item_id} not found")
    stmt = sa.select(ProcessingResult, BatchJob.job_config).join(
        BatchJob, BatchJob.id == ProcessingResult.job_id).where(
        ProcessingResult.item_id == item_id, ProcessingResult.project_id == project_id)
    if job_type:
        stmt = stmt.where(ProcessingResult.job_type == job_type)
    from batchsvc.storage import get_storage

    location = get_storage().location
    results = [
        {"item_id": r.item_id, "result_id": r.id, "job_id": r.job_id, "job_type": r.job_type,
         "job_config": config, "parameters_hash": r.parameters_hash,
         "output_s3_path": location(r.output_key), "processed_at": r.processed_at,
         "output_metadata": r.output_metadata}
        for r, config in session.execute(stmt.order_by(ProcessingResult.processed_at)).all()
    ]
    return {"item_id": item_id, "item_name": name, "processing_results": results}
