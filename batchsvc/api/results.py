"""Engine results: ``GET /api/v2/parse/{job_id}``."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, request

from batchsvc.api.common import project_id
from batchsvc.errors import NotFound
from batchsvc.models import BatchJob, JobItem, ProcessingResult
from batchsvc.states import ItemStatus
from batchsvc.storage import get_storage
from batchsvc.uow import unit_of_work

bp = Blueprint("results", __name__)

PARSE_STATUS: dict[str, str] = {ItemStatus.PENDING: "PENDING", ItemStatus.PROCESSING: "RUNNING",
                ItemStatus.COMPLETED: "COMPLETED", ItemStatus.SKIPPED: "COMPLETED",
                ItemStatus.FAILED: "FAILED", ItemStatus.CANCELLED: "CANCELLED"}


@bp.get("/api/v2/parse/<job_id>")
def parse_result(job_id: str):
    expand = [e for raw in request.args.getlist("expand") for e in raw.split(",") if e]
    with unit_of_work() as session:
        item = session.scalar(sa.select(JobItem).where(JobItem.result_job_id == job_id))
        if item is None or item.project_id != project_id():
            raise NotFound(f"parse job {job_id} not found")
        job_type = session.scalar(sa.select(BatchJob.job_type).where(BatchJob.id == item.job_id))
        result = session.get(ProcessingResult, item.result_id) if item.result_id else None
        job = {"id": job_id, "project_id": item.project_id, "name": item.item_name,
               "status": PARSE_STATUS[item.status], "error_message": item.error_message,
               "created_at": item.started_at, "updated_at": item.updated_at}
        output_key = result.output_key if result is not None else None
    if job_type != "parse" or output_key is None:
        return {"job": _iso(job)}
    from batchsvc.engines.parse import render_v2

    stored = json.loads(get_storage().get_bytes(output_key))
    return render_v2(stored, _iso(job), expand)


def _iso(job: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in job.items()}
