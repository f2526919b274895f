"""Adapters from a stored file and a job config to the pure engines: which options a job's
config means for them, and the model provider the operator configured."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from batchsvc.engines.classify import Evidence
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


@dataclass
class EngineRun:
    """What an engine made of one item: the stored output, the lineage summary, (classify
    FAST) the document's evidence for the job's refinement, and (parse) its images."""

    output: dict[str, Any]
    summary: dict[str, Any]
    evidence: Evidence | None = None
    # Parse: the screenshots and embedded images asked for (engines.parse.images), to be
    # stored beside the output.
    images: list[Any] = field(default_factory=list)


def run_parse(data: bytes, name: str, config: dict[str, Any]) -> EngineRun:
    from batchsvc.engines.parse import ParseError, parse_document

    params = config.get("parameters") or {}
    try:
        result = parse_document(data, name, params, llm=llm_config(), keep_images=True)
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
    return EngineRun(output, summary, images=result.images)


def configure_model(pool_processes: int | None = None) -> None:
    """The classifier's model options from the settings (before its first use).

    ``pool_processes``: the processes of a worker's pool, each with its own model. Their
    inference threads share the cores: one each when there are at least as many processes as
    cores. Measured with two processes on 2 cores (the engine alone, 300 articles): with one
    thread each, 87-94 CPU-ms per document and 20.5-22.0 documents/s; with ONNX Runtime's
    default of a thread per core in each process, 100-101 CPU-ms and 19.2-19.4, its parallel
    steps waiting for their slowest thread whenever another process holds a core."""
    from batchsvc.engines.classify.model import configure

    settings = get_settings()
    threads = None
    if pool_processes:
        threads = max(1, (os.cpu_count() or 1) // pool_processes)
    configure(settings.model_cache or None, settings.classify_quantize, threads)


def classify_input_params(config: dict[str, Any]) -> dict[str, Any]:
    """The classify job's parsing_configuration as parse options."""
    parsing = config.get("parsing_configuration") or {}
    params: dict[str, Any] = {}
    if parsing.get("max_pages"):
        params["max_pages"] = parsing["max_pages"]
    pages = parsing.get("target_pages")
    if pages:
        # A list from classify batches, a 0-based range string from /api/v2/classify.
        params["target_pages"] = pages if isinstance(pages, str) else ",".join(
            str(p) for p in pages)
    if parsing.get("lang"):
        params["languages"] = [parsing["lang"]]
    return params


# Page images for MULTIMODAL classification of scans: the first pages decide a document's
# type; 1024 px on the long side keeps print legible at ~100 dpi for A4/Letter and an image at
# ~1k provider tokens.
CLASSIFY_IMAGE_PAGES = 3
CLASSIFY_IMAGE_MAX_SIDE = 1024


def classify_page_images(data: bytes, parsed: Any) -> list[bytes]:
    """PNG renderings of the first parsed pages of a scan or image file ([] otherwise).

    A scan is a file whose text came from OCR (or an image file): a vision model reads its
    pages better than OCR text alone. Raises ParseError when the file cannot be opened.
    """
    from batchsvc.engines.parse.page_images import render_pages

    meta = parsed.job_metadata
    kind = meta.get("detected_type")
    if not (meta.get("ocr_used") or kind == "image"):
        return []
    numbers = [p.page_number for p in parsed.pages if p.success][:CLASSIFY_IMAGE_PAGES]
    return render_pages(data, kind, numbers, CLASSIFY_IMAGE_MAX_SIDE)


def run_classify(data: bytes, name: str, config: dict[str, Any],
                 parsed: Any = None) -> EngineRun:
    """Classify the file; ``parsed``: an earlier parse of it (a ParseResult) whose text is
    classified as it is, so the document is not parsed again."""
    from batchsvc.engines.classify import DEFAULT_MODE, classify_text, form_of

    configure_model()
    from batchsvc.engines.parse import ParseError, parse_document

    notes: list[str] = []
    if parsed is None:
        try:
            parsed = parse_document(data, name, classify_input_params(config))
        except ParseError as exc:
            raise DocumentError(str(exc)) from exc
        count_pages("classify", name, sum(1 for p in parsed.pages if p.success))
    elif config.get("parsing_configuration"):
        notes.append("parsing_configuration not applied: the parse job's text was "
                     "classified as it was parsed")
    text = "\n\n".join(page.text for page in parsed.pages if page.success)
    mode = config.get("mode") or DEFAULT_MODE
    llm = llm_config()
    images: list[bytes] = []
    if llm is not None and str(mode).upper() == "MULTIMODAL":
        try:
            images = classify_page_images(data, parsed)
        except Exception as exc:  # the images are an extra: a failure must not sink the item
            notes.append(f"page images could not be rendered ({type(exc).__name__}: {exc}); "
                         f"the model was sent the text only")
    if not text.strip() and not images:
        raise DocumentError("no text could be read from the document to classify")
    form = form_of(parsed.job_metadata.get("detected_type"), len(parsed.pages))
    result = classify_text(text, config["rules"], mode, llm=llm, images=images or None,
                           form=form)
    outcome = result.to_dict()
    outcome["notes"] = notes + outcome["notes"]
    return EngineRun(outcome, dict(outcome), result.evidence)
