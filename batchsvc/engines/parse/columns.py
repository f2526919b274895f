"""Reading order of a page: text columns found from whitespace gutters, before tables.

The page is cut into horizontal slabs at every vertical gap between its boxes; consecutive
slabs that keep a common whitespace gutter (an x-range no box touches) form a group, so a
paragraph break in one column does not end the other. A group with gutters is then one of:
- text columns, when every column reads as prose (long lines): read column by column
  (right to left on right-to-left pages), each column ordered the same way again;
- a borderless table, when its rows align on the gutters and the cells are short or
  numeric (``tables.borderless``);
- rows, when its short items line up row by row (a form: "Name:   value");
- independent blocks side by side otherwise, read one after the other.
Everything else is read in rows, top to bottom. Pure geometry in PDF points, origin
bottom-left.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from .tables import Box, Table, borderless, cell_text, list_like, rows_of

MAX_DEPTH = 4
PROSE_CHARS = 24  # mean characters per row of a column that reads as running text
BLANK_SHARE = 0.1  # a vertical gap this share of the page height may hold a figure


@dataclass(slots=True)
class Atom:
    """A block placed before ordering (a ruled table, a figure): ordered as one box."""

    x0: float
    y0: float
    x1: float
    y1: float
    block: dict[str, Any]
    text: str = ""


_X0 = attrgetter("x0")
Unit = tuple[str, Any]  # ("rows", [[Box]]), ("atom", Atom) or ("table", Table)


class _Slab(list[Box]):
    """A horizontal band of boxes; ``line`` while all of them share some height."""

    __slots__ = ("bottom", "line", "top")

    def __init__(self, b: Box) -> None:
        super().__init__((b,))
        self.top, self.bottom = b.y1, b.y0
        self.line = not isinstance(b, Atom)


def _slabs(items: Sequence[Box]) -> list[_Slab]:
    """Items in horizontal bands separated by vertical whitespace, top first."""
    out: list[_Slab] = []
    cur: _Slab | None = None
    low = 0.0  # the highest bottom in the band: boxes above it all overlap
    for b in sorted(items, key=lambda b: -b.y1):
        if cur is not None and b.y1 > cur.bottom:
            cur.append(b)
            if b.y0 < cur.bottom:
                cur.bottom = b.y0
            if b.y0 > low:
                low = b.y0
            cur.line = cur.line and b.y1 > low and not isinstance(b, Atom)
        else:
            cur = _Slab(b)
            out.append(cur)
            low = b.y0
    for slab in out:
        if len(slab) > 1:
            slab.sort(key=_X0)  # left to right, once: coverage and rows read it so
    return out


def _coverage(items: Sequence[Box], gap: float, ordered: bool = False) -> list[list[float]]:
    """Merged x-ranges of the items (``ordered``: already left to right); ranges closer
    than ``gap`` are one."""
    out: list[list[float]] = []
    for b in items if ordered else sorted(items, key=_X0):
        if out and b.x0 - out[-1][1] < gap:
            if b.x1 > out[-1][1]:
                out[-1][1] = b.x1
        else:
            out.append([b.x0, b.x1])
    return out


def _merge_cov(a: list[list[float]], b: list[list[float]], gap: float) -> list[list[float]]:
    out: list[list[float]] = []
    for lo, hi in sorted(a + b):
        if out and lo - out[-1][1] < gap:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return out


def _crosses(items: Sequence[Box], cov: list[list[float]]) -> bool:
    """Whether an item reaches into one of the gutters between ``cov``'s ranges."""
    gaps = [(cov[k][1], cov[k + 1][0]) for k in range(len(cov) - 1)]
    return any(b.x1 > g0 and b.x0 < g1 for b in items for g0, g1 in gaps)


@dataclass
class _Group:
    slabs: list[_Slab]
    cov: list[list[float]]  # column ranges; one range for a single column

    @property
    def items(self) -> list[Box]:
        return [b for s in self.slabs for b in s]


