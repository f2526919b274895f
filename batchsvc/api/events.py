"""``GET /api/v1/beta/batch-processing/{job_id}/events``: progress as server-sent events."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from batchsvc.api.common import project_id, query_args
from batchsvc.services import batches as batch_service
from batchsvc.services import events as service
from batchsvc.uow import unit_of_work
from schemas.batch import BatchStatusSchema, EventsQuery

bp = Blueprint("events", __name__, url_prefix="/api/v1/beta/batch-processing")


def status_body(view: dict[str, Any]) -> dict[str, Any]:
    return BatchStatusSchema().dump({"job": view,
                                     "progress_percentage": batch_service.progress(view)})


@bp.get("/<job_id>/events")
def events(job_id: str):
    query = query_args(EventsQuery())
    project = project_id()
    with unit_of_work() as session:
        batch_service.get_job(session, project, job_id)  # 404 before the stream starts
    return Response(service.progress_events(project, job_id, query["interval"], status_body),
                    mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
