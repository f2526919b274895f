"""LlamaParse ``parameters``: which ones the engine honours and why the rest are not applied."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .model import ParseError


def _names(block: str) -> frozenset[str]:
    return frozenset(block.split())


# Every field of the SDK's parse ``parameters`` (llama_cloud beta batch_create_params).
KNOWN_OPTIONS: frozenset[str] = _names("""
adaptive_long_table aggressive_table_extraction annotate_links auto_mode
auto_mode_configuration_json auto_mode_trigger_on_image_in_page
auto_mode_trigger_on_regexp_in_page auto_mode_trigger_on_table_in_page
auto_mode_trigger_on_text_in_page azure_openai_api_version azure_openai_deployment_name
azure_openai_endpoint azure_openai_key bbox_bottom bbox_left bbox_right bbox_top bounding_box
compact_markdown_table complemental_formatting_instruction confidence_score_effort
content_guideline_instruction continuous_mode custom_metadata disable_image_extraction
disable_ocr disable_reconstruction do_not_cache do_not_unroll_columns enable_cost_optimizer
extract_charts extract_layout extract_printed_page_number fast_mode formatting_instruction
gpt4o_api_key gpt4o_mode guess_xlsx_sheet_name hide_footers hide_headers high_res_ocr
html_make_all_elements_visible html_remove_fixed_elements html_remove_navigation_elements
http_proxy ignore_document_elements_for_layout_detection images_to_save
inline_images_in_markdown input_s3_path input_s3_region input_url internal_is_screenshot_job
invalidate_cache is_formatting_instruction job_timeout_extra_time_per_page_in_seconds
job_timeout_in_seconds keep_page_separator_when_merging_tables lang languages layout_aware
line_level_bounding_box markdown_table_multiline_header_separator max_pages max_pages_enforced
merge_tables_across_pages_in_markdown model outlined_table_extraction output_pdf_of_document
output_s3_path_prefix output_s3_region output_tables_as_HTML outputBucket page_error_tolerance
page_footer_prefix page_footer_suffix page_header_prefix page_header_suffix page_prefix
page_separator page_suffix parse_mode parsing_instruction pipeline_id precise_bounding_box
premium_mode presentation_out_of_bounds_content presentation_skip_embedded_data
preserve_layout_alignment_across_pages preserve_very_small_text preset priority project_id
remove_hidden_text replace_failed_page_mode replace_failed_page_with_error_message_prefix
replace_failed_page_with_error_message_suffix resource_info save_images skip_diagonal_text
specialized_chart_parsing_agentic specialized_chart_parsing_efficient
specialized_chart_parsing_plus specialized_image_parsing spreadsheet_extract_sub_tables
spreadsheet_force_formula_computation spreadsheet_include_hidden_sheets strict_mode_buggy_font
strict_mode_image_extraction strict_mode_image_ocr strict_mode_reconstruction structured_output
structured_output_json_schema structured_output_json_schema_name system_prompt
system_prompt_append take_screenshot target_pages tier type use_vendor_multimodal_model
user_prompt vendor_multimodal_api_key vendor_multimodal_model_name version
webhook_configurations webhook_url
""")

# Options the engine implements locally. The image options (images_to_save, save_images,
# take_screenshot) are judged by images.image_options_not_applied: they depend on whether the
# caller keeps the images. adaptive_long_table asks that long tables come back whole: every
# table always does.
HONOURED: frozenset[str] = _names("""
adaptive_long_table images_to_save save_images take_screenshot inline_images_in_markdown
merge_tables_across_pages_in_markdown outlined_table_extraction
annotate_links compact_markdown_table custom_metadata disable_ocr do_not_cache
extract_printed_page_number fast_mode hide_footers hide_headers html_remove_navigation_elements
invalidate_cache lang languages max_pages max_pages_enforced output_tables_as_HTML
page_error_tolerance page_footer_prefix page_footer_suffix page_header_prefix
page_header_suffix page_prefix page_separator page_suffix preserve_very_small_text
remove_hidden_text replace_failed_page_mode replace_failed_page_with_error_message_prefix
replace_failed_page_with_error_message_suffix skip_diagonal_text
spreadsheet_include_hidden_sheets target_pages
""")

# Options that ask for a hosted model; served by the operator's LLM when configured.
LLM_TRIGGERS: frozenset[str] = _names("""
premium_mode gpt4o_mode use_vendor_multimodal_model
""")
LLM_PROMPT_OPTIONS: frozenset[str] = _names("""
parsing_instruction system_prompt system_prompt_append user_prompt formatting_instruction
complemental_formatting_instruction content_guideline_instruction
""")
# Provider selection the caller cannot make: the operator configures one provider.
PROVIDER_OPTIONS: frozenset[str] = _names("""
azure_openai_api_version azure_openai_deployment_name azure_openai_endpoint azure_openai_key
gpt4o_api_key vendor_multimodal_api_key vendor_multimodal_model_name model
""")

# Options about job plumbing (storage, webhooks, scheduling) that the service, not the engine,
# acts on; reported separately so the service can decide.
SERVICE_OPTIONS: frozenset[str] = _names("""
type project_id pipeline_id priority webhook_url webhook_configurations input_url input_s3_path
input_s3_region output_s3_path_prefix output_s3_region outputBucket http_proxy
job_timeout_in_seconds job_timeout_extra_time_per_page_in_seconds resource_info tier version
preset
""")

_REASONS: dict[str, str] = {
    "output_pdf_of_document": "PDF conversion of documents is not implemented",
    "structured_output": "structured output needs a schema-driven model; not implemented",
    "bbox_top": "page cropping is not implemented",
    "bbox_bottom": "page cropping is not implemented",
    "bbox_left": "page cropping is not implemented",
    "bbox_right": "page cropping is not implemented",
    "bounding_box": "page cropping is not implemented",
}
_DEFAULT_REASON = "not supported by the local parse engine"

_LLM_MODES = re.compile(r"_(llm|lvm|agent|layout_agent)$")


def _is_set(v: Any) -> bool:
    # False/None/empty mean "not requested"; reporting them as not applied would be noise.
    return v not in (None, False, "", [], {})


def wants_llm(params: Mapping[str, Any]) -> bool:
    mode = params.get("parse_mode") or ""
    return bool(_LLM_MODES.search(str(mode))) or any(
        _is_set(params.get(k)) for k in LLM_TRIGGERS)


def wants_vision(params: Mapping[str, Any]) -> bool:
    mode = str(params.get("parse_mode") or "")
    return mode.endswith("_lvm") or "agent" in mode or _is_set(
        params.get("use_vendor_multimodal_model")) or _is_set(params.get("gpt4o_mode"))


def classify_options(params: Mapping[str, Any], llm_available: bool) -> tuple[
        list[dict[str, str]], list[str]]:
    """Return (options_not_applied, options_for_service). Values are never echoed."""
    not_applied: list[dict[str, str]] = []
    service: list[str] = []
    use_llm = wants_llm(params)
    for name in sorted(params):
        value = params[name]
        if not _is_set(value) or name in HONOURED:
            continue
        if name in SERVICE_OPTIONS:
            service.append(name)
            continue
        if name == "parse_mode":
            if str(value) == "parse_page_without_llm":
                continue
            if not _LLM_MODES.search(str(value)):
                not_applied.append({"option": name, "reason": f"unknown parse_mode {value!r}"})
            elif not llm_available:
                not_applied.append({"option": name, "reason": (
                    "needs a hosted model and no LLM provider is configured; "
                    "parsed with the local engine")})
            continue
        if name in LLM_TRIGGERS:
            if not llm_available:
                not_applied.append({"option": name, "reason": (
                    "needs a hosted model and no LLM provider is configured; "
                    "parsed with the local engine")})
            continue
        if name in LLM_PROMPT_OPTIONS:
            if not (use_llm and llm_available):
                not_applied.append({"option": name, "reason": (
                    "prompts are only used in LLM parse modes with a configured provider")})
            continue
        if name in PROVIDER_OPTIONS:
            not_applied.append({"option": name, "reason": (
                "caller-chosen model providers/keys are not used; the operator-configured "
                "provider is used when one is set")})
            continue
        if name not in KNOWN_OPTIONS:
            not_applied.append({"option": name, "reason": "unknown option"})
            continue
        not_applied.append({"option": name, "reason": _REASONS.get(name, _DEFAULT_REASON)})
    return not_applied, service


def parse_target_pages(spec: Any, page_count: int) -> list[int]:
    """LlamaParse ``target_pages``: 0-based, comma separated, ranges inclusive ("0,2-4").

    Returns sorted 0-based indexes within the document; raises ParseError on bad syntax.
    """
    if spec is None or spec == "":
        return list(range(page_count))
    parts = spec if isinstance(spec, list | tuple) else str(spec).split(",")
    chosen: set[int] = set()
    for part in parts:
        part = str(part).strip()
        if not part:
            continue
        m = re.fullmatch(r"(\d+)\s*-\s*(\d+)", part)
        try:
            if m:
                lo, hi = int(m.group(1)), int(m.group(2))
                if hi < lo:
                    raise ValueError
                chosen.update(range(lo, min(hi, page_count - 1) + 1))
            else:
                chosen.add(int(part))
        except ValueError:
            raise ParseError(f"invalid target_pages {str(spec)[:100]!r}") from None
    return sorted(i for i in chosen if 0 <= i < page_count)


def zero_based_pages(spec: str) -> str:
    """1-based page ranges ("1,3-5", the v2 APIs') as ``target_pages`` ("0,2-4").

    Raises ParseError on bad syntax or a page 0.
    """
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not m or int(m.group(1)) < 1 or (m.group(2) and int(m.group(2)) < int(m.group(1))):
            raise ParseError(f"invalid page range {part[:40]!r}: use 1-based pages such as "
                             "'1,3-5'")
        out.append("-".join(str(int(n) - 1) for n in m.groups() if n))
    return ",".join(out)


def select_pages(params: Mapping[str, Any], page_count: int) -> list[int]:
    idx = parse_target_pages(params.get("target_pages"), page_count)
    raw_limits = [params.get(k) for k in ("max_pages", "max_pages_enforced")]
    limits = [int(v) for v in raw_limits if v not in (None, "", 0)]
    if limits:
        idx = idx[: max(0, min(limits))]
    return idx


def render_options(params: Mapping[str, Any]) -> dict[str, Any]:
    """Settings render_v2 needs later, resolved with LlamaParse defaults."""
    return {
        "page_separator": params.get("page_separator") if params.get(
            "page_separator") is not None else "\n\n---\n\n",
        "page_prefix": params.get("page_prefix") or "",
        "page_suffix": params.get("page_suffix") or "",
        "page_header_prefix": params.get("page_header_prefix") or "",
        "page_header_suffix": params.get("page_header_suffix") or "",
        "page_footer_prefix": params.get("page_footer_prefix") or "",
        "page_footer_suffix": params.get("page_footer_suffix") or "",
        "hide_headers": bool(params.get("hide_headers")),
        "hide_footers": bool(params.get("hide_footers")),
    }
