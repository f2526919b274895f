"""One-file classify jobs (llama-cloud 2.13.0 ``classify``: ``/api/v2/classify``)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import (
    EXCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validates,
    validates_schema,
)
from marshmallow.validate import Length, OneOf, Range

from batchsvc.engines.classify import DEFAULT_MODE, MODES
from batchsvc.engines.parse.model import ParseError
from batchsvc.engines.parse.options import zero_based_pages
from schemas.batch import ClassifierRuleSchema, validate_rule_set
from schemas.common import CursorQuery
from schemas.parse_params import PARSING_LANGUAGES
from schemas.webhooks import WebhookConfigurationSchema

STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED"]
# The SDK's three spellings of the input; file_id and parse_job_id are its deprecated ones.
INPUT_FIELDS = ("file_input", "file_id", "parse_job_id")


class ClassifyV2ParsingSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    lang = fields.String(allow_none=True, validate=OneOf(PARSING_LANGUAGES))
    max_pages = fields.Integer(allow_none=True, validate=Range(min=1, max=100_000))
    target_pages = fields.String(allow_none=True, validate=Length(max=2000))

    @validates("target_pages")
    def _pages(self, value: str | None, **_: Any) -> None:
        if value:
            try:
                zero_based_pages(value)
            except ParseError as exc:
                raise ValidationError(str(exc)) from exc


class ClassifyV2ConfigurationSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    rules = fields.List(fields.Nested(ClassifierRuleSchema), required=True)
    mode = fields.String(load_default=DEFAULT_MODE, validate=OneOf(MODES))
    parsing_configuration = fields.Nested(ClassifyV2ParsingSchema, allow_none=True)

    @validates_schema
    def _rules(self, data: dict[str, Any], **_: Any) -> None:
        # The classify batches' validation (the engine's own): a rule set accepted runs.
        validate_rule_set(data.get("rules") or [])


class ClassifyV2CreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    configuration = fields.Nested(ClassifyV2ConfigurationSchema, allow_none=True)
    configuration_id = fields.String(allow_none=True, validate=Length(max=64))
    file_input = fields.String(allow_none=True, validate=Length(min=1, max=64))
    file_id = fields.String(allow_none=True, validate=Length(min=1, max=64))
    parse_job_id = fields.String(allow_none=True, validate=Length(min=1, max=64))
    transaction_id = fields.String(allow_none=True, validate=Length(min=1, max=255))
    webhook_configurations = fields.List(fields.Nested(WebhookConfigurationSchema),
                                         allow_none=True, validate=Length(max=20))

    @validates_schema
    def _one_input(self, data: dict[str, Any], **_: Any) -> None:
        given = [name for name in INPUT_FIELDS if data.get(name)]
        if len(given) != 1:
            raise ValidationError("exactly one of file_input, file_id and parse_job_id is "
                                  "required (file_input: a file id or a parse job id)",
                                  given[1] if len(given) > 1 else "file_input")
        if data.get("configuration_id"):
            raise ValidationError("saved configurations are not served here: send the rules "
                                  "inline in configuration", "configuration_id")
        if not data.get("configuration"):
            raise ValidationError("configuration with rules is required", "configuration")

    @post_load
    def _input_field(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Which spelling carried the input, so errors about it name that field."""
        return {**data, "input_field": next(n for n in INPUT_FIELDS if data.get(n))}


class ClassifyV2ListQuery(CursorQuery):
    configuration_id = fields.String(allow_none=True)
    created_at_on_or_after = fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    created_at_on_or_before = fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    job_ids = fields.List(fields.String(validate=Length(min=1, max=64)), allow_none=True,
                          validate=Length(max=1000))
    status = fields.String(allow_none=True, validate=OneOf(STATUSES))


class ClassifyResultSchema(Schema):
    type = fields.String(allow_none=True)
    confidence = fields.Float()
    reasoning = fields.String()


class ClassifyV2JobSchema(Schema):
    id = fields.String()
    project_id = fields.String()
    user_id = fields.String()
    configuration = fields.Dict()
    configuration_id = fields.String(allow_none=True)
    document_input_type = fields.String()
    file_input = fields.String()
    parse_job_id = fields.String(allow_none=True)
    status = fields.String()
    error_message = fields.String(allow_none=True)
    result = fields.Nested(ClassifyResultSchema, allow_none=True)
    transaction_id = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)


class ClassifyV2JobListSchema(Schema):
    items = fields.List(fields.Nested(ClassifyV2JobSchema))
    next_page_token = fields.String(allow_none=True)
    total_size = fields.Integer(allow_none=True)
