"""Worker entry point: ``celery -A tasks.worker worker`` (or ``batchsvc worker``)."""

from tasks import dispatch, items, sweeper, webhooks  # noqa: F401 - registers the tasks
from tasks.app import celery_app

app = celery_app
