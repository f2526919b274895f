"""``GET /metrics``: cluster-wide gauges read from the database and the broker at scrape time,
so any API replica gives the cluster's figures (workers serve their own, batchsvc.metrics)."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response

log = logging.getLogger("batchsvc.metrics")
bp = Blueprint("metrics", __name__)


class ServiceCollector:
    """Reads the database and the broker on each scrape; never raises into the scrape."""

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        up = GaugeMetricFamily("batchsvc_dependency_up", "1 when the dependency answered",
                               labels=["dependency"])
        try:
            yield from self._database()
            up.add_metric(["database"], 1)
        except Exception as exc:  # noqa: BLE001 - a scrape reports, it does not fail
            log.warning("metrics: database unavailable: %s", type(exc).__name__)
            up.add_metric(["database"], 0)
        try:
            yield self._queues()
            up.add_metric(["broker"], 1)
        except Exception as exc:  # noqa: BLE001
            log.warning("metrics: broker unavailable: %s", type(exc).__name__)
            up.add_metric(["broker"], 0)
        yield up

    def _database(self) -> list[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from batchsvc.db import get_engine
        from batchsvc.models import BatchJob, JobItem, WebhookDelivery

        jobs = GaugeMetricFamily("batchsvc_jobs", "Batch jobs by status and job type",
                                 labels=["status", "job_type"])
        items = GaugeMetricFamily("batchsvc_items", "Job items by status (completed = "
                                  "processed)", labels=["status"])
        hooks = GaugeMetricFamily("batchsvc_webhook_deliveries",
                                  "Webhook deliveries by outcome", labels=["outcome"])
        with get_engine().connect() as conn:
            for status, job_type, count in conn.execute(
                    sa.select(BatchJob.status, BatchJob.job_type, sa.func.count())
                    .group_by(BatchJob.status, BatchJob.job_type)):
                jobs.add_metric([status, job_type], count)
            for status, count in conn.execute(
                    sa.select(JobItem.status, sa.func.count()).group_by(JobItem.status)):
                items.add_metric([status], count)
            for status, count in conn.execute(
                    sa.select(WebhookDelivery.status, sa.func.count())
                    .group_by(WebhookDelivery.status)):
                hooks.add_metric([status], count)
        return [jobs, items, hooks]

    def _queues(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        from batchsvc.messaging import QUEUES, celery_app, queue_name
        from batchsvc.messaging.broker import queue_size

        depth = GaugeMetricFamily("batchsvc_queue_depth", "Messages waiting in each queue",
                                  labels=["queue"])
        with celery_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            for kind in QUEUES:
                depth.add_metric([kind], queue_size(conn, queue_name(kind)))
        return depth


@bp.get("/metrics")
def metrics() -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector())  # type: ignore[arg-type]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
