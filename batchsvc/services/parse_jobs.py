"""One-file parse jobs (``/api/v2/parse``): a one-item batch job, and every parse item as a
v2 parse job.

A v2 job is the item of a job made by ``batches.new_job``, so it rides the same dispatch,
item task, dedup cache, lineage and webhooks as a batch; its id is the item's
``result_job_id``, which every batch item has too."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.errors import Invalid, NotFound
from batchsvc.models import BatchJob, JobItem, ProcessingResult, StoredFile, new_id
from batchsvc.services import files as file_service
from batchsvc.services.batches import new_job
from batchsvc.services.paging import decode_token, encode_token
from batchsvc.services.parse_options import to_parameters
from batchsvc.states import ItemStatus
from batchsvc.storage import get_storage
from batchsvc.webhooks.fetch import name_of
from batchsvc.webhooks.safety import Refused
from batchsvc.webhooks.validation import validate_targets

PARSE_STATUS: dict[str, str] = {
    ItemStatus.PENDING: "PENDING", ItemStatus.PROCESSING: "RUNNING",
    ItemStatus.COMPLETED: "COMPLETED", ItemStatus.SKIPPED: "COMPLETED",
    ItemStatus.FAILED: "FAILED", ItemStatus.CANCELLED: "CANCELLED"}
# A skipped item without a result was skipped for its size: FAILED, not COMPLETED.
_SIZE_SKIPPED = sa.and_(JobItem.status == ItemStatus.SKIPPED, JobItem.result_id.is_(None))
STATUS_FILTERS: dict[str, Any] = {
    "PENDING": JobItem.status == ItemStatus.PENDING,
    "RUNNING": JobItem.status == ItemStatus.PROCESSING,
    "COMPLETED": sa.or_(JobItem.status == ItemStatus.COMPLETED, sa.and_(
        JobItem.status == ItemStatus.SKIPPED, JobItem.result_id.is_not(None))),
    "FAILED": sa.or_(JobItem.status == ItemStatus.FAILED, _SIZE_SKIPPED),
    "CANCELLED": JobItem.status == ItemStatus.CANCELLED,
}
DEFAULT_PAGE_SIZE = 100
IMAGE_LINK_TTL_SECONDS = 3600


def create_parse(session: Session, project_id: str, data: dict[str, Any], where: str = "body",
                 upload: StoredFile | None = None) -> tuple[JobItem, BatchJob]:
    """Write a one-item parse job for the request ``data`` (schema-loaded); (item, job)."""
    for unsupported in ("configuration_id", "webhook_configuration_ids"):
        if data.get(unsupported):
            raise Invalid([where, unsupported], "saved configurations are not kept by this "
                          "service; send the options with the request")
    try:
        params, not_applied = to_parameters(data)
    except ValueError as exc:
        dotted = str(exc).split(":", 1)[0]
        raise Invalid([where, *dotted.split(".")], str(exc)) from None
    if data.get("source_url"):
        params["input_url"] = data["source_url"]
    stored = upload or (None if data.get("source_url") else _input_file(
        session, project_id, data, where))
    config: dict[str, Any] = {
        "job_name": "parse_raw_file_job", "parameters": params,
        "webhook_configurations": data.get("webhook_configurations"),
        # What the v2 job shows of itself, beside the parameters the engine reads.
        "parse_v2": {"tier": data["tier"], "version": data["version"],
                     "user_metadata": data.get("user_metadata"),
                     "client_name": data.get("client_name"),
                     "options_not_applied": not_applied},
    }
    return create_one(session, project_id, stored, config, where)


def create_one(session: Session, project_id: str, stored: StoredFile | None,
               config: dict[str, Any], where: str = "body") -> tuple[JobItem, BatchJob]:
    """The one-item parse job of ``config`` over ``stored``, or over the document at its
    ``input_url`` (fetched by the worker); (item, job)."""
    validate_targets(config, [where])
    if stored is not None:
        entry: tuple[str, str | None, str] = (stored.id, stored.id, stored.name)
    else:
        url = config["parameters"]["input_url"]
        field = "source_url" if "parse_v2" in config else "input_url"
        try:
            name = name_of(url)
        except Refused as exc:
            raise Invalid([where, field], f"{field} {exc}") from None
        entry = (new_id("url-"), None, name)
    # Chosen before the job exists, so its very first webhook event can name it.
    config["parse_job_id"] = parse_job_id = new_id()
    job = new_job(session, project_id, "parse", config, items=[entry])
    item = session.scalars(sa.select(JobItem).where(JobItem.job_id == job.id)).one()
    item.result_job_id = parse_job_id
    session.flush()
    return item, job


def _input_file(session: Session, project_id: str, data: dict[str, Any],
                where: str) -> StoredFile:
    row = session.get(StoredFile, data["file_id"])
    if row is None or row.project_id != project_id or row.deleted_at is not None:
        raise Invalid([where, "file_id"], f"no file {data['file_id']} in this project")
    return row


def store_upload(session: Session, project_id: str, name: str, stream: Any) -> StoredFile:
    """The multipart ``file`` of ``/api/v2/parse/upload`` as a project file."""
    return file_service.store_upload(session, project_id, name, stream, purpose="parse")


def find_item(session: Session, project_id: str | None, parse_job_id: str
              ) -> tuple[JobItem, BatchJob]:
    """The item and job behind a parse job id; ``project_id`` None: a signed link's, which
    names the job itself."""
    row = session.execute(sa.select(JobItem, BatchJob).join(
        BatchJob, BatchJob.id == JobItem.job_id).where(
        JobItem.result_job_id == parse_job_id)).first()
    if row is None or row[1].job_type != "parse" or (
            project_id is not None and row[0].project_id != project_id):
        raise NotFound(f"parse job {parse_job_id} not found")
    return row[0], row[1]


def job_view(item: JobItem, job: BatchJob) -> dict[str, Any]:
    """The SDK's parse ``Job``: a v2 job's tier and tags; a batch item's parse mode tier."""
    v2 = (job.job_config or {}).get("parse_v2") or {}
    status = PARSE_STATUS[ItemStatus(item.status)]
    if item.status == ItemStatus.SKIPPED and item.result_id is None:
        status = "FAILED"  # skipped for its size: no result will come
    return {"id": item.result_job_id, "project_id": item.project_id,
            "status": status, "name": item.item_name,
            "error_message": item.error_message, "tier": v2.get("tier") or "fast",
            "user_metadata": v2.get("user_metadata"), "created_at": job.created_at,
            "updated_at": item.updated_at}


