"""Turn positioned text segments of one PDF page into blocks (paragraphs, headings, lists,
tables). Pure geometry, no pdfium: fed by pdf.py, testable on its own.

Coordinates are PDF points with the origin at the bottom-left (as pdfium reports them).
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import cast

from .blocks import Block

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

    @property
    def h(self) -> float:
        return max(0.1, self.y1 - self.y0)


_X0 = attrgetter("x0")


class Line:
    """Segments on one baseline; geometry and text are computed once, on creation."""

    __slots__ = ("bold", "segs", "size", "text", "x0", "x1", "y0", "y1")

    def __init__(self, segs: list[Seg]) -> None:
        self.segs = segs
        if len(segs) == 1:
            s = segs[0]
            self.x0, self.x1, self.y0, self.y1 = s.x0, s.x1, s.y0, s.y1
            self.size, self.bold, self.text = s.size, s.bold, s.text.strip()
            return
        x0, y0, x1, y1 = segs[0].x0, segs[0].y0, segs[0].x1, segs[0].y1
        size, bold, ordered, last = segs[0].size, segs[0].bold, True, segs[0].x0
        for s in segs:
            if s.x0 < x0:
                x0 = s.x0
            if s.y0 < y0:
                y0 = s.y0
            if s.x1 > x1:
                x1 = s.x1
            if s.y1 > y1:
                y1 = s.y1
            if s.size > size:
                size = s.size
            bold = bold and s.bold
            if s.x0 < last:
                ordered = False
            last = s.x0
        self.x0, self.y0, self.x1, self.y1, self.size, self.bold = x0, y0, x1, y1, size, bold
        out = ""
        for s in segs if ordered else sorted(segs, key=_X0):
            t = s.text
            if out and not out.endswith(" ") and not t.startswith(" "):
                out += " "
            out += t
        self.text = out.strip()


def group_lines(segs: list[Seg]) -> list[Line]:
    """Consecutive segments (pdfium reading order) on the same baseline form a line."""
    groups: list[list[Seg]] = []
    prev: Seg | None = None
    for s in segs:
        if prev is not None:
            # Vertical overlap of the two segments, relative to the shorter one, > 0.5.
            inter = (prev.y1 if prev.y1 < s.y1 else s.y1) - (prev.y0 if prev.y0 > s.y0 else s.y0)
            shorter = min(prev.y1 - prev.y0, s.y1 - s.y0)
            gap = s.x0 - prev.x1
            if (inter > 0.5 * (shorter if shorter > 0.1 else 0.1) and gap >= -2
                    and gap < 3 * (prev.size if prev.size > s.size else s.size)):
                groups[-1].append(s)
                prev = s
                continue
        groups.append([s])
        prev = s
    return [Line(g) for g in groups]


# ---------------------------------------------------------------- tables


class _Cell:
    """Segments of one row merged into a table cell; the text is joined only if used."""

    __slots__ = ("_text", "parts", "size", "x0", "x1", "y0", "y1")

    def __init__(self, s: Seg) -> None:
        self.x0, self.y0, self.x1, self.y1, self.size = s.x0, s.y0, s.x1, s.y1, s.size
        self.parts = [s.text]
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = " ".join([t for t in (p.strip() for p in self.parts) if t])
        return self._text


def _cells(row: list[Seg]) -> list[Seg | _Cell]:
    """Merge segments of one visual row separated by less than a cell gap.

    Segments never hold only whitespace (the PDF reader drops those), so no cell is empty.
    """
    if len(row) == 1:  # most rows: one line of prose
        s = row[0]
        t = s.text.strip()
        if t == s.text:
            return [s]
        return [Seg(s.x0, s.y0, s.x1, s.y1, t, s.size)] if t else []
    ordered = sorted(row, key=_X0)
    cur = _Cell(ordered[0])
    out: list[Seg | _Cell] = [cur]
    for s in ordered[1:]:
        ssize, size = s.size, cur.size
        if s.x0 - cur.x1 < 0.9 * (ssize if ssize > size else size):
            if s.y0 < cur.y0:
                cur.y0 = s.y0
            if s.x1 > cur.x1:
                cur.x1 = s.x1
            if s.y1 > cur.y1:
                cur.y1 = s.y1
            if ssize > size:
                cur.size = ssize
            cur.parts.append(s.text)
        else:
            cur = _Cell(s)
            out.append(cur)
    return out


def _rows(segs: list[Seg]) -> list[list[Seg]]:
    rows: list[list[Seg]] = []
    ry0 = ry1 = 0.0
    for s in sorted(segs, key=lambda s: -(s.y0 + s.y1)):
        if rows:
            inter = (ry1 if ry1 < s.y1 else s.y1) - (ry0 if ry0 > s.y0 else s.y0)
            shorter = min(ry1 - ry0, s.y1 - s.y0)
            if inter > 0.5 * (shorter if shorter > 0.1 else 0.1):
                rows[-1].append(s)
                ry0 = ry0 if ry0 < s.y0 else s.y0
                ry1 = ry1 if ry1 > s.y1 else s.y1
                continue
        rows.append([s])
        ry0, ry1 = s.y0, s.y1
    return rows


def _tabular(cells: list[Seg | _Cell], page_w: float) -> bool:
    if len(cells) >= 3:
        return max(c.x1 - c.x0 for c in cells) < 0.5 * page_w
    if len(cells) == 2:
        return max(c.x1 - c.x0 for c in cells) < 0.3 * page_w
    return False


@dataclass
class Table:
    rows: list[list[str]]
    x0: float
    y0: float
    x1: float
    y1: float

    def contains(self, s: Seg | _Cell) -> bool:
        cx, cy = (s.x0 + s.x1) / 2, (s.y0 + s.y1) / 2
        return self.x0 - 1 <= cx <= self.x1 + 1 and self.y0 - 1 <= cy <= self.y1 + 1


def find_tables(segs: list[Seg], page_w: float) -> list[Table]:
    rows = [_cells(r) for r in _rows(segs)]
    tab = [_tabular(r, page_w) for r in rows]
    n = len(rows)
    tables: list[Table] = []
    i = 0
    while i < n:
        if not tab[i]:
            i += 1
            continue
        j = i
        run: list[list[Seg | _Cell]] = []
        # Allow one non-tabular row inside a table (wrapped cell text), not at the end.
        while j < n and (tab[j] or (j + 1 < n and tab[j + 1] and len(rows[j]) == 1 and run)):
            run.append(rows[j])
            j += 1
        t = _build_table(run) if len([r for r in run if len(r) > 1]) >= 3 else None
        if t:
            tables.append(t)
        i = max(j, i + 1)
    return tables


def _build_table(run: list[list[Seg | _Cell]]) -> Table | None:
    spans = sorted((c.x0, c.x1) for r in run for c in r if len(r) > 1)
    cols: list[list[float]] = []
    for x0, x1 in spans:
        if cols and x0 <= cols[-1][1]:
            cols[-1][1] = max(cols[-1][1], x1)
        else:
            cols.append([x0, x1])
    if not 2 <= len(cols) <= 40:
        return None
    out: list[list[str]] = []
    ncols = len(cols)
    los = [c[0] for c in cols]
    for r in run:
        cells = [""] * ncols
        for c in r:
            # The column holding the cell's left edge (columns are disjoint), else the one
            # it overlaps most.
            k = bisect.bisect_right(los, c.x0) - 1
            if k < 0 or c.x0 > cols[k][1]:
                k = max(range(ncols), key=cast(Callable[[int], float], lambda j, c=c: min(
                    c.x1, cols[j][1]) - max(c.x0, cols[j][0])))
            cells[k] = (cells[k] + " " + c.text).strip()
        out.append(cells)
    every = [c for r in run for c in r]
    return Table(out, min(c.x0 for c in every), min(c.y0 for c in every),
                 max(c.x1 for c in every), max(c.y1 for c in every))


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


def size_histogram(lines: list[Line]) -> Counter[float]:
    """Characters per font size (rounded to 0.1 pt); pages' histograms add up."""
    c: Counter[float] = Counter()
    for ln in lines:
        c[round(ln.size, 1)] += len(ln.text)
    return c


