"""/api/v1/beta/batch-processing/{job_id}/webhook-deliveries: the delivery log and redelivery."""

from __future__ import annotations

from flask import Blueprint

from batchsvc.api.common import dump, project_id, query_args
from batchsvc.services import deliveries as service
from batchsvc.uow import unit_of_work
from schemas import webhooks as s

bp = Blueprint("webhooks", __name__, url_prefix="/api/v1/beta/batch-processing")


@bp.get("/<job_id>/webhook-deliveries")
def list_deliveries(job_id: str):
    query = query_args(s.DeliveryListQuery())
    with unit_of_work() as session:
        page = service.list_deliveries(session, project_id(), job_id, query)
    return dump(s.WebhookDeliveryListSchema(), page)


@bp.post("/<job_id>/webhook-deliveries/<delivery_id>/redeliver")
def redeliver(job_id: str, delivery_id: str):
    # The new delivery is enqueued when the unit of work commits (the outbox hook).
    with unit_of_work() as session:
        view = service.redeliver(session, project_id(), job_id, delivery_id)
    return dump(s.WebhookDeliverySchema(), view), 202
