"""Batches: the list, one batch with live progress, cancel, retry, exports, webhooks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from flask import Response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from batchsvc.services import batches as service
from batchsvc.services import deliveries as delivery_service
from batchsvc.services import events as event_service
from batchsvc.services import exports as export_service
from batchsvc.services import retry as retry_service
from batchsvc.states import JOB_TERMINAL
from batchsvc.ui.blueprint import bp, project_id
from batchsvc.ui.forms import PAGE, load, pages, query
from batchsvc.uow import unit_of_work
from schemas import batch as s


def status_body(view: dict[str, Any]) -> dict[str, Any]:
    """The status body the API's GET and events stream answer, plus the cancelled count
    (the SDK's job type has no field for it; the dashboard shows it)."""
    body = s.BatchStatusSchema().dump({"job": view, "progress_percentage":
                                       service.progress(view)})
    body["job"]["cancelled_items"] = view["cancelled_items"]
    return body


@bp.get("/")
@bp.get("/batches")
def batch_list() -> str:
    args = query(s.BatchListQuery(), limit=PAGE)
    with unit_of_work() as db:
        page = service.list_batches(db, project_id(), args)
    rows = [status_body(view) for view in page["items"]]
    return render_template("batches.html", rows=rows, args=args, statuses=s.JOB_STATUSES,
                           job_types=s.JOB_TYPES,
                           paging=pages(args["offset"], args["limit"], page["total_size"]))


@bp.get("/batches/<job_id>")
def batch(job_id: str) -> str:
    items_query = query(s.JobItemsQuery(), limit=PAGE)
    with unit_of_work() as db:
        job = service.get_job(db, project_id(), job_id)
        view = service.fresh_view(db, job)
        retry_of, config = job.retry_of, job.job_config
        items = service.list_job_items(db, project_id(), job_id, items_query)
        deliveries = delivery_service.list_deliveries(db, project_id(), job_id,
                                                      {"offset": 0, "limit": 100})
    return render_template(
        "batch.html", job=status_body(view), retry_of=retry_of, config=config,
        items=items["items"], args=items_query, item_statuses=s.ITEM_STATUSES,
        paging=pages(items_query["offset"], items_query["limit"], items["total_size"]),
        deliveries=deliveries["items"], deliveries_total=deliveries["total_size"],
        # Ended as the events stream tells it: a cancelled job still counts its last items.
        terminal=view["status"] in JOB_TERMINAL and view["completed_at"] is not None)


@bp.get("/batches/<job_id>/events")
def batch_events(job_id: str) -> Response:
    """The API's progress stream (services.events), under the dashboard's session."""
    args = query(s.EventsQuery())
    project = project_id()
    with unit_of_work() as db:
        service.get_job(db, project, job_id)  # 404 before the stream starts
    return Response(event_service.progress_events(project, job_id, args["interval"],
                                                  status_body),
                    mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@bp.post("/batches/<job_id>/cancel")
def cancel(job_id: str) -> BaseResponse:
    body = load(s.CancelSchema(), {"reason": request.form.get("reason") or None}, "body")
    with unit_of_work() as db:
        service.cancel_batch(db, project_id(), job_id, body.get("reason"))
    return redirect(url_for("ui.batch", job_id=job_id), code=303)


@bp.post("/batches/<job_id>/retry")
def retry(job_id: str) -> BaseResponse:
    body = load(s.RetrySchema(), {"include_cancelled": request.form.get("include_cancelled")
                                  == "on"}, "body")
    with unit_of_work() as db:
        job = retry_service.retry_job(db, project_id(), job_id, body["include_cancelled"])
        new_id = job.id
    return redirect(url_for("ui.batch", job_id=new_id), code=303)


@bp.get("/batches/<job_id>/results")
def export(job_id: str) -> Response:
    args = query(s.ResultsQuery())
    with unit_of_work() as db:
        job_type = service.get_job(db, project_id(), job_id).job_type
    body: Iterator[bytes]
    if args["format"] == "zip":
        body, mimetype, name = (export_service.zip_results(job_id, job_type),
                                "application/zip", f"{job_id}.zip")
    else:
        body, mimetype, name = (export_service.jsonl_results(job_id),
                                "application/x-ndjson", f"{job_id}.jsonl")
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


@bp.post("/batches/<job_id>/webhook-deliveries/<delivery_id>/redeliver")
def redeliver(job_id: str, delivery_id: str) -> BaseResponse:
    with unit_of_work() as db:
        delivery_service.redeliver(db, project_id(), job_id, delivery_id)
    return redirect(url_for("ui.batch", job_id=job_id, _anchor="webhooks"), code=303)
