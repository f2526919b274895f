"""Turn positioned text segments of one PDF page into blocks (paragraphs, headings, lists,
tables). Pure geometry, no pdfium: fed by pdf.py, testable on its own.

Coordinates are PDF points with the origin at the bottom-left (as pdfium reports them).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from .blocks import Block

_BULLET = re.compile(r"^\s*([•●▪◦○■□‣∙·\-–*])\s+")
_ORDERED = re.compile(r"^\s*(\d{1,3}|[a-zA-Z])[.)]\s+")
_SOFT_HYPHENS = ("\ufffe", "\x02", "\xad")


@dataclass
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


@dataclass
class Line:
    segs: list[Seg] = field(default_factory=list)

    @property
    def x0(self) -> float:
        return min(s.x0 for s in self.segs)

    @property
    def x1(self) -> float:
        return max(s.x1 for s in self.segs)

    @property
    def y0(self) -> float:
        return min(s.y0 for s in self.segs)

    @property
    def y1(self) -> float:
        return max(s.y1 for s in self.segs)

    @property
    def size(self) -> float:
        return max(s.size for s in self.segs)

    @property
    def bold(self) -> bool:
        return all(s.bold for s in self.segs)

    @property
    def text(self) -> str:
        out = ""
        for s in sorted(self.segs, key=lambda s: s.x0):
            t = s.text
            if out and not out.endswith(" ") and not t.startswith(" "):
                out += " "
            out += t
        return " ".join(out.split(" ")).strip()


def _vert_overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    inter = min(a1, b1) - max(a0, b0)
    return inter / max(0.1, min(a1 - a0, b1 - b0))


def group_lines(segs: list[Seg]) -> list[Line]:
    """Consecutive segments (pdfium reading order) on the same baseline form a line."""
    lines: list[Line] = []
    for s in segs:
        if lines:
            last = lines[-1]
            prev = last.segs[-1]
            if (_vert_overlap(prev.y0, prev.y1, s.y0, s.y1) > 0.5 and s.x0 >= prev.x1 - 2
                    and s.x0 - prev.x1 < 3 * max(prev.size, s.size)):
                last.segs.append(s)
                continue
        lines.append(Line([s]))
    return lines


# ---------------------------------------------------------------- tables


def _cells(row: list[Seg]) -> list[Seg]:
    """Merge segments of one visual row separated by less than a cell gap."""
    row = sorted(row, key=lambda s: s.x0)
    out: list[Seg] = []
    for s in row:
        if out and s.x0 - out[-1].x1 < 0.9 * max(s.size, out[-1].size):
            c = out[-1]
            out[-1] = Seg(c.x0, min(c.y0, s.y0), max(c.x1, s.x1), max(c.y1, s.y1),
                          (c.text.rstrip() + " " + s.text.lstrip()).strip(), max(c.size, s.size))
        else:
            out.append(Seg(s.x0, s.y0, s.x1, s.y1, s.text.strip(), s.size))
    return [c for c in out if c.text]


def _rows(segs: list[Seg]) -> list[list[Seg]]:
    rows: list[list[Seg]] = []
    for s in sorted(segs, key=lambda s: -(s.y0 + s.y1) / 2):
        if rows:
            r = rows[-1]
            y0, y1 = min(x.y0 for x in r), max(x.y1 for x in r)
            if _vert_overlap(y0, y1, s.y0, s.y1) > 0.5:
                r.append(s)
                continue
        rows.append([s])
    return rows


def _tabular(cells: list[Seg], page_w: float) -> bool:
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

    def contains(self, s: Seg) -> bool:
        cx, cy = (s.x0 + s.x1) / 2, (s.y0 + s.y1) / 2
        return self.x0 - 1 <= cx <= self.x1 + 1 and self.y0 - 1 <= cy <= self.y1 + 1


def find_tables(segs: list[Seg], page_w: float) -> list[Table]:
    rows = [_cells(r) for r in _rows(segs)]
    tables: list[Table] = []
    i = 0
    while i < len(rows):
        if not _tabular(rows[i], page_w):
            i += 1
            continue
        j = i
        run: list[list[Seg]] = []
        # Allow one non-tabular row inside a table (wrapped cell text), not at the end.
        while j < len(rows) and (_tabular(rows[j], page_w) or (
                j + 1 < len(rows) and _tabular(rows[j + 1], page_w) and len(rows[j]) == 1
                and run)):
            run.append(rows[j])
            j += 1
        t = _build_table(run) if len([r for r in run if len(r) > 1]) >= 3 else None
        if t:
            tables.append(t)
        i = max(j, i + 1)
    return tables


def _build_table(run: list[list[Seg]]) -> Table | None:
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
    for r in run:
        cells = [""] * len(cols)
        for c in r:
            best = max(range(len(cols)), key=lambda k: min(c.x1, cols[k][1]) - max(
                c.x0, cols[k][0]) - (0 if cols[k][0] <= c.x0 <= cols[k][1] else 1000))
            cells[best] = (cells[best] + " " + c.text).strip()
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


def body_size(lines: list[Line]) -> float:
    c: Counter[float] = Counter()
    for ln in lines:
        c[round(ln.size, 1)] += len(ln.text)
    return c.most_common(1)[0][0] if c else 10.0


def layout_blocks(segs: list[Seg], page_w: float, page_h: float,
                  body: float | None = None) -> list[Block]:
    tables = find_tables(segs, page_w)
    placed: set[int] = set()
    lines = group_lines(segs)
    body = body or body_size(lines)
    blocks: list[Block] = []
    para: list[Line] = []

    def bbox(ls: list[Line]) -> dict[str, float]:
        x0, x1 = min(ln.x0 for ln in ls), max(ln.x1 for ln in ls)
        y0, y1 = min(ln.y0 for ln in ls), max(ln.y1 for ln in ls)
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
        inside = [t for t in tables if all(t.contains(s) for s in ln.segs)]
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
