"""Prometheus metrics.

Two sources, so every figure is right however many processes and hosts there are:

- ``GET /metrics`` on the API computes cluster-wide gauges at scrape time from the source
  of truth: jobs by status, items by status, webhook deliveries by outcome (cheap GROUP BYs
  on indexed columns) and queue depth per queue (asked of the broker).
- Each worker exports what only the item task knows (item durations by job and file type,
  pages parsed, items finished) on ``BATCHSVC_WORKER_METRICS_PORT``. Its pool processes
  write into prometheus_client's multiprocess files under
  ``<data dir>/metrics/<host>-<pid>/``, which the worker's main process serves.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from batchsvc.settings import Settings, get_settings

log = logging.getLogger("batchsvc.metrics")

# File types get their own label value; anything else is "other", so labels stay few.
FILE_TYPES = {"pdf", "docx", "doc", "pptx", "ppt", "xlsx", "xls", "csv", "tsv", "html", "htm",
              "txt", "md", "json", "xml", "rtf", "png", "jpg", "jpeg", "tif", "tiff", "bmp",
              "gif", "webp"}
DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def file_type(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return ext if ext in FILE_TYPES else "other"


# --- worker side -------------------------------------------------------------------------

_worker_metrics: dict[str, Any] = {}


def _metrics() -> dict[str, Any]:
    """Created on first use, so the worker can switch to multiprocess mode before."""
    if not _worker_metrics:
        from prometheus_client import Counter, Histogram

        _worker_metrics.update(
            duration=Histogram(
                "batchsvc_item_duration_seconds", "Time to process one item, claim to finish",
                ["job_type", "file_type", "status"], buckets=DURATION_BUCKETS),
            items=Counter("batchsvc_items_finished", "Items finished by this worker",
                          ["job_type", "status"]),
            pages=Counter("batchsvc_pages_parsed", "Pages read from documents",
                          ["job_type", "file_type"]),
        )
    return _worker_metrics


def count_pages(job_type: str, name: str, pages: int) -> None:
    _metrics()["pages"].labels(job_type, file_type(name)).inc(pages)


def observe_item(job_type: str, name: str, status: str, seconds: float) -> None:
    m = _metrics()
    m["duration"].labels(job_type, file_type(name), status).observe(seconds)
    m["items"].labels(job_type, status).inc()


def multiprocess_dir(settings: Settings) -> Path:
    return settings.data_path / "metrics" / f"{socket.gethostname()}-{os.getpid()}"


def start_worker_exporter(settings: Settings | None = None) -> int | None:
    """In a worker's main process, before the pool forks: multiprocess mode and the port."""
    settings = settings or get_settings()
    if not settings.worker_metrics_port:
        return None
    path = multiprocess_dir(settings)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    from prometheus_client import CollectorRegistry, start_http_server, values
    from prometheus_client.multiprocess import MultiProcessCollector

    # Values made from now on (in this process and its forked children) go to mmap files.
    values.ValueClass = values.get_value_class()
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(path))
    try:
        start_http_server(settings.worker_metrics_port, registry=registry)
    except OSError as exc:
        # Another worker on this host holds the port: keep working, just unexported.
        log.warning("worker metrics port %s unavailable: %s", settings.worker_metrics_port, exc)
        return None
    log.info("worker metrics on :%s", settings.worker_metrics_port)
    return settings.worker_metrics_port


def stop_worker_exporter(settings: Settings | None = None) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def connect_celery() -> None:
    """The worker's metrics port (items are timed by services.items.process)."""
    from celery.signals import worker_init, worker_shutdown

    worker_init.connect(lambda **_: start_worker_exporter(), weak=False)
    worker_shutdown.connect(lambda **_: stop_worker_exporter(), weak=False)
