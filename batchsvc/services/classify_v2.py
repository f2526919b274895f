"""One-file classify jobs (``/api/v2/classify``): a one-item classify batch each, on the same
queue, item task, dedup cache, lineage and webhooks as every batch item."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.engines.classify import DEFAULT_MODE
from batchsvc.engines.parse.options import zero_based_pages
from batchsvc.errors import Invalid, NotFound
from batchsvc.models import BatchJob, ClassifyV2Job, JobItem, ProcessingResult
from batchsvc.services.batches import find_files, new_job
from batchsvc.services.paging import decode_token, encode_token
from batchsvc.states import ItemStatus, JobStatus
from batchsvc.webhooks.validation import validate_targets

# A parse whose item ended so has a stored result to classify.
PARSED = (ItemStatus.COMPLETED, ItemStatus.SKIPPED)


@dataclass(frozen=True)
class Source:
    """What a ``file_input`` names: the file to classify, and the parse job whose text is
    classified when it names one."""

    document_input_type: str
    file_id: str
    name: str
    parse_job_id: str | None = None


def create(session: Session, project_id: str, data: dict[str, Any]) -> ClassifyV2Job:
    """The job for ``data`` (schema-loaded); the original one when its transaction_id was
    used."""
    transaction_id = data.get("transaction_id")
    if transaction_id:
        original = session.scalar(sa.select(ClassifyV2Job).where(
            ClassifyV2Job.project_id == project_id,
            ClassifyV2Job.transaction_id == transaction_id))
        if original is not None:
            return original  # the SDK's contract: the new body is ignored
    field = data["input_field"]  # file_input, or the SDK's deprecated file_id / parse_job_id
    source = resolve_input(session, project_id, data[field], ["body", field])
    configuration = data["configuration"]
    config: dict[str, Any] = {
        "rules": configuration["rules"], "mode": configuration.get("mode") or DEFAULT_MODE,
        "parsing_configuration": engine_parsing(configuration.get("parsing_configuration")),
        "webhook_configurations": data.get("webhook_configurations"),
    }
    if source.parse_job_id:
        config["parse_job_id"] = source.parse_job_id
    validate_targets(config, ["body"])
    job = new_job(session, project_id, "classify", config,
                  items=[(source.file_id, source.file_id, source.name)])
    row = ClassifyV2Job(id=job.id, project_id=project_id, file_input=data[field],
                        document_input_type=source.document_input_type,
                        parse_job_id=source.parse_job_id, configuration=configuration,
                        transaction_id=transaction_id)
    session.add(row)
    session.flush()
    return row


def engine_parsing(parsing: dict[str, Any] | None) -> dict[str, Any] | None:
    """The v2 parsing configuration as the classify engine takes it (0-based target_pages)."""
    if not parsing:
        return None
    out = {k: v for k, v in parsing.items() if v is not None}
    if out.get("target_pages"):
        out["target_pages"] = zero_based_pages(out["target_pages"])
    return out or None


def resolve_input(session: Session, project_id: str, ident: str, loc: list[Any]) -> Source:
    """A file id, a directory file id, or a parse job id (a batch item's or a one-file parse
    job's ``job_id``) of this project; 422 at ``loc`` otherwise."""
    known = find_files(session, project_id, [ident]).get(ident)
    if known is not None:
        return Source("file_id", *known)
    found = session.execute(
        sa.select(JobItem, BatchJob.job_type).join(BatchJob, BatchJob.id == JobItem.job_id)
        .where(JobItem.result_job_id == ident, JobItem.project_id == project_id)).first()
    if found is None:
        raise Invalid(loc, f"no file or parse job {ident} in this project")
    item, job_type = found
    if job_type != "parse":
        raise Invalid(loc, f"{ident} is a {job_type} job, not a parse job")
    if item.status not in PARSED or not item.result_id:
        raise Invalid(loc, f"parse job {ident} is {item.status}: classify it once it has "
                      "completed")
    if not item.file_id:
        raise Invalid(loc, f"parse job {ident} has no stored file to classify")
    return Source("parse_job_id", item.file_id, item.item_name, ident)


def _status(batch: BatchJob) -> str:
    if batch.status in (JobStatus.PENDING, JobStatus.DISPATCHED):
        return "PENDING"
    if batch.status == JobStatus.RUNNING:
        return "RUNNING"
    if batch.status == JobStatus.COMPLETED and not batch.failed_items:
        return "COMPLETED"
    return "FAILED"


STATUS_WHERE = {
    "PENDING": BatchJob.status.in_([JobStatus.PENDING, JobStatus.DISPATCHED]),
    "RUNNING": BatchJob.status == JobStatus.RUNNING,
    "COMPLETED": sa.and_(BatchJob.status == JobStatus.COMPLETED, BatchJob.failed_items == 0),
    "FAILED": sa.or_(BatchJob.status.in_([JobStatus.FAILED, JobStatus.CANCELLED]),
                     sa.and_(BatchJob.status == JobStatus.COMPLETED, BatchJob.failed_items > 0)),
}


def _select() -> sa.Select[Any]:
    return (sa.select(ClassifyV2Job, BatchJob, JobItem.error_message,
                      ProcessingResult.output_metadata)
            .join(BatchJob, BatchJob.id == ClassifyV2Job.id)
            .join(JobItem, JobItem.job_id == ClassifyV2Job.id)
            .outerjoin(ProcessingResult, ProcessingResult.id == JobItem.result_id))


def _view(row: ClassifyV2Job, batch: BatchJob, item_error: str | None,
          output: dict[str, Any] | None) -> dict[str, Any]:
    status = _status(batch)
    result = None
    if status == "COMPLETED" and output and "confidence" in output:
        result = {"type": output.get("type"), "confidence": output["confidence"],
                  "reasoning": output.get("reasoning") or ""}
    return {
        "id": row.id, "project_id": row.project_id, "user_id": "",
        "configuration": row.configuration, "configuration_id": None,
        "document_input_type": row.document_input_type, "file_input": row.file_input,
        "parse_job_id": row.parse_job_id, "status": status,
        "error_message": (item_error or batch.error_message) if status == "FAILED" else None,
        "result": result, "transaction_id": row.transaction_id,
        "created_at": row.created_at, "updated_at": batch.updated_at,
    }


def get(session: Session, project_id: str, job_id: str) -> dict[str, Any]:
    found = session.execute(_select().where(ClassifyV2Job.id == job_id,
                                            ClassifyV2Job.project_id == project_id)).first()
    if found is None:
        raise NotFound(f"classify job {job_id} not found")
    return _view(*found)


def list_jobs(session: Session, project_id: str, query: dict[str, Any]) -> dict[str, Any]:
    offset, size = decode_token(query.get("page_token")), query.get("page_size") or 100
    stmt = _select().where(ClassifyV2Job.project_id == project_id)
    if query.get("configuration_id"):
        stmt = stmt.where(sa.false())  # no job here was made from a saved configuration
    if query.get("job_ids"):
        stmt = stmt.where(ClassifyV2Job.id.in_(query["job_ids"]))
    if query.get("created_at_on_or_after"):
        stmt = stmt.where(ClassifyV2Job.created_at >= query["created_at_on_or_after"])
    if query.get("created_at_on_or_before"):
        stmt = stmt.where(ClassifyV2Job.created_at <= query["created_at_on_or_before"])
    if query.get("status"):
        stmt = stmt.where(STATUS_WHERE[query["status"]])
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = session.execute(stmt.order_by(ClassifyV2Job.created_at.desc(), ClassifyV2Job.id)
                           .offset(offset).limit(size + 1)).all()
    return {"items": [_view(*r) for r in rows[:size]], "total_size": total,
            "next_page_token": encode_token(offset + size) if len(rows) > size else None}
