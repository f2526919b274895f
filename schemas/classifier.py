"""Classifier jobs (llama-cloud 2.13.0 ``classifier.jobs``)."""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validates_schema
from marshmallow.validate import Length, OneOf

from batchsvc.engines.classify import DEFAULT_MODE, MODES
from schemas.batch import (
    ClassifierRuleSchema,
    ClassifyParsingConfigurationSchema,
    validate_rule_set,
)
from schemas.common import CursorQuery
from schemas.webhooks import WebhookConfigurationSchema


class ClassifierJobCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    file_ids = fields.List(fields.String(validate=Length(min=1, max=64)), required=True,
                           validate=Length(min=1, max=10_000))
    rules = fields.List(fields.Nested(ClassifierRuleSchema), required=True)
    mode = fields.String(load_default=DEFAULT_MODE, validate=OneOf(MODES))
    parsing_configuration = fields.Nested(ClassifyParsingConfigurationSchema, allow_none=True)
    webhook_configurations = fields.List(fields.Nested(WebhookConfigurationSchema),
                                         allow_none=True)

    @validates_schema
    def _rules(self, data: dict[str, Any], **_: Any) -> None:
        validate_rule_set(data.get("rules") or [])


class ClassifierJobListQuery(CursorQuery):
    pass


class ClassifierResultsQuery(CursorQuery):
    pass


class ClassifyJobSchema(Schema):
    id = fields.String()
    project_id = fields.String()
    rules = fields.List(fields.Nested(ClassifierRuleSchema))
    status = fields.String()
    user_id = fields.String()
    created_at = fields.AwareDateTime(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)
    effective_at = fields.AwareDateTime(allow_none=True)
    error_message = fields.String(allow_none=True)
    job_record_id = fields.String(allow_none=True)
    mode = fields.String()
    parsing_configuration = fields.Dict(allow_none=True)


class ClassifierJobListSchema(Schema):
    items = fields.List(fields.Nested(ClassifyJobSchema))
    next_page_token = fields.String(allow_none=True)
    total_size = fields.Integer(allow_none=True)


class ItemResultSchema(Schema):
    type = fields.String(allow_none=True)
    confidence = fields.Float()
    reasoning = fields.String()


class ClassifierResultItemSchema(Schema):
    id = fields.String()
    classify_job_id = fields.String()
    file_id = fields.String(allow_none=True)
    result = fields.Nested(ItemResultSchema, allow_none=True)
    created_at = fields.AwareDateTime(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)


class ClassifierResultsSchema(Schema):
    items = fields.List(fields.Nested(ClassifierResultItemSchema))
    next_page_token = fields.String(allow_none=True)
    total_size = fields.Integer(allow_none=True)
