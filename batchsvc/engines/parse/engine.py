"""parse_document: bytes + file name + LlamaParse parameters -> ParseResult."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from ..llm import LLMConfig
from . import options as O
from .blocks import merge_tables_across_pages, render_blocks
from .detect import decode_text, detect
from .headers import printed_page_number, split_headers_footers
from .images import ParsedImage, image_options_not_applied
from .images import wanted as image_wanted
from .model import NO_PAGES_SELECTED, Page, PageError, ParseError, ParseResult

ENGINE = "batchsvc-parse"
ENGINE_VERSION = "1"
DEFAULT_PAGE_ERROR_TOLERANCE = 0.05


def _languages(params: Mapping[str, Any]) -> list[str]:
    langs = params.get("languages") or []
    if isinstance(langs, str):
        langs = [x.strip() for x in langs.split(",") if x.strip()]
    if params.get("lang"):
        langs = [*langs, str(params["lang"])]
    return [str(x) for x in langs] or ["en"]


def _read(kind: str, data: bytes, params: Mapping[str, Any], ocr: Any,
          meta: dict[str, Any], images: set[str]) -> tuple[int, list[dict[str, Any]]]:
    """Return (document page count, selected raw pages with 0-based "index")."""
    if kind == "pdf":
        from .pdf import read_pdf

        count, pages = read_pdf(data, lambda n: O.select_pages(params, n), dict(params), ocr,
                                images)
        return count, pages
    if kind == "image":
        from .ocr import open_images
        from .pdf_layout import ocr_blocks

        frames = open_images(data)
        pages = []
        for i in O.select_pages(params, len(frames)):
            img = frames[i]
            page: dict[str, Any] = {"index": i, "width": float(img.width),
                                    "height": float(img.height), "blocks": [], "raw_text": ""}
            if "screenshot" in images:
                from .images import frame_screenshot

                page["images"] = [frame_screenshot(img, i + 1)]
            if ocr is None:
                page["warning"] = "image and OCR is disabled"
            else:
                try:
                    words, info = ocr(img)
                    page["ocr"], page["ocr_info"] = True, info
                    # an image's page is measured in its own pixels
                    page["blocks"] = ocr_blocks(words, img.width / info["width"],
                                                img.height / info["height"],
                                                float(img.width), float(img.height))
                except PageError as exc:
                    page["error"] = str(exc)
            pages.append(page)
        return len(frames), pages
    if kind == "docx":
        from .office import read_docx

        raw = read_docx(data)
    elif kind == "pptx":
        from .office import read_pptx

        raw = read_pptx(data)
    elif kind == "xlsx":
        from .office import read_xlsx

        raw, skipped = read_xlsx(data, bool(params.get("spreadsheet_include_hidden_sheets")))
        if skipped:
            meta["hidden_sheets_skipped"] = skipped
    else:
        text = decode_text(data) or ""
        if kind == "csv":
            from .office import read_csv

            raw = read_csv(text)
        elif kind == "html":
            from .html import read_html

            raw = read_html(text, bool(params.get("html_remove_navigation_elements")))
        else:
            from .html import read_text

            raw = read_text(text, kind)
    for i, p in enumerate(raw):
        p["index"] = i
    return len(raw), [raw[i] for i in O.select_pages(params, len(raw))]


def _failed_replacement(p: Page, params: Mapping[str, Any]) -> tuple[str, str]:
    mode = params.get("replace_failed_page_mode") or "raw_text"
    if mode == "blank_page":
        return "", ""
    if mode == "error_message":
        msg = (str(params.get("replace_failed_page_with_error_message_prefix") or "")
               + (p.error or "page failed")
               + str(params.get("replace_failed_page_with_error_message_suffix") or ""))
        return msg, msg
    return p.raw_text, p.raw_text


def parse_document(data: bytes, filename: str, params: Mapping[str, Any] | None = None,
                   llm: LLMConfig | None = None, keep_images: bool = False) -> ParseResult:
    """Parse one document. Raises ParseError for document-level failures.

    With ``keep_images`` the screenshots and embedded images that ``images_to_save``,
    ``take_screenshot`` or ``save_images`` ask for are produced into ``ParseResult.images``
    (the caller stores them); without it they are not made and the options are reported
    as not applied.
    """
    t0 = time.perf_counter()
    params = dict(params or {})
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParseError("unsupported input: expected bytes")
    data = bytes(data)
    kind = detect(data, filename)
    not_applied, for_service = O.classify_options(params, llm is not None)
    warnings: list[str] = []
    meta: dict[str, Any] = {}

    ocr_fn = None
    lang = "eng"
    if not (params.get("disable_ocr") or params.get("fast_mode")):
        from .ocr import ocr_image, resolve_languages

        lang, missing = resolve_languages(_languages(params))
        if missing and kind in ("pdf", "image"):
            not_applied.append({"option": "languages", "reason": (
                f"no OCR model installed for {', '.join(missing)}; used {lang}")})

        def ocr_fn(img: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            return ocr_image(img, lang)

    wanted = image_wanted(params) if keep_images and kind in ("pdf", "image") else set()
    not_applied.extend(image_options_not_applied(params, kind, keep_images))
    count, raw_pages = _read(kind, data, params, ocr_fn, meta, wanted)
    t_read = time.perf_counter()
    if count == 0:
        raise ParseError("empty document")
    if not raw_pages:
        raise ParseError(f"{NO_PAGES_SELECTED}: target_pages and max_pages leave none of "
                         f"the document's {count} pages")
    if kind in ("pdf", "image"):
        split_headers_footers([p for p in raw_pages if not p.get("error")])

    if params.get("merge_tables_across_pages_in_markdown"):
        merge_tables_across_pages([p for p in raw_pages if not p.get("error")])
    render_opts = {k: params.get(k) for k in (
        "annotate_links", "output_tables_as_HTML", "compact_markdown_table",
        "inline_images_in_markdown")}
    pages: list[Page] = []
    images: list[ParsedImage] = []
    for rp in raw_pages:
        md, text, items = render_blocks(rp.get("blocks", []), render_opts)
        page = Page(page_number=rp["index"] + 1, text=text, md=md, header=rp.get("header"),
                    footer=rp.get("footer"), items=items, metadata=dict(rp.get("metadata", {})),
                    width=float(rp.get("width") or 0.0), height=float(rp.get("height") or 0.0),
                    raw_text=rp.get("raw_text", "").replace("\r\n", "\n").replace(
                        "\ufffe\n", "").replace("\ufffe", ""))
        if rp.get("ocr"):
            page.metadata["confidence"] = rp["ocr_info"]["confidence"]
            page.metadata["original_orientation_angle"] = rp["ocr_info"]["rotation"]
        if params.get("extract_printed_page_number"):
            num = printed_page_number(rp)
            if num:
                page.metadata["printed_page_number"] = num
        if rp.get("warning"):
            warnings.append(f"page {page.page_number}: {rp['warning']}")
        warnings.extend(rp.get("image_warnings", []))
        for im in rp.get("images", []):
            im.index = len(images)
            images.append(im)
            page.images.append(im.metadata())
        if rp.get("error"):
            page.success, page.error = False, rp["error"]
            page.md, page.text = _failed_replacement(page, params)
        pages.append(page)

    failed = sum(1 for p in pages if not p.success)
    tol = params.get("page_error_tolerance")
    tol = DEFAULT_PAGE_ERROR_TOLERANCE if tol is None else float(tol)
    if pages and failed / len(pages) > tol:
        first = next(p for p in pages if not p.success)
        raise ParseError(f"{failed} of {len(pages)} pages failed (page_error_tolerance "
                         f"{tol}); first error on page {first.page_number}: {first.error}")

    llm_meta: dict[str, Any] | None = None
    if O.wants_llm(params):
        if llm is None:
            warnings.append("LLM parse mode requested but no provider is configured; "
                            "parsed with the local engine")
        else:
            from .llm_pages import apply_llm

            image_for = _page_images(kind, data) if O.wants_vision(params) else None
            page_dicts: list[dict[str, Any]]
            page_dicts = [{"page_number": p.page_number, "md": p.md, "success": p.success}
                          for p in pages]
            done, w = apply_llm(page_dicts, llm, params, image_for)
            for p, d in zip(pages, page_dicts, strict=False):
                p.md = d["md"]
            warnings.extend(w)
            llm_meta = {**llm.describe(), "pages": done, "vision": image_for is not None}

    if kind in ("pdf", "image") and pages and not any(
            (p.text.strip() or p.header or p.footer) for p in pages if p.success):
        warnings.append("no text found in the selected pages")
    if params.get("custom_metadata") is not None:
        meta["custom_metadata"] = params["custom_metadata"]
    dropped = {k: sum(rp.get("dropped", {}).get(k, 0) for rp in raw_pages)
               for k in ("diagonal", "hidden", "small")}
    t_end = time.perf_counter()
    job_metadata = {
        "engine": ENGINE, "engine_version": ENGINE_VERSION, "detected_type": kind,
        "page_count": count, "pages_parsed": len(pages), "pages_failed": failed,
        "ocr_used": any(rp.get("ocr") for rp in raw_pages),
        "ocr_pages": [rp["index"] + 1 for rp in raw_pages if rp.get("ocr")],
        "ocr_languages": lang if any(rp.get("ocr") for rp in raw_pages) else None,
        "timings": {"read_s": round(t_read - t0, 4), "total_s": round(t_end - t0, 4)},
        "text_segments_dropped": {k: v for k, v in dropped.items() if v},
        "options_not_applied": not_applied, "options_for_service": for_service,
        "cache": {"read": not (params.get("invalidate_cache") or params.get("do_not_cache")),
                  "write": not params.get("do_not_cache")},
        "llm": llm_meta, "warnings": warnings, **meta,
    }
    return ParseResult(pages=pages, job_metadata=job_metadata,
                       render_options=O.render_options(params), images=images)


def _page_images(kind: str, data: bytes) -> Any:
    if kind == "image":
        from .ocr import open_images

        frames = open_images(data)
        return lambda p: frames[p["page_number"] - 1]
    if kind == "pdf":
        from .pdf import open_pdf

        def render(p: dict[str, Any]) -> Any:
            doc = open_pdf(data)
            try:
                return doc[p["page_number"] - 1].render(scale=150 / 72).to_pil()
            finally:
                doc.close()

        return render
    return None
