"""Create-time network checks of every webhook target in a job config: a 422 naming the field."""

from __future__ import annotations

from typing import Any

from batchsvc.errors import Invalid
from batchsvc.settings import get_settings
from batchsvc.webhooks.outbox import webhook_targets
from batchsvc.webhooks.safety import Refused, check_url


def validate_targets(config: dict[str, Any], prefix: list[Any]) -> None:
    """Raise Invalid for a webhook target refused by the network policy (its shape was
    validated by the request's schema).

    ``prefix`` locates ``config`` in the request (``["body", "job_config"]`` for a batch,
    ``["body"]`` for a classifier job)."""
    errors = []
    allow = get_settings().private_networks_allowed
    for target in webhook_targets(config):
        loc = [*prefix, *target.path]
        if loc[-1] != "webhook_url":
            loc.append("webhook_url")
        try:
            check_url(target.url, allow)
        except Refused as exc:
            errors.append({"loc": loc, "msg": f"webhook_url {exc}", "type": "value_error"})
    if errors:
        raise Invalid.many(errors)
