"""The v2 parse job as the SDK (llama-cloud 2.13.0 ``parsing.create``/``list``) types it.

Fields the service maps are typed, so a wrong type is a 422 naming the field; unknown keys
are kept (``INCLUDE``) and reported back as not applied, as the batch parameters are."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range

from schemas.common import INT_MAX, ProjectQuery
from schemas.parse_params import PARSING_LANGUAGES
from schemas.webhooks import WebhookConfigurationSchema

TIERS = ["fast", "cost_effective", "agentic", "agentic_plus"]
PARSE_STATUSES = ["PENDING", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]
IMAGE_KINDS = ["embedded", "layout", "screenshot"]


class _Open(Schema):
    class Meta:
        unknown = INCLUDE


def _ratio() -> fields.Float:
    return fields.Float(allow_none=True, validate=Range(min=0, max=1), allow_nan=False)


class CropBoxSchema(_Open):
    top, bottom, left, right = _ratio(), _ratio(), _ratio(), _ratio()


class PageRangesSchema(_Open):
    max_pages = fields.Integer(allow_none=True, validate=Range(min=1, max=INT_MAX))
    target_pages = fields.String(allow_none=True, validate=Length(max=10_000))


class TablesSchema(_Open):
    compact_markdown_tables = fields.Boolean(allow_none=True)
    markdown_table_multiline_separator = fields.String(allow_none=True)
    merge_continued_tables = fields.Boolean(allow_none=True)
    output_tables_as_markdown = fields.Boolean(allow_none=True)


class MarkdownSchema(_Open):
    annotate_links = fields.Boolean(allow_none=True)
    inline_images = fields.Boolean(allow_none=True)
    tables = fields.Nested(TablesSchema, allow_none=True)


class SpatialTextSchema(_Open):
    do_not_unroll_columns = fields.Boolean(allow_none=True)
    preserve_layout_alignment_across_pages = fields.Boolean(allow_none=True)
    preserve_very_small_text = fields.Boolean(allow_none=True)


class OutputOptionsSchema(_Open):
    additional_outputs = fields.List(fields.String(), allow_none=True)
    extract_printed_page_number = fields.Boolean(allow_none=True)
    granular_bboxes = fields.List(fields.String(validate=OneOf(["cell", "line", "word"])),
                                  allow_none=True)
    images_to_save = fields.List(fields.String(validate=OneOf(IMAGE_KINDS)), allow_none=True)
    markdown = fields.Nested(MarkdownSchema, allow_none=True)
    spatial_text = fields.Nested(SpatialTextSchema, allow_none=True)
    tables_as_spreadsheet = fields.Dict(allow_none=True)


class IgnoreSchema(_Open):
    ignore_diagonal_text = fields.Boolean(allow_none=True)
    ignore_hidden_text = fields.Boolean(allow_none=True)
    ignore_text_in_image = fields.Boolean(allow_none=True)


class OcrSchema(_Open):
    languages = fields.List(fields.String(validate=OneOf(PARSING_LANGUAGES)), allow_none=True)


class ProcessingOptionsSchema(_Open):
    aggressive_table_extraction = fields.Boolean(allow_none=True)
    disable_heuristics = fields.Boolean(allow_none=True)
    ignore = fields.Nested(IgnoreSchema, allow_none=True)
    ocr_parameters = fields.Nested(OcrSchema, allow_none=True)


class FailureConditionsSchema(_Open):
    allowed_page_failure_ratio = _ratio()
    fail_on_buggy_font = fields.Boolean(allow_none=True)
    fail_on_image_extraction_error = fields.Boolean(allow_none=True)
    fail_on_image_ocr_error = fields.Boolean(allow_none=True)
    fail_on_markdown_reconstruction_error = fields.Boolean(allow_none=True)


class TimeoutsSchema(_Open):
    base_in_seconds = fields.Integer(allow_none=True, validate=Range(min=1, max=INT_MAX))
    extra_time_per_page_in_seconds = fields.Integer(allow_none=True,
                                                    validate=Range(min=0, max=INT_MAX))


class ProcessingControlSchema(_Open):
    job_failure_conditions = fields.Nested(FailureConditionsSchema, allow_none=True)
    timeouts = fields.Nested(TimeoutsSchema, allow_none=True)


class HtmlInputSchema(_Open):
    remove_navigation_elements = fields.Boolean(allow_none=True)


class SpreadsheetInputSchema(_Open):
    include_hidden_sheets = fields.Boolean(allow_none=True)


class InputOptionsSchema(_Open):
    html = fields.Nested(HtmlInputSchema, allow_none=True)
    spreadsheet = fields.Nested(SpreadsheetInputSchema, allow_none=True)


class AgenticOptionsSchema(_Open):
    custom_prompt = fields.String(allow_none=True, validate=Length(max=100_000))


class ParseConfigurationSchema(_Open):
    """Everything of a v2 parse request but its input (the upload's ``configuration``)."""

    tier = fields.String(required=True, validate=OneOf(TIERS))
    version = fields.String(required=True, validate=Length(min=1, max=64))
    agentic_options = fields.Nested(AgenticOptionsSchema, allow_none=True)
    client_name = fields.String(allow_none=True, validate=Length(max=200))
    crop_box = fields.Nested(CropBoxSchema, allow_none=True)
    disable_cache = fields.Boolean(allow_none=True)
    fast_options = fields.Raw(allow_none=True)
    http_proxy = fields.String(allow_none=True, validate=Length(max=2048))
    input_options = fields.Nested(InputOptionsSchema, allow_none=True)
    output_options = fields.Nested(OutputOptionsSchema, allow_none=True)
    page_ranges = fields.Nested(PageRangesSchema, allow_none=True)
    processing_control = fields.Nested(ProcessingControlSchema, allow_none=True)
    processing_options = fields.Nested(ProcessingOptionsSchema, allow_none=True)
    source_url = fields.String(allow_none=True, validate=Length(min=1, max=2048))
    user_metadata = fields.Dict(keys=fields.String(validate=Length(max=256)),
                                values=fields.String(validate=Length(max=4096)),
                                allow_none=True, validate=Length(max=64))
    webhook_configurations = fields.List(fields.Nested(WebhookConfigurationSchema),
                                         allow_none=True)


class ParseCreateSchema(ParseConfigurationSchema):
    """``POST /api/v2/parse`` (JSON): exactly one of ``file_id`` and ``source_url``."""

    file_id = fields.String(allow_none=True, validate=Length(min=1, max=64))
    configuration_id = fields.String(allow_none=True)
    webhook_configuration_ids = fields.List(fields.String(), allow_none=True)

    @validates_schema
    def _one_input(self, data: dict[str, Any], **_: Any) -> None:
        given = [k for k in ("file_id", "source_url") if data.get(k)]
        if len(given) != 1:
            raise ValidationError("give exactly one of file_id and source_url",
                                  "file_id" if not given else given[-1])


class ParseListQuery(ProjectQuery):
    page_size = fields.Integer(allow_none=True, validate=Range(min=1, max=1000))
    page_token = fields.String(allow_none=True, validate=Length(max=200))
    status = fields.String(allow_none=True, validate=OneOf(PARSE_STATUSES))
    created_at_on_or_after = fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    created_at_on_or_before = fields.AwareDateTime(allow_none=True, default_timezone=UTC)
    job_ids = fields.List(fields.String(validate=Length(max=64)), allow_none=True,
                          validate=Length(max=1000))


class ParseGetQuery(ProjectQuery):
    expand = fields.List(fields.String(validate=Length(max=100)), allow_none=True)
    image_filenames = fields.String(allow_none=True, validate=Length(max=100_000))
