"""Adapters from a stored file and a job config to the pure engines."""

from __future__ import annotations

from typing import Any

from batchsvc.metrics import count_pages
from batchsvc.settings import get_settings


def llm_config() -> Any:
    settings = get_settings()
    if not settings.llm_configured:
        return None
    from batchsvc.engines.llm import LLMConfig

    return LLMConfig(base_url=settings.llm_base_url, api_key=settings.llm_api_key,
                     model=settings.llm_model)


class DocumentError(Exception):
    """A document-level failure with a message fit for the item's error_message."""


def run_parse(data: bytes, name: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    from batchsvc.engines.parse import ParseError, parse_document

    params = config.get("parameters") or {}
    try:
        result = parse_document(data, name, params, llm=llm_config())
    except ParseError as exc:
        raise DocumentError(str(exc)) from exc
    output = result.to_dict()
    count_pages("parse", name, sum(1 for p in result.pages if p.success))
    meta = result.job_metadata
    summary = {
        "pages": len(result.pages),
        "failed_pages": sum(1 for p in result.pages if not p.success),
        "options_not_applied": meta.get("options_not_applied", []),
    }
    return output, summary


def classify_input_params(config: dict[str, Any]) -> dict[str, Any]:
    """The classify job's parsing_configuration as parse options."""
    parsing = config.get("parsing_configuration") or {}
    params: dict[str, Any] = {}
    if parsing.get("max_pages"):
        params["max_pages"] = parsing["max_pages"]
    if parsing.get("target_pages"):
        params["target_pages"] = ",".join(str(p) for p in parsing["target_pages"])
    if parsing.get("lang"):
        params["languages"] = [parsing["lang"]]
    return params


def run_classify(data: bytes, name: str, config: dict[str, Any]) -> tuple[dict[str, Any], dict]:
    from batchsvc.engines.classify import classify_text
    from batchsvc.engines.parse import ParseError, parse_document

    try:
        parsed = parse_document(data, name, classify_input_params(config))
    except ParseError as exc:
        raise DocumentError(str(exc)) from exc
    text = "\n\n".join(page.text for page in parsed.pages if page.success)
    count_pages("classify", name, sum(1 for p in parsed.pages if p.success))
    if not text.strip():
        raise DocumentError("no text could be read from the document to classify")
    outcome = classify_text(text, config["rules"], config.get("mode") or "FAST",
                            llm=llm_config()).to_dict()
    return outcome, dict(outcome)
