"""Webhook configuration as the SDK types it (batch parameters and classifier jobs alike)."""

from marshmallow import Schema, fields
from marshmallow.validate import Length, OneOf

JOB_KINDS = ("parse", "classify", "extract", "sheets", "split")
WEBHOOK_EVENTS = sorted(
    {
        f"{kind}.{state}"
        for kind in JOB_KINDS
        for state in ("pending", "running", "success", "partial_success", "error", "cancelled")
    }
    | {"split.processing", "unmapped_event"}
)


class WebhookConfigurationSchema(Schema):
    webhook_url = fields.String(allow_none=True, validate=Length(max=2048))
    webhook_events = fields.List(fields.String(validate=OneOf(WEBHOOK_EVENTS)), allow_none=True)
    webhook_headers = fields.Dict(keys=fields.String(), values=fields.Raw(), allow_none=True)
    webhook_output_format = fields.String(allow_none=True, validate=OneOf(["string", "json"]))
    webhook_signing_secret = fields.String(allow_none=True, validate=Length(max=1024))
