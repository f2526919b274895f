"""One item of a batch with its stored result: what the dashboard's result page shows."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.engines.parse.detect import IMAGE_FORMATS
from batchsvc.errors import NotFound
from batchsvc.models import JobItem, ProcessingResult, StoredFile
from batchsvc.services.batches import get_job, item_view, job_view
from batchsvc.storage import StorageError, get_storage

# Kinds whose pages can be drawn: a PDF's pages, an image file's frames.
DRAWABLE = ("pdf", "image")
PAGE_IMAGE_MAX_SIDE = 1400


def _item(session: Session, project_id: str, job_id: str, item_id: str) -> JobItem:
    get_job(session, project_id, job_id)
    item = session.scalars(sa.select(JobItem).where(
        JobItem.job_id == job_id, JobItem.item_id == item_id)
        .order_by(JobItem.position).limit(1)).first()
    if item is None:
        raise NotFound(f"item {item_id} not found in batch job {job_id}")
    return item


def item_result(session: Session, project_id: str, job_id: str, item_id: str
                ) -> dict[str, Any]:
    """The item as the items listing shows it, its job, and its result when it has one:
    ``output`` is the stored engine output (a parse result's pages, a classification),
    ``output_error`` says why stored bytes could not be read."""
    job = get_job(session, project_id, job_id)
    item = _item(session, project_id, job_id, item_id)
    result = session.get(ProcessingResult, item.result_id) if item.result_id else None
    out: dict[str, Any] = {"job": job_view(job), "item": item_view(item, job.job_type),
                           "file_id": item.file_id, "output": None, "output_error": None,
                           "output_metadata": None, "processed_at": None,
                           "drawable": _drawable_kind(session.get(StoredFile, item.file_id))
                           is not None if item.file_id else False}
    if result is None:
        return out
    out["output_metadata"], out["processed_at"] = result.output_metadata, result.processed_at
    if result.output_key:
        try:
            out["output"] = json.loads(get_storage().get_bytes(result.output_key))
        except (StorageError, ValueError) as exc:
            out["output_error"] = f"the stored result could not be read: {exc}"
    return out


def _drawable_kind(row: StoredFile | None) -> str | None:
    """``pdf`` or ``image`` for a live file whose pages can be drawn, else None."""
    if row is None or row.deleted_at is not None:
        return None
    kind = "image" if row.content_type in IMAGE_FORMATS else row.content_type
    return kind if kind in DRAWABLE else None


def page_image(session: Session, project_id: str, job_id: str, item_id: str,
               page_number: int) -> bytes:
    """A PNG of one page of the item's file, drawn from the file itself; NotFound when the
    file is gone, is not of a drawable kind, or has no such page."""
    item = _item(session, project_id, job_id, item_id)
    row = session.get(StoredFile, item.file_id) if item.file_id else None
    kind = _drawable_kind(row)
    if row is None or kind is None or page_number < 1:
        raise NotFound(f"no image of page {page_number} for item {item_id}")
    from batchsvc.engines.parse import ParseError
    from batchsvc.engines.parse.page_images import render_pages

    try:
        images = render_pages(get_storage().get_bytes(row.storage_key), kind, [page_number],
                              PAGE_IMAGE_MAX_SIDE)
    except (ParseError, IndexError, StorageError) as exc:
        raise NotFound(f"no image of page {page_number} for item {item_id}: {exc}") from exc
    if not images:
        raise NotFound(f"no image of page {page_number} for item {item_id}")
    return images[0]
