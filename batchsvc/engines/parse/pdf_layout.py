"""Turn positioned text segments of one PDF page into blocks (paragraphs, headings, lists,
tables, figures) in reading order (columns.py) with tables from rules or aligned rows
(tables.py). Pure geometry, no pdfium: fed by pdf.py and OCR, testable on its own.

Coordinates are PDF points with the origin at the bottom-left (as pdfium reports them).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .blocks import Block
from .columns import Atom, Unit, reading_order
from .pdf_objects import ImageObj, Rule
from .tables import Box, Table, band_table, rule_bands, ruled_tables

_BULLET = re.compile(r"^\s*([•●▪◦○■□‣∙·\-–*])\s+")
_ORDERED = re.compile(r"^\s*(\d{1,3}|[a-zA-Z])[.)]\s+")
_SOFT_HYPHENS = ("\ufffe", "\x02", "\xad")


@dataclass(slots=True)
class Seg:
    x0: float
    y0: float
    x1: float
    y1: float
    text: str
    size: float
    bold: bool = False


class Line:
    """Segments on one baseline, given left to right; geometry and text computed once.

    Segments closer than a small fraction of the font size are one word (fonts switched
    inside a word, or one text object per glyph); wider gaps are spaces. ``rtl`` reads the
    segments right to left.
    """

    __slots__ = ("bold", "segs", "size", "text", "x0", "x1", "y0", "y1")

    def __init__(self, segs: list[Seg], rtl: bool = False) -> None:
        self.segs = segs
        first = segs[0]
        if len(segs) == 1:
            self.x0, self.x1, self.y0, self.y1 = first.x0, first.x1, first.y0, first.y1
            self.size, self.bold, self.text = first.size, first.bold, first.text.strip()
            return
        x0, y0, x1, y1 = first.x0, first.y0, first.x1, first.y1
        size, bold = first.size, first.bold
        for s in segs:
            if s.y0 < y0:
                y0 = s.y0
            if s.x1 > x1:
                x1 = s.x1
            if s.y1 > y1:
                y1 = s.y1
            if s.size > size:
                size = s.size
            bold = bold and s.bold
        self.x0, self.y0, self.x1, self.y1, self.size, self.bold = x0, y0, x1, y1, size, bold
        out = ""
        prev: Seg | None = None
        for s in segs[::-1] if rtl else segs:
            t = s.text
            if prev is not None and not out.endswith(" ") and not t.startswith(" "):
                gap = prev.x0 - s.x1 if rtl else s.x0 - prev.x1
                if gap > 0.12 * s.size:
                    out += " "
            out += t
            prev = s
        self.text = out.strip()


# ---------------------------------------------------------------- paragraphs


def _join(lines: list[str]) -> str:
    out = ""
    for t in lines:
        t = t.strip()
        if not t:
            continue
        if out.endswith(_SOFT_HYPHENS):
            out = out[:-1] + t
        elif out:
            out += " " + t
        else:
            out = t
    for h in _SOFT_HYPHENS:
        out = out.replace(h, "")
    return out


def size_histogram(segs: list[Seg]) -> Counter[float]:
    """Characters per font size (rounded to 0.1 pt); pages' histograms add up."""
    exact: Counter[float] = Counter()
    for sg in segs:
        exact[sg.size] += len(sg.text)
    c: Counter[float] = Counter()
    for size, n in exact.items():  # few distinct sizes: round each once
        c[round(size, 1)] += n
    return c


def most_common_size(hist: Counter[float]) -> float:
    return hist.most_common(1)[0][0] if hist else 10.0


_RTL = re.compile("[\u0590-\u08ff]")


def _rtl_share(text: str) -> float:
    if not _RTL.search(text):
        return 0.0
    letters = [ch for ch in text if ch.isalpha()]
    return sum(1 for ch in letters if "\u0590" <= ch <= "\u08ff") / len(letters) if letters else 0.0


ObjectsFn = Callable[[bool], tuple[list[Rule], list[ImageObj]]]
FigureSearch = Literal["none", "blank", "all"]


