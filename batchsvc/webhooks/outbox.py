"""Write webhook deliveries into the outbox in the caller's transaction.

Each new delivery is sent to the webhooks queue by the unit of work after its commit
(batchsvc.uow); the sweeper re-sends any that a lost message left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.messaging import DELIVER_WEBHOOK
from batchsvc.models import BatchJob, WebhookDelivery, new_id
from batchsvc.settings import get_settings
from batchsvc.states import DeliveryStatus, JobStatus
from batchsvc.uow import unit_of

# Per job and configuration, deliveries go out in this order (one event per transition).
EVENT_RANK: dict[str, int] = {JobStatus.PENDING: 0, JobStatus.RUNNING: 1}


def event_rank(event_type: str) -> int:
    return EVENT_RANK.get(event_type.split(".", 1)[-1], 2)


@dataclass(frozen=True)
class Target:
    """One webhook configuration and where it sits in the job config (for error messages)."""

    path: tuple[str | int, ...]
    config: dict[str, Any]

    @property
    def url(self) -> str:
        return self.config["webhook_url"]


def webhook_targets(job_config: dict[str, Any]) -> list[Target]:
    """Every webhook configuration of a job, in a stable order (the index is the config id).

    The order must never change: stored deliveries refer to a configuration by its index."""
    params = job_config.get("parameters")
    sources: list[tuple[tuple[str, ...], dict[str, Any]]] = [((), job_config)]
    if isinstance(params, dict):
        sources.append((("parameters",), params))
    targets: list[Target] = []
    for prefix, source in sources:
        if source.get("webhook_url"):
            targets.append(Target((*prefix, "webhook_url"),
                                  {"webhook_url": source["webhook_url"]}))
    for prefix, source in sources:
        configs = source.get("webhook_configurations")
        if not isinstance(configs, list):
            continue
        for index, config in enumerate(configs):
            if isinstance(config, dict) and config.get("webhook_url"):
                targets.append(Target((*prefix, "webhook_configurations", index), config))
    return targets


def links(job: BatchJob) -> dict[str, str]:
    base = get_settings().public_url.rstrip("/")
    job_url = f"{base}/api/v1/beta/batch-processing/{job.id}"
    out = {"job": job_url, "items": f"{job_url}/items",
           "webhook_deliveries": f"{job_url}/webhook-deliveries"}
    if job.classifier_job_id:
        out["classifier_results"] = \
            f"{base}/api/v1/classifier/jobs/{job.classifier_job_id}/results"
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def event_payload(job: BatchJob, event_type: str, event_id: str) -> dict[str, Any]:
    """The event as receivers see it: the job and its counts at this transition, no config."""
    return {
        "event_id": event_id,
        "event_type": event_type,
        "created_at": datetime.now(UTC).isoformat(),
        "data": {
            "job_id": job.id,
            "job_type": job.job_type,
            "status": job.status,
            "project_id": job.project_id,
            "classifier_job_id": job.classifier_job_id,
            "total_items": job.total_items,
            "processed_items": job.processed_items or 0,
            "failed_items": job.failed_items or 0,
            "skipped_items": job.skipped_items or 0,
            "cancelled_items": job.cancelled_items or 0,
            "error_message": job.error_message,
            "created_at": _iso(job.created_at),
            "started_at": _iso(job.started_at),
            "completed_at": _iso(job.completed_at),
            "links": links(job),
            # A one-file parse job (/api/v2/parse, the llama-parse client) is known to its
            # caller by this id, not by the batch job's.
            **({"parse_job_id": job.job_config["parse_job_id"]}
               if (job.job_config or {}).get("parse_job_id") else {}),
        },
    }


def _gone_configs(session: Session, job_id: str) -> set[int]:
    """Configurations whose receiver answered 410 Gone: they hear nothing more of this job."""
    return set(session.scalars(sa.select(WebhookDelivery.config_index).where(
        WebhookDelivery.job_id == job_id, WebhookDelivery.status == DeliveryStatus.GONE)
        .distinct()))


def record_event(session: Session, job: BatchJob, state: str) -> list[str]:
    """Queue one delivery per configuration whose filter admits ``{job_type}.{state}``."""
    targets = webhook_targets(job.job_config)
    if not targets:
        return []
    event_type = f"{job.job_type}.{state}"
    event_id = new_id("evt-")
    payload = event_payload(job, event_type, event_id)
    gone = _gone_configs(session, job.id)
    ids: list[str] = []
    for index, target in enumerate(targets):
        wanted = target.config.get("webhook_events")
        if index in gone or (wanted is not None and event_type not in wanted):
            continue
        delivery = WebhookDelivery(
            id=new_id("whd-"), job_id=job.id, project_id=job.project_id, config_index=index,
            event_type=event_type, url=target.url, payload=payload, status=DeliveryStatus.PENDING,
            attempts=0,
        )
        session.add(delivery)
        ids.append(delivery.id)
    uow = unit_of(session)
    for delivery_id in ids:
        uow.send(DELIVER_WEBHOOK, delivery_id)
    return ids
