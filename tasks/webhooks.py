"""Webhook delivery on its own queue, so a slow or dead receiver never delays item work."""

from __future__ import annotations

from batchsvc.messaging import DELIVER_WEBHOOK, send
from batchsvc.settings import get_settings
from batchsvc.webhooks.delivery import deliver
from tasks.app import celery_app

# Retries due within this are sent with a countdown; later ones are left to the sweeper,
# which re-sends due deliveries: a Redis broker would redeliver a message held longer than
# its visibility timeout anyway.
MAX_COUNTDOWN_SECONDS = 600
# The sender enforces the per-attempt timeout itself; this only backs it up.
_LIMIT = get_settings().webhook_timeout_seconds + 30


@celery_app.task(name=DELIVER_WEBHOOK, ignore_result=True,
                 soft_time_limit=_LIMIT, time_limit=_LIMIT + 10)
def deliver_webhook(delivery_id: str) -> str:
    result = deliver(delivery_id)
    if result.retry_in is not None and result.retry_in <= MAX_COUNTDOWN_SECONDS:
        send(DELIVER_WEBHOOK, delivery_id, countdown=result.retry_in)
    return result.state