def _groups(slabs: list[_Slab], gap: float) -> list[_Group]:
    """Consecutive slabs sharing gutters, with each group's column ranges."""
    groups: list[_Group] = []
    for slab in slabs:
        cov = _coverage(slab, gap, ordered=True)
        g = groups[-1] if groups else None
        if g is not None:
            if len(g.cov) > 1:
                merged = _merge_cov(g.cov, cov, gap)
                if len(merged) > 1:
                    g.slabs.append(slab)
                    g.cov = merged
                    continue
            elif len(cov) == 1:
                g.slabs.append(slab)
                g.cov = [[min(g.cov[0][0], cov[0][0]), max(g.cov[0][1], cov[0][1])]]
                continue
            else:
                # A column heading just above the columns belongs to its column: pull back
                # the last slabs of a single-column group that stay clear of the gutters.
                pulled: list[_Slab] = []
                while len(g.slabs) > 1 and len(pulled) < 3 and not _crosses(g.slabs[-1], cov):
                    pulled.insert(0, g.slabs.pop())
                if pulled:
                    rest = g.items
                    g.cov = [[min(b.x0 for b in rest), max(b.x1 for b in rest)]]
                    cov = _merge_cov(_coverage([b for s in pulled for b in s], gap), cov, gap)
                    groups.append(_Group([*pulled, slab], cov))
                    continue
        groups.append(_Group([slab], cov))
    return groups


def _columns(items: list[Box], cov: list[list[float]]) -> list[list[Box]]:
    return [c for c in _split([items], cov)[0] if c]


def _major(cov: list[list[float]], gap: float) -> list[list[float]]:
    """Column ranges with the narrow ones (bullets, checkboxes, numbering: under ~3 ems
    wide) joined to the range on their right, or on their left for the last one."""
    out: list[list[float]] = []
    pending: float | None = None
    for lo, hi in cov:
        if hi - lo < 3.3 * gap:
            pending = lo if pending is None else pending
            continue
        out.append([lo if pending is None else pending, hi])
        pending = None
    if pending is not None and out:
        out[-1][1] = cov[-1][1]
    return out or [[cov[0][0], cov[-1][1]]]


def _split(rows: list[list[Box]], cov: list[list[float]]) -> list[list[list[Box]]]:
    """Each row's boxes by column (of their centre): rows[r][c] is a list of boxes."""
    his = [hi for _, hi in cov]
    last = len(cov) - 1
    out = []
    for row in rows:
        cells: list[list[Box]] = [[] for _ in cov]
        for b in row:
            k = bisect_left(his, (b.x0 + b.x1) / 2)
            cells[k if k < last else last].append(b)
        out.append(cells)
    return out


def _prose(cells: list[list[list[Box]]], c: int) -> bool:
    """Whether column ``c`` reads as running text: long lines."""
    lines = [r[c] for r in cells if r[c]]
    # characters per line, a space between boxes (a box may hold one word)
    chars = sum(len(b.text) for ln in lines for b in ln) + sum(len(ln) - 1 for ln in lines)
    return bool(lines) and chars / len(lines) >= PROSE_CHARS


def _table(cells: list[list[list[Box]]]) -> Table | None:
    """The group as a borderless table, if its cells say so."""
    rows: list[list[str]] = []
    for row in cells:
        text = [cell_text(c) if c else "" for c in row]
        filled = [i for i, t in enumerate(text) if t]
        if rows and len(filled) == 1 and filled[0] > 0:
            # a wrapped cell: its second line continues the row above
            k = filled[0]
            rows[-1][k] = (rows[-1][k] + " " + text[k]).strip()
            continue
        rows.append(text)
    if not rows or list_like(rows) or not borderless(rows):
        return None
    every = [b for r in cells for c in r for b in c]
    return Table(rows, min(b.x0 for b in every), min(b.y0 for b in every),
                 max(b.x1 for b in every), max(b.y1 for b in every))


