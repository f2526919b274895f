"""Running header/footer detection across pages and printed page numbers."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

ZONE = 0.12  # fraction of the page height searched for running headers/footers
POSITION_TOLERANCE = 3.0  # points: the same place on another page
_PAGE_NO = re.compile(
    r"^(?:page|seite|p\.)?\s*[-–]?\s*(\d{1,4}|[ivxlcdm]{1,7})\s*[-–]?"
    r"(?:\s*(?:of|/|von)\s*\d{1,4})?$", re.I)
_WORDED_NO = re.compile(r"^(?:page|seite|p\.)\s*\S|\S\s*(?:of|/|von)\s*\d|^[-–]\s*\S+\s*[-–]$",
                        re.I)
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


def _edge_distance(b: dict[str, Any], side: str, h: float) -> float:
    bb = b["bbox"]
    return bb["y"] if side == "header" else h - (bb["y"] + bb["h"])


def split_headers_footers(pages: list[dict[str, Any]]) -> None:
    """Move running headers/footers (and page-number-only margin lines) out of the body.

    On the outermost line of the margin zone, a block is moved when it is a page number,
    shares the line with one (the running head beside it), recurs at the same distance from
    the edge (digits ignored) on at least 3 pages (2 in documents of up to 5 pages) -- this
    catches LaTeX-style running heads that change with each section -- or recurs anywhere in
    the zone on 40% of the pages. Further in, blocks recurring on 40% of the pages are moved
    up to the first block that does not, so body text (a formula digit, a heading opening
    the page) is never taken from behind it. A worded page number ("Page 3", "3 of 7")
    anywhere in the zone is moved too.
    """
    zones = [_zone_blocks(p) for p in pages]
    counts: Counter[str] = Counter()
    placed: dict[tuple[str, str, int], set[int]] = {}
    for k, (p, (top, bottom)) in enumerate(zip(pages, zones, strict=False)):
        counts.update({_key(_value(p["blocks"][i])) for i in top + bottom})
        for side, idxs in (("header", top), ("footer", bottom)):
            for i in idxs:
                b = p["blocks"][i]
                pos = round(_edge_distance(b, side, p["height"]) / POSITION_TOLERANCE)
                placed.setdefault((side, _key(_value(b)), pos), set()).add(k)
    need = max(2, int(0.4 * len(pages) + 0.999))
    need_placed = min(need, 3)

    def recurs_in_place(side: str, b: dict[str, Any], h: float) -> bool:
        pos = round(_edge_distance(b, side, h) / POSITION_TOLERANCE)
        text = _key(_value(b))
        on = set().union(*(placed.get((side, text, pos + d), set()) for d in (-1, 0, 1)))
        return len(on) >= need_placed

    for p, (top, bottom) in zip(pages, zones, strict=False):
        if p.get("header") is not None or p.get("footer") is not None:
            continue  # the format reader already knows them (DOCX sections)
        h = p.get("height") or 0
        if not (top or bottom) or not h:
            continue
        blocks = p["blocks"]
        moved: dict[str, list[str]] = {"header": [], "footer": []}
        drop: set[int] = set()
        for field_name, idxs in (("header", top), ("footer", bottom)):
            zone = set(idxs)
            outer = sorted((i for i, b in enumerate(blocks) if b.get("bbox")),
                           key=lambda i: _edge_distance(blocks[i], field_name, h))
            if not outer:
                continue
            first = blocks[outer[0]]["bbox"]
            band = _edge_distance(blocks[outer[0]], field_name, h) + first["h"]
            taken = [i for i in idxs if _WORDED_NO.search(_value(blocks[i]).strip())
                     and _PAGE_NO.match(_value(blocks[i]).strip())]
            # The outermost line: a page number, a line recurring in place, and what shares
            # the line with a page number (the running head beside it) are moved.
            edge = [i for i in outer if _edge_distance(blocks[i], field_name, h) < band]
            numbered = any(_PAGE_NO.match(_value(blocks[i]).strip()) for i in edge)
            rest = outer[len(edge):]
            for i in edge:
                v = _value(blocks[i]).strip()
                if i in zone and (_PAGE_NO.match(v) or (numbered and len(v) <= 100)
                                  or recurs_in_place(field_name, blocks[i], h)
                                  or (len(v) > 1 and counts[_key(v)] >= need)):
                    if i not in taken:
                        taken.append(i)
                else:
                    rest = []  # body text on the outermost line: no running lines behind it
            # Further in, text recurring on 40% of the pages, up to the first other block.
            for i in rest:
                v = _value(blocks[i]).strip()
                if i not in zone or not (i in taken or (len(v) > 1 and counts[_key(v)] >= need)):
                    break
                if i not in taken:
                    taken.append(i)
            drop.update(taken)
            moved[field_name] = [_value(blocks[i]) for i in sorted(taken)]
        if drop:
            p["blocks"] = [b for i, b in enumerate(blocks) if i not in drop]
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
