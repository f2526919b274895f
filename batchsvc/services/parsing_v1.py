"""The v1 parsing routes the ``llama-parse`` client calls: a one-item parse job per upload,
its status in the client's terms, and its results."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from batchsvc.engines.parse.model import NO_PAGES_SELECTED
from batchsvc.errors import NotFound
from batchsvc.models import BatchJob, JobItem, StoredFile
from batchsvc.services import parse_jobs
from batchsvc.states import ItemStatus

# The client polls until SUCCESS and raises on anything but PENDING.
V1_STATUS: dict[str, str] = {
    ItemStatus.PENDING: "PENDING", ItemStatus.PROCESSING: "PENDING",
    ItemStatus.COMPLETED: "SUCCESS", ItemStatus.SKIPPED: "SUCCESS",
    ItemStatus.FAILED: "ERROR", ItemStatus.CANCELLED: "CANCELED"}
RESULT_TYPES = ("markdown", "text", "json")


def create_v1(session: Session, project_id: str, stored: StoredFile | None,
              params: dict[str, Any]) -> tuple[JobItem, BatchJob]:
    """A one-item parse job with the client's parameters (already loaded), over an upload or
    the document at ``input_url``."""
    from batchsvc.engines.parse.render_v1 import V1_PAGE_SEPARATOR

    params = dict(params)
    if params.get("page_separator") is None:
        # The client splits pages (split_by_page) on its own default separator.
        params["page_separator"] = V1_PAGE_SEPARATOR
    config = {"job_name": "parse_raw_file_job", "parameters": params}
    return parse_jobs.create_one(session, project_id, stored, config)


def status_view(item: JobItem) -> dict[str, Any]:
    status = V1_STATUS[ItemStatus(item.status)]
    if item.status == ItemStatus.SKIPPED and item.result_id is None:
        status = "ERROR"  # skipped for its size: there is no result to fetch
    failed = status in ("ERROR", "CANCELED")
    code = None
    if failed:
        # The client stops reading partitions at this code; any other failure is raised.
        code = "NO_DATA_FOUND_IN_FILE" if (item.error_message or "").startswith(
            NO_PAGES_SELECTED) else "DOCUMENT_ERROR"
    return {"id": item.result_job_id, "status": status, "error_code": code,
            "error_message": (item.error_message or "cancelled") if failed else None}


def job_status(session: Session, project_id: str, job_id: str) -> dict[str, Any]:
    item, _ = parse_jobs.find_item(session, project_id, job_id)
    return status_view(item)


def job_result(session: Session, project_id: str, job_id: str,
               result_type: str) -> dict[str, Any]:
    from batchsvc.engines.parse.render_v1 import render_v1

    if result_type not in RESULT_TYPES:
        raise NotFound(f"no {result_type} result; results are {', '.join(RESULT_TYPES)}")
    item, job = parse_jobs.find_item(session, project_id, job_id)
    stored = parse_jobs.stored_result(session, item, job)
    if stored is None:
        raise NotFound(f"parse job {job_id} has no result (status "
                       f"{status_view(item)['status']})")
    return render_v1(stored, result_type, item.status == ItemStatus.SKIPPED)


def raw_result(session: Session, project_id: str, job_id: str, result_type: str) -> str:
    """The whole document's markdown or text, its pages joined without a separator (what
    the client's ``JobResult.get_markdown``/``get_text`` read)."""
    from batchsvc.engines.parse.render import page_markdown, page_text

    if result_type not in ("markdown", "text"):
        raise NotFound(f"no raw {result_type} result; raw results are markdown and text")
    item, job = parse_jobs.find_item(session, project_id, job_id)
    stored = parse_jobs.stored_result(session, item, job)
    if stored is None:
        raise NotFound(f"parse job {job_id} has no result (status "
                       f"{status_view(item)['status']})")
    one = page_markdown if result_type == "markdown" else page_text
    ro = stored.get("render_options", {})
    return "\n\n".join(one(p, ro) for p in stored.get("pages", []))
