"""The v1 parsing results the ``llama-parse`` client (0.6.x) reads:
``/api/parsing/job/{id}/result/{markdown|text|json}``."""

from __future__ import annotations

from typing import Any

from .render import full_markdown, full_text, page_markdown, page_text

# The client's own default; LlamaParse's server uses it when none is sent.
V1_PAGE_SEPARATOR = "\n---\n"


def v1_job_metadata(d: dict[str, Any], cache_hit: bool) -> dict[str, Any]:
    """The client's ``JobMetadata`` fields, and the engine's report beside them."""
    return {"job_pages": len(d.get("pages", [])), "job_auto_mode_triggered_pages": 0,
            "job_is_cache_hit": cache_hit, "batchsvc": d.get("job_metadata", {})}


def _image(im: dict[str, Any]) -> dict[str, Any]:
    bb = im["bbox"]
    return {"name": im["name"], "x": bb["x"], "y": bb["y"], "width": bb["w"],
            "height": bb["h"], "original_width": im.get("width"),
            "original_height": im.get("height"),
            "type": "full_page_screenshot" if im["category"] == "screenshot" else "embedded"}


def _page(p: dict[str, Any], ro: dict[str, Any]) -> dict[str, Any]:
    ok = p.get("success", True)
    return {"page": p["page_number"], "text": page_text(p, ro), "md": page_markdown(p, ro),
            "images": [_image(im) for im in p.get("images") or []], "charts": [],
            "tables": [], "layout": [], "items": list(p.get("items", [])), "links": [],
            "status": "OK" if ok else "ERROR", "error": None if ok else p.get("error"),
            "width": p.get("width"), "height": p.get("height")}


def render_v1(d: dict[str, Any], result_type: str, cache_hit: bool) -> dict[str, Any]:
    """The body for ``result_type`` ``markdown``, ``text`` or ``json``."""
    meta = v1_job_metadata(d, cache_hit)
    if result_type == "markdown":
        return {"markdown": full_markdown(d), "job_metadata": meta}
    if result_type == "text":
        return {"text": full_text(d), "job_metadata": meta}
    ro = d.get("render_options", {})
    return {"pages": [_page(p, ro) for p in d.get("pages", [])], "job_metadata": meta}