def layout_blocks(segs: list[Seg], page_w: float, page_h: float, body: float | None = None,
                  objects: ObjectsFn | None = None,
                  figures: FigureSearch = "blank") -> list[Block]:
    """The page's blocks in reading order.

    ``objects(rules)`` returns the page's rules (when asked) and images. Reading every page
    object costs about as much as reading the text, so it is called only when the text
    hints at a table, or for figures: ``figures`` says where they are looked for (nowhere
    in a document without images, where the text leaves room for one, or everywhere).
    """
    body = body or most_common_size(size_histogram(segs))
    rtl = _rtl_share("".join(sg.text for sg in segs[:400])) > 0.5
    order = reading_order(list(segs), body, page_h, rtl)
    want_images = figures == "all" or (figures == "blank" and order.blank)
    if objects is None or not (order.gridlike or want_images):
        return _blocks(order.units, page_w, page_h, body, rtl)
    rules, images = objects(order.gridlike or order.blank)  # a ruled table may sit in a gap
    tables: list[Box] = []
    inside: set[int] = set()
    for t, idx in ruled_tables(rules, segs):
        inside |= idx
        tables.append(Atom(t.x0, t.y0, t.x1, t.y1, _table_block(t, page_h, rtl)))
    for x0, y0, x1, y1 in rule_bands(rules):
        idx = {k for k, sg in enumerate(segs) if k not in inside
               and x0 - 2 <= (sg.x0 + sg.x1) / 2 <= x1 + 2 and y0 <= (sg.y0 + sg.y1) / 2 <= y1}
        bt = band_table([segs[k] for k in idx], x0, x1, max(0.9 * body, 4.0))
        if bt is not None:
            inside |= idx
            tables.append(Atom(bt.x0, bt.y0, bt.x1, bt.y1, _table_block(bt, page_h, rtl)))
    figs: list[Box] = []
    for k, im in enumerate(images, 1):
        # the part on the page; a page-sized image is a scan's page, not a figure
        x0, y0, x1, y1 = max(0.0, im.x0), max(0.0, im.y0), min(page_w, im.x1), min(page_h, im.y1)
        if x1 > x0 and y1 > y0 and (x1 - x0) * (y1 - y0) < 0.9 * page_w * page_h:
            figs.append(Atom(x0, y0, x1, y1, {"type": "image", "object": list(im.path),
                                              "number": k,
                                              "bbox": _bbox(x0, y0, x1, y1, page_h)}))
    if tables:
        rest: list[Box] = [sg for k, sg in enumerate(segs) if k not in inside]
        order = reading_order(rest + tables + figs, body, page_h, rtl)
    else:
        for f in figs:
            assert isinstance(f, Atom)
            _insert(order.units, f)
    return _blocks(order.units, page_w, page_h, body, rtl)


def _insert(units: list[Unit], atom: Atom) -> None:
    """Place a figure before the first text row below its top that it overlaps across."""
    for i, (kind, unit) in enumerate(units):
        if kind != "rows":
            continue
        for j, row in enumerate(unit):
            if row[0].y1 <= atom.y1 and max(b.x1 for b in row) >= atom.x0 - 1 and min(
                    b.x0 for b in row) <= atom.x1 + 1:
                units[i:i + 1] = [u for u in (("rows", unit[:j]), ("atom", atom),
                                              ("rows", unit[j:])) if u[1]]
                return
    units.append(("atom", atom))


def _bbox(x0: float, y0: float, x1: float, y1: float, page_h: float) -> dict[str, float]:
    return {"x": x0, "y": page_h - y1, "w": x1 - x0, "h": y1 - y0}


def _table_block(t: Table, page_h: float, rtl: bool) -> Block:
    rows, spans = t.rows, t.spans
    if rtl:  # a right-to-left table starts at its right edge
        n = len(rows[0]) if rows else 0
        rows = [r[::-1] for r in rows]
        spans = [[r, n - c - cs, rs, cs] for r, c, rs, cs in spans]
    b: Block = {"type": "table", "rows": rows, "bbox": _bbox(t.x0, t.y0, t.x1, t.y1, page_h)}
    if spans:
        b["spans"] = spans
    return b


def _lines(rows: list[list[Seg]], maybe_rtl: bool) -> list[Line]:
    """Each row as lines: pieces further apart than three ems are separate lines (a running
    head beside its page number), read right to left on a right-to-left row."""
    out: list[Line] = []
    for row in rows:
        rtl = maybe_rtl and _rtl_share("".join(sg.text for sg in row)) > 0.5
        pieces: list[list[Seg]] = [[row[0]]]
        for prev, sg in zip(row, row[1:], strict=False):
            if sg.x0 - prev.x1 > 3 * max(prev.size, sg.size):
                pieces.append([sg])
            else:
                pieces[-1].append(sg)
        out.extend(Line(p, rtl) for p in (pieces[::-1] if rtl else pieces))
    return out


