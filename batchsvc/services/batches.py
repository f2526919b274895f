"""Batch jobs: create, read, list, cancel. The unit of work sends the dispatch after commit."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.engines.classify import DEFAULT_MODE
from batchsvc.errors import Conflict, Invalid, NotFound
from batchsvc.messaging import DISPATCH_JOB
from batchsvc.models import (
    BatchJob,
    ClassifierJob,
    DirectoryFile,
    IdempotencyKey,
    JobItem,
    ProcessingResult,
    StoredFile,
    new_id,
    utcnow,
)
from batchsvc.secrets import encrypt, split_secrets
from batchsvc.services import counts, imports
from batchsvc.services import directories as directory_service
from batchsvc.services.pipeline import insert_items
from batchsvc.settings import get_settings
from batchsvc.states import ITEM_COUNTERS, JOB_TERMINAL, ItemStatus, JobStatus
from batchsvc.uow import unit_of
from batchsvc.webhooks.outbox import record_event
from batchsvc.webhooks.validation import validate_targets

# Options that change where results go or who hears of them, not what is computed.
NON_SEMANTIC = {
    "webhook_url", "webhook_configurations", "invalidate_cache", "do_not_cache", "priority",
    "custom_metadata", "job_timeout_in_seconds", "job_timeout_extra_time_per_page_in_seconds",
    "output_s3_path_prefix", "output_s3_region", "output_bucket", "resource_info",
}


def is_cacheable(config: dict[str, Any]) -> bool:
    """May reuse earlier results and be reused: neither invalidate_cache nor do_not_cache."""
    params = config.get("parameters") or {}
    return not (params.get("invalidate_cache") or params.get("do_not_cache"))


def parameters_hash(job_type: str, config: dict[str, Any]) -> str:
    if job_type == "classify":
        relevant = {k: config.get(k) for k in ("rules", "mode", "parsing_configuration")}
        if config.get("parse_job_id"):
            # Classified from that parse's text, not from the file as the rules would parse it.
            relevant["parse_job_id"] = config["parse_job_id"]
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


def find_files(
    session: Session, project_id: str, ids: list[str]
) -> dict[str, tuple[str, str]]:
    """{id: (file_id, name)} for the ids that are this project's live directory files or
    files (``files.create``); at most 1000 ids."""
    found = {r.id: (r.file_id, r.display_name) for r in session.execute(
        sa.select(DirectoryFile.id, DirectoryFile.file_id, DirectoryFile.display_name).where(
            DirectoryFile.id.in_(ids), DirectoryFile.project_id == project_id,
            DirectoryFile.deleted_at.is_(None)))}
    files = [i for i in ids if i not in found]
    if files:
        found.update({r.id: (r.id, r.name) for r in session.execute(
            sa.select(StoredFile.id, StoredFile.name).where(
                StoredFile.id.in_(files), StoredFile.project_id == project_id,
                StoredFile.deleted_at.is_(None)))})
    return found


def _resolve_item_ids(
    session: Session, project_id: str, item_ids: list[str]
) -> list[tuple[str, str, str]]:
    """Map item ids to (item_id, file_id, name), keeping order; 422 naming the index of an
    unknown id. An id is a directory file's or a file's (``files.create``); a mix works."""
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(item_ids), 1000):
        found.update(find_files(session, project_id, item_ids[start:start + 1000]))
    for index, item_id in enumerate(item_ids):
        if item_id not in found:
            raise Invalid(["body", "item_ids", index], f"no file or directory file {item_id}")
    return [(i, *found[i]) for i in item_ids]


def _s3_options(config: dict[str, Any], data: dict[str, Any]) -> str | None:
    """Check ``input_s3_path`` (the prefix that fills the job's directory; returned) and
    ``output_s3_path_prefix`` (where each item's results are written)."""
    params = config.get("parameters") or {}
    loc = ["body", "job_config", "parameters"]
    if params.get("output_s3_path_prefix"):
        imports.parse_source(params["output_s3_path_prefix"], [*loc, "output_s3_path_prefix"])
    if not params.get("input_s3_path"):
        return None
    source = imports.parse_source(params["input_s3_path"], [*loc, "input_s3_path"])
    if not data.get("directory_id"):
        raise Invalid([*loc, "input_s3_path"], "needs directory_id: the directory is filled "
                      "from the prefix, then processed")
    return source


def create_batch(
    session: Session, project_id: str, data: dict[str, Any], idempotency_key: str | None = None,
) -> tuple[BatchJob, bool]:
    """Write the job (and its items when ids are given). Returns (job, created)."""
    body_hash = _body_hash(data)
    existing = _check_idempotency(session, project_id, idempotency_key, body_hash)
    if existing is not None:
        return existing, False
    # The schema validated the config (schemas.batch.JobConfigField) and told its type.
    job_type, raw_config = data["job_type"], data["job_config"]
    validate_targets(raw_config, ["body", "job_config"])
    source = _s3_options(raw_config, data)
    items = None
    if not data.get("directory_id"):
        items = _resolve_item_ids(session, project_id, data["item_ids"])
    else:
        directory_service.get_directory(session, project_id, data["directory_id"])
    job = new_job(session, project_id, job_type, raw_config, items=items,
                  directory_id=data.get("directory_id"), page_size=data.get("page_size"),
                  threshold=data.get("continue_as_new_threshold"))
    if source is not None:
        # Dispatch waits until the import has filled the directory (pipeline.claim_dispatch).
        job.import_id = imports.start_import(
            session, project_id, job.directory_id or "", source,
            (raw_config.get("parameters") or {}).get("input_s3_region")).id
    if idempotency_key:
        session.add(IdempotencyKey(project_id=project_id, key=idempotency_key,
                                   body_hash=body_hash, job_id=job.id))
    return job, True


def new_job(
    session: Session, project_id: str, job_type: str, raw_config: dict[str, Any], *,
    items: Sequence[tuple[str, str | None, str]] | None = None, directory_id: str | None = None,
    page_size: int | None = None, threshold: int | None = None,
    classifier_job_id: str | None = None, retry_of: str | None = None,
) -> BatchJob:
    """Insert a job over a directory (items materialised later) or over resolved items."""
    settings = get_settings()
    config, secret_values = split_secrets(raw_config)
    page_size = page_size or settings.default_page_size
    cacheable = is_cacheable(raw_config)
    # Each item's results must land under the output prefix, so none is skipped as done.
    writes_out = bool((raw_config.get("parameters") or {}).get("output_s3_path_prefix"))
    job = BatchJob(
        id=new_id("bjb-"), project_id=project_id, job_type=job_type, status=JobStatus.PENDING,
        job_config=config, secrets=encrypt(secret_values),
        parameters_hash=parameters_hash(job_type, raw_config), page_size=page_size,
        continue_as_new_threshold=threshold or page_size, cacheable=cacheable,
        # A retry re-runs its items even where an identical file was processed before.
        reuses_results=cacheable and retry_of is None and not writes_out, retry_of=retry_of,
    )
    if job_type == "classify":
        job.classifier_job_id = classifier_job_id or create_classifier_job(
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
    record_event(session, job, JobStatus.PENDING)
    # After the commit: the dispatcher never races the rows it reads.
    unit_of(session).send(DISPATCH_JOB, job.id)
    return job


def create_classifier_job(
    session: Session, project_id: str, config: dict[str, Any], batch_job_id: str | None
) -> str:
    wanted = config.get("id")
    if wanted and session.get(ClassifierJob, wanted) is not None:
        raise Invalid(["body", "job_config", "id"], f"classifier job id {wanted} is in use")
    row = ClassifierJob(
        id=wanted or new_id(), project_id=project_id, batch_job_id=batch_job_id,
        rules=config["rules"], mode=config.get("mode") or DEFAULT_MODE,
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


def job_view(job: BatchJob, by_status: dict[str, int] | None = None) -> dict[str, Any]:
    """The job as the API shows it; ``by_status``: item counts (else the cached counters)."""
    by_status = counts.cached_counts(job) if by_status is None else by_status
    return {
        "id": job.id, "job_type": job.job_type, "project_id": job.project_id,
        "status": job.status, "total_items": job.total_items, "directory_id": job.directory_id,
        **{column: by_status.get(status, 0) for status, column in ITEM_COUNTERS.items()},
        "error_message": job.error_message,
        "created_at": job.created_at, "updated_at": job.updated_at,
        "started_at": job.started_at, "completed_at": job.completed_at,
        "effective_at": job.created_at, "job_record_id": job.id, "workflow_id": job.id,
    }


def fresh_view(session: Session, job: BatchJob) -> dict[str, Any]:
    """Exact counts while a job is live (see counts.live_counts); cached once it has ended."""
    if job.status in JOB_TERMINAL and job.completed_at is not None:
        return job_view(job)
    return job_view(job, counts.live_counts(session, job))


def progress(view: dict[str, Any]) -> float:
    by_status: dict[str, Any] = {status: view.get(column, 0)
                                 for status, column in ITEM_COUNTERS.items()}
    return counts.progress(by_status, view["total_items"], view["status"] in JOB_TERMINAL)


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
    if job.status in JOB_TERMINAL:
        raise Conflict(f"batch job {job_id} is already {job.status}")
    now = utcnow()
    session.execute(
        sa.update(JobItem).where(JobItem.job_id == job_id, JobItem.status == ItemStatus.PENDING)
        .values(status=ItemStatus.CANCELLED, completed_at=now, lease_until=None,
                updated_at=now)
    )
    job.status, job.cancel_reason, job.updated_at = JobStatus.CANCELLED, reason, now
    job.error_message = f"cancelled: {reason}" if reason else "cancelled"
    record_event(session, job, JobStatus.CANCELLED)
    # Unmaterialised items of a directory job are written as cancelled by the dispatcher.
    unit_of(session).send(DISPATCH_JOB, job.id)
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


def list_job_items(
    session: Session, project_id: str, job_id: str, query: dict[str, Any]
) -> dict[str, Any]:
    job = get_job(session, project_id, job_id)
    offset, limit, status = query["offset"], query["limit"], query.get("status")
    if status:
        # The scan starts at the last count mark below the offset and skips the rest in the
        # (job_id, status, position) index alone; only the page's rows are read from the table.
        start, before = counts.scan_start(session, job, status, offset)
        positions = sa.select(JobItem.position).where(
            JobItem.job_id == job_id, JobItem.status == status, JobItem.position >= start
        ).order_by(JobItem.position).offset(offset - before).limit(limit)
        found = session.execute(
            sa.select(JobItem, counts.status_total_column(job, status))
            .where(JobItem.job_id == job_id, JobItem.position.in_(positions))
            .order_by(JobItem.position)).all()
        rows = [row[0] for row in found]
        # The total rides along the page's rows; past the last page it needs its own read.
        total = found[0][1] if found else counts.status_total(session, job, status)
    else:
        # Positions are 0..n-1 without gaps, so an offset is a position: no rows skipped.
        rows = list(session.scalars(sa.select(JobItem).where(
            JobItem.job_id == job_id, JobItem.position >= offset,
            JobItem.position < offset + limit).order_by(JobItem.position)))
        total = job.materialized_items
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
