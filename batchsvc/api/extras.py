"""Beyond the peers: ``…/{job_id}/retry``, ``…/{job_id}/results``, ``…/{job_id}/events``."""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Response

from batchsvc.api.common import dump, json_body, load, project_id, query_args, unit_of_work
from batchsvc.services import batches as batch_service
from batchsvc.services import extras as service
from schemas.batch import RetrySchema
from schemas.extras import EventsQuery, ResultsQuery, RetryJobSchema
from tasks.app import send_or_defer

bp = Blueprint("extras", __name__, url_prefix="/api/v1/beta/batch-processing")


@bp.post("/<job_id>/retry")
def retry(job_id: str):
    body = load(RetrySchema(), json_body(), "body")
    with unit_of_work() as session:
        job = service.retry_job(session, project_id(), job_id, body["include_cancelled"])
        view = batch_service.job_view(job) | {"retry_of": job.retry_of}
    # Committed first: the dispatcher never races the rows it reads.
    send_or_defer("batchsvc.dispatch_job", job.id)
    return dump(RetryJobSchema(), view), 200


@bp.get("/<job_id>/results")
def results(job_id: str):
    query = query_args(ResultsQuery())
    with unit_of_work() as session:
        job_type = batch_service.get_job(session, project_id(), job_id).job_type
    if query["format"] == "zip":
        return _download(service.zip_results(job_id, job_type), "application/zip",
                         f"{job_id}.zip")
    return _download(service.jsonl_results(job_id), "application/x-ndjson",
                     f"{job_id}.jsonl")


def _download(body, mimetype: str, filename: str) -> Response:  # type: ignore[no-untyped-def]
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
        "X-Accel-Buffering": "no"})


@bp.get("/<job_id>/events")
def events(job_id: str):
    query = query_args(EventsQuery())
    project = project_id()
    with unit_of_work() as session:
        batch_service.get_job(session, project, job_id)  # 404 before the stream starts
    return Response(service.progress_events(project, job_id, query["interval"]),
                    mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
