"""Batch-processing request and response bodies (llama-cloud 2.13.0 ``beta.batch``)."""

from __future__ import annotations

from typing import Any

from marshmallow import (
    EXCLUDE,
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    post_load,
    validates_schema,
)
from marshmallow.validate import Length, OneOf, Range

from batchsvc.engines.classify import DEFAULT_MODE, MODES, RulesError, parse_rules
from batchsvc.states import ItemStatus, JobStatus
from schemas.common import INT_MAX, OffsetQuery, ProjectQuery
from schemas.parse_params import PARSING_LANGUAGES, ParseParametersSchema
from schemas.webhooks import WebhookConfigurationSchema

JOB_STATUSES = [s.value for s in JobStatus]
ITEM_STATUSES = [s.value for s in ItemStatus]
JOB_TYPES = ["parse", "classify", "extract"]
MAX_ITEM_IDS = 100_000


class WebhookTargetsMixin(Schema):
    """Webhook targets wherever a job config may carry them (the SDK allows them at the top
    level of a config as well as in its parameters)."""

    webhook_url = fields.String(allow_none=True, validate=Length(max=2048))
    webhook_configurations = fields.List(fields.Nested(WebhookConfigurationSchema),
                                         allow_none=True)


class ParseJobConfigSchema(WebhookTargetsMixin):
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


class ClassifierRuleSchema(Schema):
    # Lengths and counts are the engine's own (engines.classify.rules), checked on the set.
    type = fields.String(required=True)
    description = fields.String(required=True)


class ClassifyParsingConfigurationSchema(Schema):
    class Meta:
        unknown = INCLUDE

    lang = fields.String(allow_none=True, validate=OneOf(PARSING_LANGUAGES))
    max_pages = fields.Integer(allow_none=True, validate=Range(min=1))
    target_pages = fields.List(fields.Integer(validate=Range(min=0)), allow_none=True)


def validate_rule_set(rules: list[dict[str, Any]]) -> None:
    """The engine's validation, the one rule: anything accepted here the engine can run."""
    try:
        parse_rules(rules)
    except RulesError as exc:
        raise ValidationError(_nested_error(exc.field, str(exc).split(": ", 1)[-1])) from exc


def _nested_error(field: str, message: str) -> dict[str, Any]:
    """``rules[1].type`` as marshmallow's nested error shape {"rules": {1: {"type": [...]}}}."""
    parts: list[Any] = [int(p) if p.isdigit() else p
                        for p in field.replace("]", "").replace("[", ".").split(".") if p]
    error: Any = [message]
    for part in reversed(parts):
        error = {part: error}
    return error


class WebhookTargetsOnly(WebhookTargetsMixin):
    class Meta:
        unknown = INCLUDE


class ClassifyJobConfigSchema(WebhookTargetsMixin):
    class Meta:
        unknown = INCLUDE

    # Not in the SDK's ClassifyJob, but webhook targets there are heard like a parse job's.
    parameters = fields.Nested(WebhookTargetsOnly, allow_none=True)

    id = fields.String(allow_none=True, validate=Length(min=1, max=64))
    project_id = fields.String(allow_none=True)
    rules = fields.List(fields.Nested(ClassifierRuleSchema), required=True)
    status = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    mode = fields.String(load_default=DEFAULT_MODE, validate=OneOf(MODES))
    parsing_configuration = fields.Nested(ClassifyParsingConfigurationSchema, allow_none=True)

    @validates_schema
    def _rules(self, data: dict[str, Any], **_: Any) -> None:
        validate_rule_set(data.get("rules") or [])


class JobConfigField(fields.Dict):
    """A job config: a classify config when it has ``rules``, else a parse config; validated
    by its schema here, once, and kept as the client sent it (``job_type`` is added beside it
    by BatchCreateSchema)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        raw = super()._deserialize(value, attr, data, **kwargs)
        job_config_type(raw)
        return raw


def job_config_type(raw: dict[str, Any]) -> str:
    """Validate a job config; return its job type. Raises ValidationError."""
    if "rules" in raw:
        ClassifyJobConfigSchema().load(raw)
        return "classify"
    if raw.get("job_name", "parse_raw_file_job") == "parse_raw_file_job":
        ParseJobConfigSchema().load(raw)
        return "parse"
    raise ValidationError(
        {"job_name": ["must be 'parse_raw_file_job', or give 'rules' to classify"]}
    )


class BatchCreateSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    job_config = JobConfigField(required=True)
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

    @post_load
    def _job_type(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        return {**data, "job_type": job_config_type(data["job_config"])}


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


# The routes beyond the peers' API: results export, progress events, retry.
RESULT_FORMATS = ["jsonl", "zip"]


class ResultsQuery(ProjectQuery):
    format = fields.String(load_default="jsonl", validate=OneOf(RESULT_FORMATS))


class EventsQuery(ProjectQuery):
    # Seconds between looks at the job; each look is one small GROUP BY on its items.
    interval = fields.Float(load_default=1.0, validate=Range(min=0.2, max=30))


class RetryJobSchema(BatchJobSchema):
    retry_of = fields.String(allow_none=True)