def _lists(cells: list[list[list[Box]]]) -> bool:
    """Whether the lines are mostly list items (lists side by side)."""
    return list_like([[" ".join(b.text.strip() for b in c)] for r in cells for c in r if c])


def _aligned(cells: list[list[list[Box]]]) -> float:
    """Share of rows with text in more than one column."""
    return sum(1 for r in cells if sum(1 for c in r if c) > 1) / len(cells) if cells else 0.0


def _slab_rows(slabs: list[_Slab]) -> list[list[Box]]:
    """Rows of text top to bottom; most slabs are one line (their boxes share a height)."""
    out: list[list[Box]] = []
    for slab in slabs:
        if slab.line:
            out.append(slab)
            continue
        texts = [b for b in slab if not isinstance(b, Atom)]
        if texts:
            out.extend(rows_of(texts))
    return out


def _rows_units(slabs: list[_Slab]) -> list[Unit]:
    """Text rows top to bottom, atoms in their place."""
    atoms = sorted((b for s in slabs for b in s if isinstance(b, Atom)), key=lambda a: -a.y1)
    out: list[Unit] = []
    rows: list[list[Box]] = []
    for r in _slab_rows(slabs):
        while atoms and atoms[0].y1 >= r[0].y1:
            if rows:
                out.append(("rows", rows))
                rows = []
            out.append(("atom", atoms.pop(0)))
        rows.append(r)
    if rows:
        out.append(("rows", rows))
    out.extend(("atom", a) for a in atoms)
    return out


@dataclass
class Order:
    units: list[Unit]
    blank: bool  # a vertical gap large enough for a figure was seen
    gridlike: bool = False  # columns that are not prose were seen (a table, a form)


def reading_order(items: list[Box], body: float, page_h: float, rtl: bool = False) -> Order:
    """The page's content as units in reading order."""
    order = Order([], False)
    _order(items, max(0.9 * body, 4.0), page_h, rtl, 0, order)
    return order


def _order(items: list[Box], gap: float, page_h: float, rtl: bool, depth: int,
           out: Order) -> None:
    slabs = _slabs(items)
    if not out.blank:
        out.blank = any(a.bottom - z.top > BLANK_SHARE * page_h
                        for a, z in zip(slabs, slabs[1:], strict=False))
    for g in _groups(slabs, gap):
        group, cov = g.items, g.cov
        if len(cov) < 2 or depth >= MAX_DEPTH or len(group) < 2:
            out.units.extend(_rows_units(g.slabs))
            continue
        texts = [b for b in group if b.text]
        rows = _slab_rows(g.slabs)
        cells = _split(rows, cov)
        if sum(1 for c in range(len(cov)) if any(r[c] for r in cells)) < 2:
            out.units.extend(_rows_units(g.slabs))
            continue
        major = _major(cov, gap)
        if 1 < len(major) < len(cov):
            wide = _split(rows, major)
            if all(_prose(wide, c) for c in range(len(major))):
                cov, cells = major, wide  # bullets and checkboxes beside prose: columns
        # Rows that mostly fill several columns may be a ruled table (its cells may hold
        # prose) worth reading the page's rules for; side notes beside prose and an
        # equation's number are not.
        aligned = _aligned(cells)
        out.gridlike = out.gridlike or (aligned >= 0.5 and sum(
            1 for r in cells if sum(1 for c in r if c) >= 2) >= 3)
        if not all(_prose(cells, c) for c in range(len(cov))):
            table = _table(cells) if len(texts) == len(group) else None
            if table is not None:
                out.units.append(("table", table))
                continue
            if aligned >= 0.3 and not _lists(cells):
                out.units.extend(_rows_units(g.slabs))
                continue
        cols = _columns(group, cov)
        for col in (cols[::-1] if rtl else cols):
            _order(col, gap, page_h, rtl, depth + 1, out)
