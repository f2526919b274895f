"""/api/v1/beta/batch-processing"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from sqlalchemy.exc import IntegrityError

from batchsvc.api.common import dump, json_body, load, project_id, query_args
from batchsvc.errors import Invalid
from batchsvc.services import batches as service
from batchsvc.services import retry as retry_service
from batchsvc.states import JobStatus
from batchsvc.uow import read_only, unit_of_work
from schemas import batch as s

bp = Blueprint("batches", __name__, url_prefix="/api/v1/beta/batch-processing")


@bp.post("")
def create():
    data = load(s.BatchCreateSchema(), json_body(), "body")
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 1 <= len(key) <= 255:
        raise Invalid(["header", "Idempotency-Key"], "must be 1 to 255 characters")
    try:
        view = _create(data, key)
    except IntegrityError:
        if not key:
            raise
        # A concurrent request with the same key committed first: answer as it was answered.
        view = _create(data, key)
    return dump(s.BatchJobSchema(), view), 200


def _create(data: dict[str, Any], key: str | None) -> dict[str, Any]:
    with unit_of_work() as session:
        job, _ = service.create_batch(session, project_id(), data, key)
        return service.job_view(job)


@bp.get("")
def list_jobs():
    query = query_args(s.BatchListQuery())
    with read_only() as session:
        return dump(s.BatchListSchema(), service.list_batches(session, project_id(), query))


@bp.get("/<job_id>")
def get_status(job_id: str):
    with read_only() as session:
        view = service.fresh_view(session, service.get_job(session, project_id(), job_id))
    return dump(s.BatchStatusSchema(), {"job": view,
                                        "progress_percentage": service.progress(view)})


@bp.post("/<job_id>/cancel")
def cancel(job_id: str):
    body = load(s.CancelSchema(), json_body(), "body")
    reason = body.get("reason") or request.args.get("reason")
    with unit_of_work() as session:
        job = service.cancel_batch(session, project_id(), job_id, reason)
        view = service.fresh_view(session, job)
    return dump(s.CancelResponseSchema(), {
        "job_id": job_id, "status": JobStatus.CANCELLED, "processed_items": view["processed_items"],
        "message": "job cancelled; pending items were cancelled, running items may finish"})


@bp.get("/<job_id>/items")
def items(job_id: str):
    query = query_args(s.JobItemsQuery())
    with read_only() as session:
        return dump(s.JobItemListSchema(),
                    service.list_job_items(session, project_id(), job_id, query))


@bp.get("/items/<item_id>/processing-results")
def processing_results(item_id: str):
    query = query_args(s.ProcessingResultsQuery())
    with read_only() as session:
        return dump(s.ProcessingResultsSchema(), service.processing_results(
            session, project_id(), item_id, query.get("job_type")))


@bp.post("/<job_id>/retry")
def retry(job_id: str):
    body = load(s.RetrySchema(), json_body(), "body")
    with unit_of_work() as session:
        job = retry_service.retry_job(session, project_id(), job_id, body["include_cancelled"])
        view = service.job_view(job) | {"retry_of": job.retry_of}
    return dump(s.RetryJobSchema(), view), 200
