"""Build the ``GET /api/v2/parse/{job_id}`` body (llama_cloud ParsingGetResponse)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

JOB_FIELDS = ("id", "project_id", "status", "created_at", "error_message", "name", "tier",
              "updated_at", "user_metadata")
METADATA_FIELDS = ("confidence", "cost_optimized", "original_orientation_angle",
                   "printed_page_number", "slide_section_name", "speaker_notes",
                   "triggered_auto_mode")
EXPANDS = ("text", "markdown", "items", "metadata", "markdown_full", "text_full",
           "job_metadata", "images_content_metadata", "result_content_metadata")
# The result files a caller may download (``{kind}_content_metadata``).
RESULT_FILES = ("text", "markdown", "items", "metadata")
_CONTENT = "_content_metadata"
FORMS_UNAVAILABLE = "form analysis is not available on the local parse engine"
_SECRET_HINTS = ("key", "secret", "token", "password")


def _sub(template: str, page_number: int) -> str:
    # LlamaParse documents {page_number}; its clients also send {pageNumber}.
    n = str(page_number)
    return template.replace("{pageNumber}", n).replace("{page_number}", n)


def page_markdown(p: dict[str, Any], ro: dict[str, Any]) -> str:
    """One page's markdown with its header/footer unless hidden."""
    parts = []
    if p.get("header") and not ro.get("hide_headers"):
        parts.append(ro.get("page_header_prefix", "") + p["header"]
                     + ro.get("page_header_suffix", ""))
    parts.append(p.get("md", ""))
    if p.get("footer") and not ro.get("hide_footers"):
        parts.append(ro.get("page_footer_prefix", "") + p["footer"]
                     + ro.get("page_footer_suffix", ""))
    return "\n\n".join(x for x in parts if x)


def page_text(p: dict[str, Any], ro: dict[str, Any]) -> str:
    parts = []
    if p.get("header") and not ro.get("hide_headers"):
        parts.append(p["header"])
    parts.append(p.get("text", ""))
    if p.get("footer") and not ro.get("hide_footers"):
        parts.append(p["footer"])
    return "\n\n".join(x for x in parts if x)


def _full(d: dict[str, Any], one: Any) -> str:
    ro = d.get("render_options", {})
    sep = ro.get("page_separator", "\n\n---\n\n")
    out = []
    for k, p in enumerate(d.get("pages", [])):
        n = p["page_number"]
        body = _sub(ro.get("page_prefix", ""), n) + one(p, ro) + _sub(ro.get("page_suffix", ""),
                                                                      n)
        if k:
            out.append(_sub(sep, n))
        out.append(body)
    return "".join(out)


def full_markdown(d: dict[str, Any]) -> str:
    return _full(d, page_markdown)


def full_text(d: dict[str, Any]) -> str:
    return _full(d, page_text)


def _iso(v: Any) -> Any:
    return v.isoformat() if isinstance(v, datetime) else v


def _redact(params: dict[str, Any]) -> dict[str, Any]:
    return {k: ("***" if any(h in k.lower() for h in _SECRET_HINTS) and v else v)
            for k, v in params.items()}


def _items_page(p: dict[str, Any], ro: dict[str, Any]) -> dict[str, Any]:
    if not p.get("success", True):
        return {"page_number": p["page_number"], "success": False, "error": p.get("error") or
                "page failed"}
    items = list(p.get("items", []))
    if p.get("header"):
        items.insert(0, {"type": "header", "md": p["header"], "items": [
            {"type": "text", "value": p["header"], "md": p["header"]}]})
    if p.get("footer"):
        items.append({"type": "footer", "md": p["footer"], "items": [
            {"type": "text", "value": p["footer"], "md": p["footer"]}]})
    return {"page_number": p["page_number"], "success": True, "items": items,
            "page_width": float(p.get("width") or 0.0),
            "page_height": float(p.get("height") or 0.0)}


def _metadata_page(p: dict[str, Any]) -> dict[str, Any]:
    return {"page_number": p["page_number"],
            **{k: p["metadata"][k] for k in METADATA_FIELDS
               if p.get("metadata", {}).get(k) is not None}}


def _markdown_page(p: dict[str, Any], ro: dict[str, Any]) -> dict[str, Any]:
    if not p.get("success", True):
        return {"page_number": p["page_number"], "success": False,
                "error": p.get("error") or "page failed"}
    return {"page_number": p["page_number"], "success": True,
            "markdown": page_markdown(p, ro),
            "header": p.get("header"), "footer": p.get("footer")}


