"""The delivery log of a job, and redelivery: what the webhook-deliveries API serves."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.errors import NotFound
from batchsvc.messaging import DELIVER_WEBHOOK
from batchsvc.models import WebhookAttempt, WebhookDelivery, new_id
from batchsvc.services.batches import get_job
from batchsvc.states import DeliveryStatus
from batchsvc.uow import unit_of


def delivery_view(delivery: WebhookDelivery, attempts: list[WebhookAttempt]) -> dict[str, Any]:
    return {
        "id": delivery.id, "job_id": delivery.job_id,
        "event_id": delivery.payload.get("event_id"), "event_type": delivery.event_type,
        "config_index": delivery.config_index, "url": delivery.url, "status": delivery.status,
        "attempts": delivery.attempts, "next_attempt_at": delivery.next_attempt_at,
        "last_status_code": delivery.last_status_code, "last_error": delivery.last_error,
        "created_at": delivery.created_at, "delivered_at": delivery.delivered_at,
        "attempt_log": [
            {"attempt": a.attempt, "status_code": a.status_code, "latency_ms": a.latency_ms,
             "error": a.error, "attempted_at": a.attempted_at} for a in attempts],
        "payload": delivery.payload,
    }


def _attempts(session: Session, ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    out: dict[str, list[WebhookAttempt]] = {i: [] for i in ids}
    if ids:
        for row in session.scalars(sa.select(WebhookAttempt).where(
                WebhookAttempt.delivery_id.in_(ids)).order_by(WebhookAttempt.id)):
            out[row.delivery_id].append(row)
    return out


def list_deliveries(
    session: Session, project_id: str, job_id: str, query: dict[str, Any]
) -> dict[str, Any]:
    """A job's deliveries, oldest first, each with every attempt made."""
    get_job(session, project_id, job_id)
    stmt = sa.select(WebhookDelivery).where(WebhookDelivery.job_id == job_id)
    for key in ("status", "event_type"):
        if query.get(key):
            stmt = stmt.where(getattr(WebhookDelivery, key) == query[key])
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(WebhookDelivery.created_at, WebhookDelivery.id)
                           .offset(query["offset"]).limit(query["limit"])).all()
    attempts = _attempts(session, [r.id for r in rows])
    return {"items": [delivery_view(r, attempts[r.id]) for r in rows], "total_size": total}


def redeliver(session: Session, project_id: str, job_id: str, delivery_id: str) -> dict[str, Any]:
    """Send an event again to the same configuration, as a new delivery with its own log.

    The event id stays the same, so a receiver that already handled it can tell."""
    get_job(session, project_id, job_id)
    original = session.get(WebhookDelivery, delivery_id)
    if original is None or original.job_id != job_id:
        raise NotFound(f"webhook delivery {delivery_id} not found for batch job {job_id}")
    copy = WebhookDelivery(
        id=new_id("whd-"), job_id=job_id, project_id=original.project_id,
        config_index=original.config_index, event_type=original.event_type,
        url=original.url, payload=original.payload, status=DeliveryStatus.PENDING, attempts=0)
    session.add(copy)
    session.flush()
    unit_of(session).send(DELIVER_WEBHOOK, copy.id)
    return delivery_view(copy, [])
