"""Create-time checks of every webhook configuration in a job config: a 422 naming the field."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError

from batchsvc.services.errors import Invalid
from batchsvc.settings import get_settings
from batchsvc.webhooks.outbox import webhook_targets
from batchsvc.webhooks.safety import Refused, check_url
from schemas.common import validation_detail
from schemas.webhooks import WebhookConfigurationSchema


def _shape_errors(config: dict[str, Any], prefix: list[Any]) -> list[dict[str, Any]]:
    """Configurations outside the typed ``parameters`` (classify configs, the top level of a
    parse config) get the same field checks the schema gives the typed ones."""
    errors: list[dict[str, Any]] = []
    params = config.get("parameters")
    for path, source in (((), config), (("parameters",), params)):
        if not isinstance(source, dict):
            continue
        url = source.get("webhook_url")
        if url is not None and not isinstance(url, str):
            errors.append({"loc": [*prefix, *path, "webhook_url"], "msg": "Not a valid string.",
                           "type": "value_error"})
        configs = source.get("webhook_configurations")
        if configs is None:
            continue
        if not isinstance(configs, list):
            errors.append({"loc": [*prefix, *path, "webhook_configurations"],
                           "msg": "Not a valid list.", "type": "value_error"})
            continue
        for index, entry in enumerate(configs):
            try:
                WebhookConfigurationSchema().load(entry)
            except ValidationError as exc:
                detail = validation_detail(exc, prefix[0])
                for item in detail:
                    item["loc"] = [*prefix, *path, "webhook_configurations", index,
                                   *item["loc"][1:]]
                errors.extend(detail)
    return errors


def validate_targets(config: dict[str, Any], prefix: list[Any]) -> None:
    """Raise Invalid for a malformed or refused webhook target.

    ``prefix`` locates ``config`` in the request (``["body", "job_config"]`` for a batch,
    ``["body"]`` for a classifier job)."""
    errors = _shape_errors(config, prefix)
    if not errors:
        allow = get_settings().webhook_allow_private_networks
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