def _blocks(units: list[Unit], page_w: float, page_h: float, body: float,
            rtl: bool) -> list[Block]:
    blocks: list[Block] = []
    para: list[Line] = []
    maybe_rtl = rtl or any(_RTL.search(sg.text) for u in units if u[0] == "rows"
                           for row in u[1] for sg in row)

    def bbox(ls: list[Line]) -> dict[str, float]:
        first = ls[0]
        x0, y0, x1, y1 = first.x0, first.y0, first.x1, first.y1
        for ln in ls:
            x0, y0 = (ln.x0 if ln.x0 < x0 else x0), (ln.y0 if ln.y0 < y0 else y0)
            x1, y1 = (ln.x1 if ln.x1 > x1 else x1), (ln.y1 if ln.y1 > y1 else y1)
        return _bbox(x0, y0, x1, y1, page_h)

    def flush() -> None:
        if not para:
            return
        text = _join([ln.text for ln in para])
        first = para[0]
        if not text:
            pass
        elif first.size >= body * 1.15 and len(text) < 200:
            blocks.append({"type": "heading", "size": first.size, "value": text,
                           "bbox": bbox(para)})
        elif len(para) == 1 and first.bold and len(text.split()) <= 12 and not text.endswith(
                (".", ":", ",")) and re.match(r"^(\d+(\.\d+)*\.?\s+)?[A-Z]", text):
            blocks.append({"type": "heading", "size": body, "value": text, "bbox": bbox(para)})
        else:
            m = _BULLET.match(text) or _ORDERED.match(text)
            if m and len(para) <= 6:
                ordered = m.re is _ORDERED
                item = text[m.end():]
                if blocks and blocks[-1]["type"] == "list" and blocks[-1]["ordered"] == ordered:
                    blocks[-1]["items"].append(item)
                else:
                    blocks.append({"type": "list", "ordered": ordered, "items": [item],
                                   "bbox": bbox(para)})
            else:
                blocks.append({"type": "text", "value": text, "bbox": bbox(para)})
        para.clear()

    for kind, unit in units:
        if kind == "table":
            flush()
            blocks.append(_table_block(unit, page_h, rtl))
            continue
        if kind == "atom":
            flush()
            blocks.append(unit.block)
            continue
        for ln in _lines(unit, maybe_rtl):
            if para:
                prev = para[-1]
                gap = prev.y0 - ln.y1
                new_para = (
                    gap > 0.8 * max(prev.size, ln.size) or gap < -2 * ln.size
                    or abs(prev.size - ln.size) > 0.6
                    or (prev.size >= body * 1.15) != (ln.size >= body * 1.15)
                    or prev.bold != ln.bold and len(para) == 1
                    or bool(_BULLET.match(ln.text) or _ORDERED.match(ln.text))
                    or abs(ln.x0 - para[0].x0) > 0.4 * page_w
                )
                if new_para:
                    flush()
            para.append(ln)
    flush()
    return blocks


def assign_heading_levels(blocks: list[Block], body: float) -> None:
    """Rank heading font sizes over the whole document so levels agree across pages."""
    sizes = sorted({round(b["size"], 1) for b in blocks if b["type"] == "heading"
                    and "size" in b}, reverse=True)
    for b in blocks:
        if b["type"] == "heading" and "size" in b:
            size = round(b.pop("size"), 1)
            b["level"] = min(6, sizes.index(size) + 1) if size > body else min(6, len(sizes) + 1)


def ocr_blocks(words: list[dict[str, Any]], fx: float, fy: float, page_w: float,
               page_h: float) -> list[Block]:
    """Blocks from OCR words (image pixels, top-left origin; ``fx``/``fy`` are points per
    pixel): the same layout pass as a text layer, each word sized by its line's height."""
    heights = sorted(w["line_h"] for w in words)
    body = heights[len(heights) // 2] if heights else 0
    segs = []
    for k, w in enumerate(words):
        # OCR boxes vary with the letters; only a clearly larger or smaller line changes size
        h = w["line_h"] if not 0.75 * body <= w["line_h"] <= 1.3 * body else body
        text = w["text"]
        nxt = words[k + 1]["text"] if k + 1 < len(words) else ""
        if text.endswith("-") and len(text) > 1 and nxt[:1].islower():
            text = text[:-1] + "\xad"  # a word broken at the line's end: joined like a soft hyphen
        y1 = page_h - w["y"] * fy
        segs.append(Seg(w["x"] * fx, y1 - w["h"] * fy, (w["x"] + w["w"]) * fx, y1, text,
                        h * fy))
    return layout_blocks(segs, page_w, page_h, figures="none")
