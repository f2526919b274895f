"""Engine results: ``GET /api/v2/parse/{job_id}`` and the classifier jobs API."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, request

from batchsvc.api.common import json_body, load, project_id, query_args, unit_of_work
from batchsvc.models import BatchJob, ClassifierJob, JobItem, ProcessingResult
from batchsvc.services import classifier as classifier_service
from batchsvc.services.errors import NotFound
from batchsvc.storage import get_storage
from schemas import classifier as s
from tasks.app import send_or_defer

bp = Blueprint("results", __name__)

PARSE_STATUS = {"pending": "PENDING", "processing": "RUNNING", "completed": "COMPLETED",
                "skipped": "COMPLETED", "failed": "FAILED", "cancelled": "CANCELLED"}


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


@bp.post("/api/v1/classifier/jobs")
def create_classifier_job():
    data = load(s.ClassifierJobCreateSchema(), json_body(), "body")
    with unit_of_work() as session:
        job, batch_id = classifier_service.create_job(session, project_id(), data)
        view = classifier_service.job_view(session, job)
    # Committed first; a broker outage leaves the job pending for the sweeper to dispatch.
    send_or_defer("batchsvc.dispatch_job", batch_id)
    return s.ClassifyJobSchema().dump(view)


@bp.get("/api/v1/classifier/jobs")
def list_classifier_jobs():
    query = query_args(s.ClassifierJobListQuery())
    with unit_of_work() as session:
        return s.ClassifierJobListSchema().dump(
            classifier_service.list_jobs(session, project_id(), query))


@bp.get("/api/v1/classifier/jobs/<job_id>")
def get_classifier_job(job_id: str):
    with unit_of_work() as session:
        job = _classifier_job(session, job_id)
        return s.ClassifyJobSchema().dump(classifier_service.job_view(session, job))


@bp.get("/api/v1/classifier/jobs/<job_id>/results")
def classifier_results(job_id: str):
    query = query_args(s.ClassifierResultsQuery())
    with unit_of_work() as session:
        job = _classifier_job(session, job_id)
        return s.ClassifierResultsSchema().dump(
            classifier_service.results(session, job, query))


def _classifier_job(session, job_id: str) -> ClassifierJob:  # type: ignore[no-untyped-def]
    job = session.get(ClassifierJob, job_id)
    if job is None or job.project_id != project_id():
        raise NotFound(f"classifier job {job_id} not found")
    return job
