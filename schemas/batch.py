"""Batch-processing request and response bodies (llama-cloud 2.13.0 ``beta.batch``)."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    validates_schema,
)
from marshmallow.validate import Length, OneOf, Range

from schemas.common import INT_MAX, OffsetQuery
from schemas.parse_params import PARSING_LANGUAGES, ParseParametersSchema

JOB_STATUSES = ["pending", "dispatched", "running", "completed", "failed", "cancelled"]
ITEM_STATUSES = ["pending", "processing", "completed", "failed", "skipped", "cancelled"]
JOB_TYPES = ["parse", "classify", "extract"]
MAX_ITEM_IDS = 100_000


class ParseJobConfigSchema(Schema):
    class Meta:
        unknown = INCLUDE

    job_name = fields.String(
        load_default="parse_raw_file_job", validate=OneOf(["parse_raw_file_job"])
    )
    parameters = fields.Nested(ParseParametersSchema, allow_none=True)
    correlation_id = fields.String(allow_none=True)
    session_id = fields.String(allow_none=True)
    parent_job_execution_id = fields.String(allow_none=True)
    partitions = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)
    user_id = fields.String(allow_none=True)
    project_id = fields.String(allow_none=True)
    webhook_url = fields.String(allow_none=True, validate=Length(max=2048))


class ClassifierRuleSchema(Schema):
    type = fields.String(required=True, validate=Length(min=1, max=200))
    description = fields.String(required=True, validate=Length(min=1, max=4000))


class ClassifyParsingConfigurationSchema(Schema):
    class Meta:
        unknown = INCLUDE

    lang = fields.String(allow_none=True, validate=OneOf(PARSING_LANGUAGES))
    max_pages = fields.Integer(allow_none=True, validate=Range(min=1))
    target_pages = fields.List(fields.Integer(validate=Range(min=0)), allow_none=True)


def validate_rule_set(rules: list[dict[str, Any]]) -> None:
    if not rules:
        raise ValidationError("at least one rule is required", "rules")
    if len(rules) > 200:
        raise ValidationError("at most 200 rules are allowed", "rules")
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        key = rule["type"].strip().lower()
        if not rule["description"].strip():
            raise ValidationError({"rules": {index: {"description": ["must not be blank"]}}})
        if key in seen:
            raise ValidationError(
                {"rules": {index: {"type": [f"duplicate type {rule['type']!r}"]}}}
            )
        seen.add(key)


class ClassifyJobConfigSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String(allow_none=True, validate=Length(min=1, max=64))
    project_id = fields.String(allow_none=True)
    rules = fields.List(fields.Nested(ClassifierRuleSchema), required=True)
    status = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    mode = fields.String(load_default="FAST", validate=OneOf(["FAST", "MULTIMODAL"]))
    parsing_configuration = fields.Nested(ClassifyParsingConfigurationSchema, allow_none=True)

    @validates_schema
    def _rules(self, data: dict[str, Any], **_: Any) -> None:
        validate_rule_set(data.get("rules") or [])


class BatchCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    job_config = fields.Dict(required=True)
    directory_id = fields.String(allow_none=True, validate=Length(min=1, max=64))
    item_ids = fields.List(
        fields.String(validate=Length(min=1, max=64)),
        allow_none=True,
        validate=Length(min=1, max=MAX_ITEM_IDS),
    )
    page_size = fields.Integer(allow_none=True, validate=Range(min=1, max=1000))
    continue_as_new_threshold = fields.Integer(allow_none=True,
                                               validate=Range(min=1, max=INT_MAX))

    @validates_schema
    def _one_source(self, data: dict[str, Any], **_: Any) -> None:
        has_dir, has_items = bool(data.get("directory_id")), data.get("item_ids") is not None
        if has_dir == has_items:
            raise ValidationError(
                "exactly one of directory_id and item_ids is required", "directory_id"
            )
        ids = data.get("item_ids") or []
        if len(set(ids)) != len(ids):
            raise ValidationError("item_ids must not repeat an id", "item_ids")


def load_job_config(raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Tell a parse config from a classify config and validate it; return (job_type, config)."""
    if "rules" in raw:
        ClassifyJobConfigSchema().load(raw)
        return "classify", raw
    if raw.get("job_name", "parse_raw_file_job") == "parse_raw_file_job":
        ParseJobConfigSchema().load(raw)
        return "parse", raw
    raise ValidationError(
        {"job_name": ["must be 'parse_raw_file_job', or give 'rules' to classify"]}
    )


class BatchListQuery(OffsetQuery):
    directory_id = fields.String(allow_none=True)
    job_type = fields.String(allow_none=True, validate=OneOf(JOB_TYPES))
    status = fields.String(allow_none=True, validate=OneOf(JOB_STATUSES))


class JobItemsQuery(OffsetQuery):
    status = fields.String(allow_none=True, validate=OneOf(ITEM_STATUSES))


class ProcessingResultsQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    job_type = fields.String(allow_none=True, validate=OneOf(JOB_TYPES))


class CancelSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    reason = fields.String(allow_none=True, validate=Length(max=2000))


class RetrySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    include_cancelled = fields.Boolean(load_default=False)


class BatchJobSchema(Schema):
    id = fields.String()
    job_type = fields.String()
    project_id = fields.String()
    status = fields.String()
    total_items = fields.Integer()
    completed_at = fields.AwareDateTime(allow_none=True)
    created_at = fields.AwareDateTime(allow_none=True)
    directory_id = fields.String(allow_none=True)
    effective_at = fields.AwareDateTime(allow_none=True)
    error_message = fields.String(allow_none=True)
    failed_items = fields.Integer()
    job_record_id = fields.String(allow_none=True)
    processed_items = fields.Integer()
    skipped_items = fields.Integer()
    started_at = fields.AwareDateTime(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)
    workflow_id = fields.String(allow_none=True)


class BatchListSchema(Schema):
    items = fields.List(fields.Nested(BatchJobSchema))
    total_size = fields.Integer()


class BatchStatusSchema(Schema):
    job = fields.Nested(BatchJobSchema)
    progress_percentage = fields.Float()


class CancelResponseSchema(Schema):
    job_id = fields.String()
    message = fields.String()
    processed_items = fields.Integer()
    status = fields.String()


class JobItemSchema(Schema):
    item_id = fields.String()
    item_name = fields.String()
    status = fields.String()
    completed_at = fields.AwareDateTime(allow_none=True)
    effective_at = fields.AwareDateTime(allow_none=True)
    error_message = fields.String(allow_none=True)
    job_id = fields.String(allow_none=True)
    job_record_id = fields.String(allow_none=True)
    skip_reason = fields.String(allow_none=True)
    started_at = fields.AwareDateTime(allow_none=True)


class JobItemListSchema(Schema):
    items = fields.List(fields.Nested(JobItemSchema))
    total_size = fields.Integer()


class ProcessingResultSchema(Schema):
    item_id = fields.String()
    job_config = fields.Dict()
    job_type = fields.String()
    output_s3_path = fields.String()
    processed_at = fields.AwareDateTime()
    result_id = fields.String()
    parameters_hash = fields.String()
    job_id = fields.String()
    output_metadata = fields.Raw(allow_none=True)


class ProcessingResultsSchema(Schema):
    item_id = fields.String()
    item_name = fields.String()
    processing_results = fields.List(fields.Nested(ProcessingResultSchema))
