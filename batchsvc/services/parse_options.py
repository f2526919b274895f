"""v2 parse options (``parsing.create``) as the engine's LlamaParse parameters.

The engine speaks the v1 parameter names the batch API carries; a v2 job is mapped onto them
once, when it is created, so the item path, the dedup hash and the lineage are those of every
other parse job. What has no counterpart is reported by name, with the reason."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Tiers that ask for a hosted model; the engine runs them with the operator's provider, else
# locally, and says so.
LLM_TIER_MODES = {"cost_effective": "parse_page_with_llm", "agentic": "parse_page_with_agent",
                  "agentic_plus": "parse_page_with_agent"}
NO_MODEL = "needs a hosted model; used only with an operator-configured LLM provider"
NOT_LOCAL = "not supported by the local parse engine"


def _target_pages(spec: str) -> str:
    """v2 pages are 1-based ("1,3,5-8"); the engine's target_pages are 0-based."""
    out = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        if not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            raise ValueError(f"{part!r} is not a page number or a range like 5-8")
        first, last = int(lo), int(hi) if sep else int(lo)
        if first < 1 or last < first:
            raise ValueError(f"{part!r}: pages are numbered from 1, ranges go upwards")
        out.append(f"{first - 1}-{last - 1}" if sep else str(first - 1))
    if not out:
        raise ValueError("no page given")
    return ",".join(out)


# (v2 path, v1 parameter, conversion) for each option with a direct counterpart.
_DIRECT: list[tuple[tuple[str, ...], str, Callable[[Any], Any]]] = [
    (("page_ranges", "max_pages"), "max_pages", int),
    (("page_ranges", "target_pages"), "target_pages", _target_pages),
    (("disable_cache",), "invalidate_cache", bool),
    (("output_options", "images_to_save"), "images_to_save", list),
    (("output_options", "extract_printed_page_number"), "extract_printed_page_number", bool),
    (("output_options", "markdown", "annotate_links"), "annotate_links", bool),
    (("output_options", "markdown", "inline_images"), "inline_images_in_markdown", bool),
    (("output_options", "markdown", "tables", "compact_markdown_tables"),
     "compact_markdown_table", bool),
    (("output_options", "markdown", "tables", "merge_continued_tables"),
     "merge_tables_across_pages_in_markdown", bool),
    (("output_options", "markdown", "tables", "output_tables_as_markdown"),
     "output_tables_as_HTML", lambda v: not v),
    (("output_options", "spatial_text", "preserve_very_small_text"),
     "preserve_very_small_text", bool),
    (("processing_options", "ignore", "ignore_diagonal_text"), "skip_diagonal_text", bool),
    (("processing_options", "ignore", "ignore_hidden_text"), "remove_hidden_text", bool),
    (("processing_options", "ocr_parameters", "languages"), "languages", list),
    (("processing_control", "timeouts", "base_in_seconds"), "job_timeout_in_seconds", int),
    (("processing_control", "timeouts", "extra_time_per_page_in_seconds"),
     "job_timeout_extra_time_per_page_in_seconds", int),
    (("processing_control", "job_failure_conditions", "allowed_page_failure_ratio"),
     "page_error_tolerance", float),
    (("input_options", "html", "remove_navigation_elements"),
     "html_remove_navigation_elements", bool),
    (("input_options", "spreadsheet", "include_hidden_sheets"),
     "spreadsheet_include_hidden_sheets", bool),
    (("agentic_options", "custom_prompt"), "user_prompt", str),
]

# Options with no counterpart here, and why (anything else unknown is "not supported").
_REASONS: dict[tuple[str, ...], str] = {
    ("crop_box",): "page cropping is not implemented",
    ("http_proxy",): "documents are fetched directly, never through a caller's proxy",
    ("fast_options",): "the fast tier has no options",
    ("output_options", "additional_outputs"): "additional output files are not produced",
    ("output_options", "granular_bboxes"): "granular boxes are not produced (items carry bbox)",
    ("output_options", "tables_as_spreadsheet"): "tables are not exported as spreadsheets",
    ("processing_options", "cost_optimizer"): NO_MODEL,
    ("processing_options", "specialized_chart_parsing"): NO_MODEL,
    ("processing_options", "forms"): "form analysis is not available on the local engine",
}
# Option groups, walked down to their leaves (a crop box is one option).
_CONTAINERS = ("page_ranges", "output_options", "processing_options", "processing_control",
               "input_options", "agentic_options", "crop_box")
# Top-level keys that are not options: the job's input and envelope.
_ENVELOPE = {"tier", "version", "file_id", "source_url", "user_metadata", "client_name",
             "webhook_configurations", "organization_id", "project_id"}


def _is_set(v: Any) -> bool:
    if isinstance(v, dict):
        return any(_is_set(x) for x in v.values())
    return v not in (None, False, "", [])


def _leaves(node: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(node, dict) and path[:1] != ("crop_box",) and path not in _REASONS:
        out = []
        for key, value in node.items():
            out.extend(_leaves(value, (*path, str(key))))
        return out
    return [(path, node)]


def to_parameters(data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(the engine's parameters, the v2 options not applied) for a loaded v2 request.

    Raises ValueError naming the option's dotted path when a value cannot be mapped."""
    params: dict[str, Any] = {}
    direct = {path: (name, convert) for path, name, convert in _DIRECT}
    not_applied: list[dict[str, str]] = []
    for key, value in data.items():
        if key in _ENVELOPE:
            continue
        for path, leaf in _leaves(value, (key,)) if key in _CONTAINERS else [((key,), value)]:
            dotted = ".".join(path)
            if path in direct:
                if leaf is None:
                    continue
                name, convert = direct[path]
                try:
                    params[name] = convert(leaf)
                except ValueError as exc:
                    raise ValueError(f"{dotted}: {exc}") from None
            elif _is_set(leaf):
                not_applied.append({"option": dotted,
                                    "reason": _REASONS.get(path, NOT_LOCAL)})
    mode = LLM_TIER_MODES.get(data["tier"])
    if mode:
        params["parse_mode"] = mode
    if params.get("user_prompt") and not mode:
        del params["user_prompt"]
        not_applied.append({"option": "agentic_options.custom_prompt",
                            "reason": "prompts are used by the LLM tiers only"})
    return params, not_applied