def list_parse_jobs(session: Session, project_id: str, query: dict[str, Any]
                    ) -> dict[str, Any]:
    """Parse jobs newest first, batch items among them; cursor paged."""
    offset = decode_token(query.get("page_token"))
    size = query.get("page_size") or DEFAULT_PAGE_SIZE
    stmt = sa.select(JobItem, BatchJob).join(BatchJob, BatchJob.id == JobItem.job_id).where(
        JobItem.project_id == project_id, BatchJob.job_type == "parse")
    if query.get("status"):
        stmt = stmt.where(STATUS_FILTERS[query["status"]])
    after: datetime | None = query.get("created_at_on_or_after")
    before: datetime | None = query.get("created_at_on_or_before")
    if after is not None:
        stmt = stmt.where(BatchJob.created_at >= after)
    if before is not None:
        stmt = stmt.where(BatchJob.created_at <= before)
    if query.get("job_ids"):
        stmt = stmt.where(JobItem.result_job_id.in_(query["job_ids"]))
    rows = session.execute(stmt.order_by(BatchJob.created_at.desc(), JobItem.seq)
                           .offset(offset).limit(size + 1)).all()
    return {"items": [job_view(item, job) for item, job in rows[:size]],
            "next_page_token": encode_token(offset + size) if len(rows) > size else None}


def stored_result(session: Session, item: JobItem, job: BatchJob) -> dict[str, Any] | None:
    """The item's stored engine result (None until there is one), with the v2 job's own
    report (options not applied, the tier that ran) in its job_metadata."""
    result = session.get(ProcessingResult, item.result_id) if item.result_id else None
    if result is None:
        return None
    stored: dict[str, Any] = json.loads(get_storage().get_bytes(result.output_key))
    meta = stored.setdefault("job_metadata", {})
    # Webhook events name the batch job the parse job rides in: this ties them together.
    meta["batch_job_id"] = job.id
    v2 = (job.job_config or {}).get("parse_v2")
    if v2:
        meta["options_not_applied"] = [*v2.get("options_not_applied", []),
                                       *meta.get("options_not_applied", [])]
        ran = v2["tier"] if meta.get("llm") else "fast"
        meta["tier"] = {"requested": v2["tier"], "version": v2["version"], "used": ran}
        if ran != v2["tier"]:
            meta["tier"]["reason"] = ("no LLM provider is configured by the operator; "
                                      "parsed with the local (fast) engine")
    return stored


def result_file(session: Session, parse_job_id: str, kind: str) -> bytes:
    """One of the result's files (``render.result_files``) for a signed link."""
    from batchsvc.engines.parse.render import result_files

    stored = stored_result(session, *find_item(session, None, parse_job_id))
    files = result_files(stored) if stored else {}
    if kind not in files:
        raise NotFound(f"parse job {parse_job_id} has no {kind} result")
    return files[kind]


def image_records(stored: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The stored images of a result by file name (only those the store holds)."""
    return {im["name"]: im for p in (stored or {}).get("pages", [])
            for im in p.get("images") or [] if im.get("key")}


def image_url(record: dict[str, Any], fallback: str) -> str:
    """The store's own presigned URL for an image, else ``fallback`` (a link the API signs)."""
    url = get_storage().presigned_get(record["key"], IMAGE_LINK_TTL_SECONDS, record["name"])
    return url or fallback


def image_file(session: Session, parse_job_id: str, name: str,
               project_id: str | None = None) -> tuple[bytes, str]:
    """(bytes, content type) of one stored image; ``project_id`` None: a signed link's."""
    item, job = find_item(session, project_id, parse_job_id)
    record = image_records(stored_result(session, item, job)).get(name)
    if record is None:
        raise NotFound(f"parse job {parse_job_id} has no image {name}")
    return get_storage().get_bytes(record["key"]), record["content_type"]
