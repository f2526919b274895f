"""One item's result: per page the markdown beside the page, text, items and metadata; or a
classification with its type, confidence and reasoning."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, render_template
from markdown_it import MarkdownIt
from markupsafe import Markup

from batchsvc.engines.parse import render_v2
from batchsvc.services import results as service
from batchsvc.ui.blueprint import bp, project_id
from batchsvc.ui.forms import pages, query
from batchsvc.uow import unit_of_work
from schemas.common import OffsetQuery

# Documents are untrusted: raw HTML in their markdown is shown as text, never as markup
# (markdown-it also refuses javascript: and data: links).
_markdown = MarkdownIt("commonmark", {"html": False}).enable("table")
EXPANDS = ["markdown", "text", "items", "metadata"]
PAGES_PER_VIEW = 10


def _pages(output: dict[str, Any]) -> list[dict[str, Any]]:
    body = render_v2(output, {}, EXPANDS)
    by_part = {part: body.get(part, {}).get("pages", []) for part in EXPANDS}
    pages = []
    for index, md in enumerate(by_part["markdown"]):
        items = by_part["items"][index]
        pages.append({
            "page_number": md["page_number"], "success": md.get("success", True),
            "error": md.get("error"),
            "html": Markup(_markdown.render(md.get("markdown") or "")),
            "markdown": md.get("markdown") or "",
            "text": by_part["text"][index]["text"],
            "items_json": json.dumps(items.get("items", []), indent=1, ensure_ascii=False),
            "item_count": len(items.get("items", [])),
            "size": (items.get("page_width"), items.get("page_height")),
            "metadata": {k: v for k, v in by_part["metadata"][index].items()
                         if k != "page_number"}})
    return pages


def _classification(found: dict[str, Any]) -> dict[str, Any] | None:
    # The result row's summary is what the classifier API answers (a job-wide refinement
    # rewrites it there); the stored output adds the notes.
    summary = found["output_metadata"] or {}
    if "confidence" not in summary:
        return found["output"] or None
    return {**(found["output"] or {}), **summary}


@bp.get("/batches/<job_id>/items/<item_id>")
def item(job_id: str, item_id: str) -> str:
    with unit_of_work() as db:
        found = service.item_result(db, project_id(), job_id, item_id)
    output = found["output"] or {}
    is_parse = found["job"]["job_type"] == "parse"
    # A long document is shown a few pages at a time: each page is markdown plus an image.
    offset = query(OffsetQuery(), limit=PAGES_PER_VIEW)["offset"]
    every = output.get("pages") or [] if is_parse else []
    shown = {**output, "pages": every[offset:offset + PAGES_PER_VIEW]}
    return render_template(
        "item.html", found=found, job=found["job"], item=found["item"],
        pages=_pages(shown) if shown["pages"] else [],
        paging=pages(offset, PAGES_PER_VIEW, len(every)),
        job_metadata=output.get("job_metadata") if is_parse else None,
        classification=None if is_parse else _classification(found),
        pretty=json.dumps(output, indent=1, ensure_ascii=False)[:200_000] if output else "")


@bp.get("/batches/<job_id>/items/<item_id>/pages/<int:page_number>.png")
def page_image(job_id: str, item_id: str, page_number: int) -> Response:
    with unit_of_work() as db:
        png = service.page_image(db, project_id(), job_id, item_id, page_number)
    return Response(png, mimetype="image/png",
                    headers={"Cache-Control": "private, max-age=3600"})