def most_common_size(hist: Counter[float]) -> float:
    return hist.most_common(1)[0][0] if hist else 10.0


def body_size(lines: list[Line]) -> float:
    return most_common_size(size_histogram(lines))


def layout_blocks(segs: list[Seg], page_w: float, page_h: float,
                  body: float | None = None, lines: list[Line] | None = None) -> list[Block]:
    tables = find_tables(segs, page_w)
    placed: set[int] = set()
    if lines is None:
        lines = group_lines(segs)
    body = body or body_size(lines)
    blocks: list[Block] = []
    para: list[Line] = []

    def bbox(ls: list[Line]) -> dict[str, float]:
        first = ls[0]
        x0, y0, x1, y1 = first.x0, first.y0, first.x1, first.y1
        for ln in ls:
            x0, y0 = (ln.x0 if ln.x0 < x0 else x0), (ln.y0 if ln.y0 < y0 else y0)
            x1, y1 = (ln.x1 if ln.x1 > x1 else x1), (ln.y1 if ln.y1 > y1 else y1)
        return {"x": x0, "y": page_h - y1, "w": x1 - x0, "h": y1 - y0}

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

    for ln in lines:
        inside = [t for t in tables if all(t.contains(s) for s in ln.segs)] if tables else None
        if inside:
            flush()
            k = tables.index(inside[0])
            if k not in placed:
                placed.add(k)
                t = inside[0]
                blocks.append({"type": "table", "rows": t.rows, "bbox": {
                    "x": t.x0, "y": page_h - t.y1, "w": t.x1 - t.x0, "h": t.y1 - t.y0}})
            continue
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
