"""LlamaParse ``parameters`` as the SDK (llama-cloud 2.13.0) types them.

Generated once from ``JobConfigBatchParseJobRecordCreateParameters``; unknown option names are
kept (``INCLUDE``) so the engine can report them as not applied, while a known option with a
wrong type is a 422 naming the field."""

from marshmallow import INCLUDE, Schema, fields
from marshmallow.validate import OneOf

from schemas.webhooks import WebhookConfigurationSchema

PARSING_LANGUAGES = [
    "abq",
    "ady",
    "af",
    "ang",
    "ar",
    "as",
    "ava",
    "az",
    "be",
    "bg",
    "bgc",
    "bh",
    "bho",
    "bn",
    "bs",
    "ch_sim",
    "ch_tra",
    "che",
    "cs",
    "cy",
    "da",
    "dar",
    "de",
    "en",
    "es",
    "et",
    "fa",
    "fr",
    "ga",
    "gom",
    "hi",
    "hr",
    "hu",
    "id",
    "inh",
    "is",
    "it",
    "ja",
    "kbd",
    "kn",
    "ko",
    "ku",
    "la",
    "lbe",
    "lez",
    "lt",
    "lv",
    "mah",
    "mai",
    "mi",
    "mn",
    "mni",
    "mr",
    "ms",
    "mt",
    "ne",
    "new",
    "nl",
    "no",
    "oc",
    "pi",
    "pl",
    "pt",
    "ro",
    "rs_cyrillic",
    "rs_latin",
    "ru",
    "sa",
    "sck",
    "sk",
    "sl",
    "sq",
    "sv",
    "sw",
    "ta",
    "tab",
    "te",
    "th",
    "tjk",
    "tl",
    "tr",
    "ug",
    "uk",
    "ur",
    "uz",
    "vi",
]


