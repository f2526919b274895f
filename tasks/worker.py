"""Worker entry point: ``celery -A tasks.worker worker`` (or ``batchsvc worker``)."""

from batchsvc import logs, metrics
from tasks import (  # noqa: F401 - registers the tasks
    dispatch,
    imports,
    items,
    lifecycle,
    refinement,
    sweeper,
    webhooks,
)
from tasks.app import celery_app

# Ids on every log line and item timings, wired once for every task rather than in each.
logs.connect_celery()
metrics.connect_celery()
lifecycle.connect()
app = celery_app
