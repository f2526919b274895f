"""``GET /api/v1/beta/batch-processing/{job_id}/results``: every item's result, streamed."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

from flask import Blueprint, Response

from batchsvc.api.common import project_id, query_args
from batchsvc.services import batches as batch_service
from batchsvc.services import exports as service
from batchsvc.uow import unit_of_work
from schemas.batch import ResultsQuery

bp = Blueprint("exports", __name__, url_prefix="/api/v1/beta/batch-processing")


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


def _download(body: Iterator[bytes], mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
        "X-Accel-Buffering": "no"})