class ParseParametersSchema(Schema):
    class Meta:
        unknown = INCLUDE

    adaptive_long_table = fields.Boolean(allow_none=True)
    aggressive_table_extraction = fields.Boolean(allow_none=True)
    annotate_links = fields.Boolean(allow_none=True)
    auto_mode = fields.Boolean(allow_none=True)
    auto_mode_configuration_json = fields.String(allow_none=True)
    auto_mode_trigger_on_image_in_page = fields.Boolean(allow_none=True)
    auto_mode_trigger_on_regexp_in_page = fields.String(allow_none=True)
    auto_mode_trigger_on_table_in_page = fields.Boolean(allow_none=True)
    auto_mode_trigger_on_text_in_page = fields.String(allow_none=True)
    azure_openai_api_version = fields.String(allow_none=True)
    azure_openai_deployment_name = fields.String(allow_none=True)
    azure_openai_endpoint = fields.String(allow_none=True)
    azure_openai_key = fields.String(allow_none=True)
    bbox_bottom = fields.Float(allow_none=True)
    bbox_left = fields.Float(allow_none=True)
    bbox_right = fields.Float(allow_none=True)
    bbox_top = fields.Float(allow_none=True)
    bounding_box = fields.String(allow_none=True)
    compact_markdown_table = fields.Boolean(allow_none=True)
    complemental_formatting_instruction = fields.String(allow_none=True)
    confidence_score_effort = fields.String(allow_none=True)
    content_guideline_instruction = fields.String(allow_none=True)
    continuous_mode = fields.Boolean(allow_none=True)
    custom_metadata = fields.Dict(keys=fields.String(), allow_none=True)
    disable_image_extraction = fields.Boolean(allow_none=True)
    disable_ocr = fields.Boolean(allow_none=True)
    disable_reconstruction = fields.Boolean(allow_none=True)
    do_not_cache = fields.Boolean(allow_none=True)
    do_not_unroll_columns = fields.Boolean(allow_none=True)
    enable_cost_optimizer = fields.Boolean(allow_none=True)
    extract_charts = fields.Boolean(allow_none=True)
    extract_layout = fields.Boolean(allow_none=True)
    extract_printed_page_number = fields.Boolean(allow_none=True)
    fast_mode = fields.Boolean(allow_none=True)
    formatting_instruction = fields.String(allow_none=True)
    gpt4o_api_key = fields.String(allow_none=True)
    gpt4o_mode = fields.Boolean(allow_none=True)
    guess_xlsx_sheet_name = fields.Boolean(allow_none=True)
    hide_footers = fields.Boolean(allow_none=True)
    hide_headers = fields.Boolean(allow_none=True)
    high_res_ocr = fields.Boolean(allow_none=True)
    html_make_all_elements_visible = fields.Boolean(allow_none=True)
    html_remove_fixed_elements = fields.Boolean(allow_none=True)
    html_remove_navigation_elements = fields.Boolean(allow_none=True)
    http_proxy = fields.String(allow_none=True)
    ignore_document_elements_for_layout_detection = fields.Boolean(allow_none=True)
    images_to_save = fields.List(
        fields.String(validate=OneOf(["embedded", "layout", "screenshot"])), allow_none=True
    )
    inline_images_in_markdown = fields.Boolean(allow_none=True)
    input_s3_path = fields.String(allow_none=True)
    input_s3_region = fields.String(allow_none=True)
    input_url = fields.String(allow_none=True)
    internal_is_screenshot_job = fields.Boolean(allow_none=True)
    invalidate_cache = fields.Boolean(allow_none=True)
    is_formatting_instruction = fields.Boolean(allow_none=True)
    job_timeout_extra_time_per_page_in_seconds = fields.Float(allow_none=True)
    job_timeout_in_seconds = fields.Float(allow_none=True)
    keep_page_separator_when_merging_tables = fields.Boolean(allow_none=True)
    lang = fields.String()
    languages = fields.List(fields.String(validate=OneOf(PARSING_LANGUAGES)))
    layout_aware = fields.Boolean(allow_none=True)
    line_level_bounding_box = fields.Boolean(allow_none=True)
    markdown_table_multiline_header_separator = fields.String(allow_none=True)
    max_pages = fields.Integer(strict=True, allow_none=True)
    max_pages_enforced = fields.Integer(strict=True, allow_none=True)
    merge_tables_across_pages_in_markdown = fields.Boolean(allow_none=True)
    model = fields.String(allow_none=True)
    outlined_table_extraction = fields.Boolean(allow_none=True)
    output_pdf_of_document = fields.Boolean(allow_none=True)
    output_s3_path_prefix = fields.String(allow_none=True)
    output_s3_region = fields.String(allow_none=True)
    output_tables_as_html = fields.Boolean(allow_none=True, data_key="output_tables_as_HTML")
    output_bucket = fields.String(allow_none=True)
    page_error_tolerance = fields.Float(allow_none=True)
    page_footer_prefix = fields.String(allow_none=True)
    page_footer_suffix = fields.String(allow_none=True)
    page_header_prefix = fields.String(allow_none=True)
    page_header_suffix = fields.String(allow_none=True)
    page_prefix = fields.String(allow_none=True)
    page_separator = fields.String(allow_none=True)
    page_suffix = fields.String(allow_none=True)
    parse_mode = fields.String(
        validate=OneOf(
            [
                "parse_document_with_agent",
                "parse_document_with_llm",
                "parse_document_with_lvm",
                "parse_page_with_agent",
                "parse_page_with_layout_agent",
                "parse_page_with_llm",
                "parse_page_with_lvm",
                "parse_page_without_llm",
            ]
        ),
        allow_none=True,
    )
    parsing_instruction = fields.String(allow_none=True)
    pipeline_id = fields.String(allow_none=True)
    precise_bounding_box = fields.Boolean(allow_none=True)
    premium_mode = fields.Boolean(allow_none=True)
    presentation_out_of_bounds_content = fields.Boolean(allow_none=True)
    presentation_skip_embedded_data = fields.Boolean(allow_none=True)
    preserve_layout_alignment_across_pages = fields.Boolean(allow_none=True)
    preserve_very_small_text = fields.Boolean(allow_none=True)
    preset = fields.String(allow_none=True)
    priority = fields.String(validate=OneOf(["critical", "high", "low", "medium"]), allow_none=True)
    project_id = fields.String(allow_none=True)
    remove_hidden_text = fields.Boolean(allow_none=True)
    replace_failed_page_mode = fields.String(
        validate=OneOf(["blank_page", "error_message", "raw_text"]), allow_none=True
    )
    replace_failed_page_with_error_message_prefix = fields.String(allow_none=True)
    replace_failed_page_with_error_message_suffix = fields.String(allow_none=True)
    resource_info = fields.Dict(keys=fields.String(), allow_none=True)
    save_images = fields.Boolean(allow_none=True)
    skip_diagonal_text = fields.Boolean(allow_none=True)
    specialized_chart_parsing_agentic = fields.Boolean(allow_none=True)
    specialized_chart_parsing_efficient = fields.Boolean(allow_none=True)
    specialized_chart_parsing_plus = fields.Boolean(allow_none=True)
    specialized_image_parsing = fields.Boolean(allow_none=True)
    spreadsheet_extract_sub_tables = fields.Boolean(allow_none=True)
    spreadsheet_force_formula_computation = fields.Boolean(allow_none=True)
    spreadsheet_include_hidden_sheets = fields.Boolean(allow_none=True)
    strict_mode_buggy_font = fields.Boolean(allow_none=True)
    strict_mode_image_extraction = fields.Boolean(allow_none=True)
    strict_mode_image_ocr = fields.Boolean(allow_none=True)
    strict_mode_reconstruction = fields.Boolean(allow_none=True)
    structured_output = fields.Boolean(allow_none=True)
    structured_output_json_schema = fields.String(allow_none=True)
    structured_output_json_schema_name = fields.String(allow_none=True)
    system_prompt = fields.String(allow_none=True)
    system_prompt_append = fields.String(allow_none=True)
    take_screenshot = fields.Boolean(allow_none=True)
    target_pages = fields.String(allow_none=True)
    tier = fields.String(allow_none=True)
    type = fields.String(validate=OneOf(["parse"]))
    use_vendor_multimodal_model = fields.Boolean(allow_none=True)
    user_prompt = fields.String(allow_none=True)
    vendor_multimodal_api_key = fields.String(allow_none=True)
    vendor_multimodal_model_name = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    webhook_configurations = fields.List(fields.Nested(WebhookConfigurationSchema), allow_none=True)
    webhook_url = fields.String(allow_none=True)
