"""Classifier jobs: a classify batch over files, and its per-file results."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.engines.classify import DEFAULT_MODE
from batchsvc.errors import Invalid
from batchsvc.models import BatchJob, ClassifierJob, JobItem, ProcessingResult, StoredFile
from batchsvc.secrets import split_secrets
from batchsvc.services.batches import create_classifier_job, new_job
from batchsvc.services.paging import decode_token, encode_token
from batchsvc.states import ItemStatus, JobStatus
from batchsvc.webhooks.validation import validate_targets


def create_job(session: Session, project_id: str, data: dict[str, Any]) -> ClassifierJob:
    ids = data["file_ids"]
    if len(set(ids)) != len(ids):
        raise Invalid(["body", "file_ids"], "file_ids must not repeat an id")
    names = dict(session.execute(sa.select(StoredFile.id, StoredFile.name).where(
        StoredFile.id.in_(ids), StoredFile.project_id == project_id,
        StoredFile.deleted_at.is_(None))).all())
    for index, file_id in enumerate(ids):
        if file_id not in names:
            raise Invalid(["body", "file_ids", index], f"no file {file_id} in this project")
    config = {"rules": data["rules"], "mode": data.get("mode") or DEFAULT_MODE,
              "parsing_configuration": data.get("parsing_configuration"),
              "webhook_configurations": data.get("webhook_configurations")}
    validate_targets(config, ["body"])
    # The row's parsing_configuration is returned as it is stored: store it redacted.
    classifier_id = create_classifier_job(session, project_id, split_secrets(config)[0], None)
    job = new_job(session, project_id, "classify", config,
                  items=[(i, i, names[i]) for i in ids], classifier_job_id=classifier_id)
    row = session.get(ClassifierJob, classifier_id)
    assert row is not None
    row.batch_job_id = job.id
    return row


def _status(batch: BatchJob | None) -> str:
    if batch is None:
        return "PENDING"
    if batch.status == JobStatus.CANCELLED:
        return "CANCELLED"
    if batch.status == JobStatus.FAILED:
        return "ERROR"
    if batch.status == JobStatus.COMPLETED:
        return "PARTIAL_SUCCESS" if batch.failed_items else "SUCCESS"
    return "PENDING"


def job_view(session: Session, job: ClassifierJob) -> dict[str, Any]:
    batch = session.get(BatchJob, job.batch_job_id) if job.batch_job_id else None
    return {
        "id": job.id, "project_id": job.project_id, "rules": job.rules,
        "status": _status(batch), "user_id": job.user_id or "", "mode": job.mode,
        "parsing_configuration": job.parsing_configuration, "created_at": job.created_at,
        "updated_at": batch.updated_at if batch else job.updated_at,
        "effective_at": job.created_at, "job_record_id": job.batch_job_id,
        "error_message": batch.error_message if batch else None,
    }


def list_jobs(session: Session, project_id: str, query: dict[str, Any]) -> dict[str, Any]:
    offset, size = decode_token(query.get("page_token")), query.get("page_size") or 100
    stmt = sa.select(ClassifierJob).where(ClassifierJob.project_id == project_id)
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(ClassifierJob.created_at.desc(), ClassifierJob.id)
                           .offset(offset).limit(size + 1)).all()
    return {"items": [job_view(session, r) for r in rows[:size]], "total_size": total,
            "next_page_token": encode_token(offset + size) if len(rows) > size else None}


def results(session: Session, job: ClassifierJob, query: dict[str, Any]) -> dict[str, Any]:
    offset, size = decode_token(query.get("page_token")), query.get("page_size") or 100
    if not job.batch_job_id:
        return {"items": [], "total_size": 0, "next_page_token": None}
    stmt = (sa.select(JobItem, ProcessingResult.output_metadata)
            .outerjoin(ProcessingResult, ProcessingResult.id == JobItem.result_id)
            .where(JobItem.job_id == job.batch_job_id))
    total = session.scalar(sa.select(sa.func.count()).select_from(JobItem).where(
        JobItem.job_id == job.batch_job_id))
    rows = session.execute(stmt.order_by(JobItem.position).offset(offset).limit(size + 1)).all()
    items = []
    for item, output in rows[:size]:
        result = None
        if output and "confidence" in output:
            result = {"type": output.get("type"), "confidence": output["confidence"],
                      "reasoning": output.get("reasoning", "")}
        elif item.status == ItemStatus.FAILED:
            result = {"type": None, "confidence": 0.0,
                      "reasoning": f"not classified: {item.error_message}"}
        items.append({"id": item.result_job_id, "classify_job_id": job.id,
                      "file_id": item.file_id, "result": result,
                      "created_at": item.started_at, "updated_at": item.updated_at})
    return {"items": items, "total_size": total,
            "next_page_token": encode_token(offset + size) if len(rows) > size else None}