def images_content_metadata(pages: Sequence[dict[str, Any]],
                            image_url: Callable[[str], str | None] | None = None,
                            image_filenames: Sequence[str] | None = None) -> dict[str, Any]:
    """The SDK's ``images_content_metadata`` from the pages' image records."""
    wanted = set(image_filenames) if image_filenames else None
    images = []
    for p in pages:
        for im in p.get("images") or []:
            if wanted is not None and im["name"] not in wanted:
                continue
            bb = im["bbox"]
            images.append({
                "filename": im["name"], "index": im["index"], "category": im["category"],
                "content_type": im["content_type"],
                "bbox": {k: int(round(bb[k])) for k in ("x", "y", "w", "h")},
                "presigned_url": image_url(im["name"]) if image_url else None})
    return {"images": images, "total_count": len(images)}


def render_v2(result_dict: dict[str, Any], job: dict[str, Any], expand: Sequence[str],
              image_url: Callable[[str], str | None] | None = None,
              image_filenames: Sequence[str] | None = None,
              content_url: Callable[[str], str | None] | None = None) -> dict[str, Any]:
    """Return the JSON body for GET /api/v2/parse/{job_id} with the requested expansions.

    ``result_dict`` is ``ParseResult.to_dict()`` (or None/{} while the job is not done);
    ``job`` carries the service's job row fields. ``image_url(name)`` gives a stored image's
    download URL; ``image_filenames`` keeps only those images; ``content_url(kind)`` the
    download URL of one of ``result_files``.
    """
    body: dict[str, Any] = {"job": {k: _iso(job.get(k)) for k in JOB_FIELDS if k in job}}
    body["job"].setdefault("error_message", None)
    d = result_dict or {}
    if not d.get("pages") and not d.get("job_metadata"):
        return body
    ro = d.get("render_options", {})
    pages = d.get("pages", [])
    want = set(expand)
    if "text" in want:
        body["text"] = {"pages": [{"page_number": p["page_number"], "text": page_text(p, ro)}
                                  for p in pages]}
    if "markdown" in want:
        body["markdown"] = {"pages": [_markdown_page(p, ro) for p in pages]}
    if "items" in want:
        body["items"] = {"pages": [_items_page(p, ro) for p in pages]}
    if "metadata" in want:
        body["metadata"] = {"pages": [_metadata_page(p) for p in pages]}
    if "forms" in want:
        # Form analysis is an LLM pass LlamaCloud runs only off the fast tier: every page says
        # so in the SDK's own failed-page shape rather than vanishing from the answer.
        body["forms"] = {"pages": [{"page_number": p["page_number"], "success": False,
                                    "error": FORMS_UNAVAILABLE} for p in pages]}
    if "markdown_full" in want:
        body["markdown_full"] = full_markdown(d)
    if "text_full" in want:
        body["text_full"] = full_text(d)
    if "job_metadata" in want:
        body["job_metadata"] = d.get("job_metadata", {})
    if "images_content_metadata" in want:
        body["images_content_metadata"] = images_content_metadata(pages, image_url,
                                                                  image_filenames)
    if "raw_parameters" in want and isinstance(job.get("raw_parameters"), dict):
        body["raw_parameters"] = _redact(job["raw_parameters"])
    contents = [e[:-len(_CONTENT)] for e in want
                if e.endswith(_CONTENT) and e != "images_content_metadata"]
    if "result_content_metadata" in want:
        contents = list(dict.fromkeys([*contents, *RESULT_FILES]))
    if contents:
        files = result_files(d)
        body["result_content_metadata"] = {
            kind: {"size_bytes": len(files[kind]), "exists": True,
                   "presigned_url": content_url(kind) if content_url else None}
            if kind in files else {"size_bytes": 0, "exists": False, "presigned_url": None}
            for kind in contents}
    return body


def result_files(d: dict[str, Any]) -> dict[str, bytes]:
    """The result as the files ``*_content_metadata`` describe (and their links serve)."""
    ro = d.get("render_options", {})
    pages = d.get("pages", [])
    return {
        "text": full_text(d).encode(), "markdown": full_markdown(d).encode(),
        "items": json.dumps({"pages": [_items_page(p, ro) for p in pages]}).encode(),
        "metadata": json.dumps({"pages": [_metadata_page(p) for p in pages]}).encode(),
    }
