"""Write webhook deliveries into the outbox in the caller's transaction.

The ids of new deliveries are collected in ``session.info["outbox"]``; whoever commits the
session enqueues them afterwards (see ``tasks.app``), and the sweeper re-sends any that a lost
message left behind.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from batchsvc.models import BatchJob, WebhookDelivery, new_id

FINAL_EVENTS = {"success", "partial_success", "error", "cancelled"}


def webhook_targets(job_config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every webhook configuration of a job, in a stable order (the index is the config id)."""
    targets: list[dict[str, Any]] = []
    params = job_config.get("parameters") or {}
    for source in (job_config, params):
        if source.get("webhook_url"):
            targets.append({"webhook_url": source["webhook_url"], "webhook_events": None})
    for source in (job_config, params):
        for config in source.get("webhook_configurations") or []:
            if config and config.get("webhook_url"):
                targets.append(config)
    return targets


def event_payload(job: BatchJob, event_type: str, event_id: str) -> dict[str, Any]:
    total = job.total_items
    return {
        "event_id": event_id,
        "event_type": event_type,
        "created_at": datetime.now(UTC).isoformat(),
        "data": {
            "job_id": job.id,
            "job_type": job.job_type,
            "status": job.status,
            "project_id": job.project_id,
            "total_items": total,
            "processed_items": job.processed_items,
            "failed_items": job.failed_items,
            "skipped_items": job.skipped_items,
            "cancelled_items": job.cancelled_items,
            "error_message": job.error_message,
            "links": {
                "job": f"/api/v1/beta/batch-processing/{job.id}",
                "items": f"/api/v1/beta/batch-processing/{job.id}/items",
            },
        },
    }


def record_event(session: Session, job: BatchJob, state: str) -> list[str]:
    """Queue one delivery per configuration whose filter admits ``{job_type}.{state}``."""
    event_type = f"{job.job_type}.{state}"
    event_id = new_id("evt-")
    payload = event_payload(job, event_type, event_id)
    ids: list[str] = []
    for index, target in enumerate(webhook_targets(job.job_config)):
        wanted = target.get("webhook_events")
        if wanted is not None and event_type not in wanted:
            continue
        delivery = WebhookDelivery(
            id=new_id("whd-"), job_id=job.id, project_id=job.project_id, config_index=index,
            event_type=event_type, url=target["webhook_url"], payload=payload,
        )
        session.add(delivery)
        ids.append(delivery.id)
    session.info.setdefault("outbox", []).extend(ids)
    return ids
