"""Webhook configuration as the SDK types it (batch parameters and classifier jobs alike), and
the delivery log."""

from typing import Any

from marshmallow import Schema, ValidationError, fields, validates
from marshmallow.validate import Length, OneOf

from batchsvc.states import DeliveryStatus
from batchsvc.webhooks.headers import header_problem
from schemas.common import OffsetQuery

JOB_KINDS = ("parse", "classify", "extract", "sheets", "split")
WEBHOOK_EVENTS = sorted(
    {
        f"{kind}.{state}"
        for kind in JOB_KINDS
        for state in ("pending", "running", "success", "partial_success", "error", "cancelled")
    }
    | {"split.processing", "unmapped_event"}
)
DELIVERY_STATUSES = [s.value for s in DeliveryStatus]
class WebhookConfigurationSchema(Schema):
    webhook_url = fields.String(allow_none=True, validate=Length(max=2048))
    webhook_events = fields.List(fields.String(validate=OneOf(WEBHOOK_EVENTS)), allow_none=True)
    webhook_headers = fields.Dict(keys=fields.String(), values=fields.Raw(), allow_none=True)
    webhook_output_format = fields.String(allow_none=True, validate=OneOf(["string", "json"]))
    webhook_signing_secret = fields.String(allow_none=True, validate=Length(max=1024))

    @validates("webhook_headers")
    def _headers(self, value: dict[str, Any] | None, **_: Any) -> None:
        problems = [p for p in (header_problem(k, v) for k, v in (value or {}).items()) if p]
        if problems:
            raise ValidationError(problems)


class DeliveryListQuery(OffsetQuery):
    status = fields.String(allow_none=True, validate=OneOf(DELIVERY_STATUSES))
    event_type = fields.String(allow_none=True, validate=OneOf(WEBHOOK_EVENTS))


class WebhookAttemptSchema(Schema):
    attempt = fields.Integer()
    status_code = fields.Integer(allow_none=True)
    latency_ms = fields.Float(allow_none=True)
    error = fields.String(allow_none=True)
    attempted_at = fields.AwareDateTime()


class WebhookDeliverySchema(Schema):
    id = fields.String()
    job_id = fields.String()
    event_id = fields.String()
    event_type = fields.String()
    config_index = fields.Integer()
    url = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    next_attempt_at = fields.AwareDateTime(allow_none=True)
    last_status_code = fields.Integer(allow_none=True)
    last_error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    delivered_at = fields.AwareDateTime(allow_none=True)
    attempt_log = fields.List(fields.Nested(WebhookAttemptSchema))
    payload = fields.Dict()


class WebhookDeliveryListSchema(Schema):
    items = fields.List(fields.Nested(WebhookDeliverySchema))
    total_size = fields.Integer()
