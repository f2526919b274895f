"""Running header/footer detection across pages and printed page numbers."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

ZONE = 0.12  # fraction of the page height searched for running headers/footers
_PAGE_NO = re.compile(
    r"^(?:page|seite|p\.)?\s*[-–]?\s*(\d{1,4}|[ivxlcdm]{1,7})\s*[-–]?"
    r"(?:\s*(?:of|/|von)\s*\d{1,4})?$", re.I)
_EDGE_NO = re.compile(r"(?:^(\d{1,4}|[ivxlcdm]{1,7})\s+\S)|(?:\S\s+(\d{1,4}|[ivxlcdm]{1,7})$)",
                      re.I)


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _value(b: dict[str, Any]) -> str:
    if b["type"] in ("text", "heading"):
        return b["value"]
    return ""


def _zone_blocks(page: dict[str, Any]) -> tuple[list[int], list[int]]:
    h = page.get("height") or 0
    if not h:
        return [], []
    top, bottom = [], []
    for i, b in enumerate(page["blocks"]):
        bb = b.get("bbox")
        if not bb or b["type"] not in ("text", "heading") or len(_value(b)) > 200:
            continue
        if bb["y"] + bb["h"] <= ZONE * h:
            top.append(i)
        elif bb["y"] >= (1 - ZONE) * h:
            bottom.append(i)
    return top, bottom


def split_headers_footers(pages: list[dict[str, Any]]) -> None:
    """Move repeated (or page-number-only) margin blocks into page header/footer fields."""
    zones = [_zone_blocks(p) for p in pages]
    counts: Counter[str] = Counter()
    for p, (top, bottom) in zip(pages, zones, strict=False):
        counts.update({_key(_value(p["blocks"][i])) for i in top + bottom})
    need = max(2, int(0.4 * len(pages) + 0.999))
    for p, (top, bottom) in zip(pages, zones, strict=False):
        if p.get("header") is not None or p.get("footer") is not None:
            continue  # the format reader already knows them (DOCX sections)
        moved: dict[str, list[str]] = {"header": [], "footer": []}
        drop = set()
        for field_name, idxs in (("header", top), ("footer", bottom)):
            for i in idxs:
                v = _value(p["blocks"][i])
                if counts[_key(v)] >= need or _PAGE_NO.match(v.strip()):
                    moved[field_name].append(v)
                    drop.add(i)
        if drop:
            p["blocks"] = [b for i, b in enumerate(p["blocks"]) if i not in drop]
            p["header"] = "\n".join(moved["header"]) or None
            p["footer"] = "\n".join(moved["footer"]) or None


def printed_page_number(page: dict[str, Any]) -> str | None:
    """The page number printed in the margin, looked for in header/footer text first."""
    candidates = [page.get("footer"), page.get("header")]
    blocks = [b for b in page.get("blocks", []) if b["type"] in ("text", "heading")]
    if blocks:
        candidates += [_value(blocks[-1]), _value(blocks[0])]
    for text in candidates:
        for line in (text or "").splitlines()[::-1]:
            line = line.strip()
            m = _PAGE_NO.match(line)
            if m:
                return m.group(1)
            m = _EDGE_NO.search(line) if len(line) < 120 else None
            if m and text in (page.get("footer"), page.get("header")):
                return m.group(1) or m.group(2)
    return None
