"""Tables of a PDF page: ruled grids from vector rules, borderless ones from aligned rows.

Pure geometry (PDF points, origin bottom-left). A ruled table is a connected set of
horizontal and vertical rules with at least two rows and two columns of cells, text in at
least two columns; cells missing an inner rule span. A borderless table is only built from
rows the column finder found aligned on shared gutters, and only when its cells are short
or numeric: prose never is.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Protocol, TypeVar

from .pdf_objects import Rule

TOL = 2.0  # points: rules this close are the same rule, or touch
_MARKER = re.compile(r"^([•●▪◦○■□‣∙·*\-–]|\d{1,2}[.)]|[a-zA-Z][.)])(\s|$)")
_NUMERIC = re.compile(r"^[\s$€£¥%(+\-−–.,:/\d)]*\d[\s$€£¥%()\-−–.,:/\d]*[a-zA-Z%]{0,3}$")


class Box(Protocol):
    x0: float
    y0: float
    x1: float
    y1: float
    text: str


B = TypeVar("B", bound=Box)
_X0 = attrgetter("x0")


def _top_first(b: Box) -> float:
    return -(b.y0 + b.y1)


@dataclass
class Table:
    rows: list[list[str]]
    x0: float
    y0: float
    x1: float
    y1: float
    # [row, col, rowspan, colspan] of every cell spanning more than one grid cell
    spans: list[list[int]] = field(default_factory=list)


def _merge(rules: list[Rule]) -> list[Rule]:
    """Collinear rules that overlap or touch become one."""
    out: list[Rule] = []
    for r in sorted(rules, key=lambda r: (r.horizontal, round(r.at / TOL), r.lo)):
        last = out[-1] if out else None
        if (last and last.horizontal == r.horizontal and abs(last.at - r.at) <= TOL
                and r.lo <= last.hi + TOL):
            last.hi = max(last.hi, r.hi)
        else:
            out.append(Rule(r.horizontal, r.at, r.lo, r.hi))
    return out


def _clusters(rules: list[Rule]) -> list[list[Rule]]:
    """Groups of rules connected by crossings (union-find over h x v pairs)."""
    parent = list(range(len(rules)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    hs = [i for i, r in enumerate(rules) if r.horizontal]
    vs = [i for i, r in enumerate(rules) if not r.horizontal]
    for i in hs:
        h = rules[i]
        for j in vs:
            v = rules[j]
            if h.lo - TOL <= v.at <= h.hi + TOL and v.lo - TOL <= h.at <= v.hi + TOL:
                parent[find(i)] = find(j)
    groups: dict[int, list[Rule]] = {}
    for i, r in enumerate(rules):
        groups.setdefault(find(i), []).append(r)
    return list(groups.values())


def _levels(values: list[float]) -> list[float]:
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > TOL:
            out.append(v)
    return out


def _edges(at: list[float], ends: list[float]) -> list[float]:
    """Rule positions, plus where the crossing rules end beyond the outermost ones."""
    levels = _levels(at)
    if levels and ends:
        if min(ends) < levels[0] - 3 * TOL:
            levels.insert(0, min(ends))
        if max(ends) > levels[-1] + 3 * TOL:
            levels.append(max(ends))
    return levels


def _covered(rules: dict[int, list[Rule]], at: float, lo: float, hi: float) -> bool:
    """Whether rules at ``at`` (indexed by ``_by_level``) cover most of [lo, hi]."""
    cover = 0.0
    for k in (round(at / TOL) - 1, round(at / TOL), round(at / TOL) + 1):
        for r in rules.get(k, ()):
            if abs(r.at - at) <= TOL and r.hi > lo and r.lo < hi:
                cover += min(r.hi, hi) - max(r.lo, lo)
    return cover >= 0.6 * (hi - lo)


def _by_level(rules: list[Rule]) -> dict[int, list[Rule]]:
    out: dict[int, list[Rule]] = {}
    for r in rules:
        out.setdefault(round(r.at / TOL), []).append(r)
    return out


def ruled_tables(rules: list[Rule], boxes: Sequence[Box]) -> list[tuple[Table, set[int]]]:
    """Tables drawn with rules, and the indexes of the boxes (text segments) inside each."""
    if len(rules) < 4:
        return []
    out = []
    for group in _clusters(_merge(rules)):
        hs = [r for r in group if r.horizontal]
        vs = [r for r in group if not r.horizontal]
        # Rules may run past the outermost crossing rules (a table open at its sides, as
        # with LaTeX's booktabs): their ends close the grid.
        xs = _edges([r.at for r in vs], [e for r in hs for e in (r.lo, r.hi)])
        ys = _edges([r.at for r in hs], [e for r in vs for e in (r.lo, r.hi)])[::-1]
        if (len(ys) < 2 or len(xs) < 2 or len(ys) * len(xs) > 4000
                or xs[-1] - xs[0] < 20 or ys[0] - ys[-1] < 10):
            continue
        if sum(1 for b in boxes if xs[0] <= (b.x0 + b.x1) / 2 <= xs[-1]
               and ys[-1] <= (b.y0 + b.y1) / 2 <= ys[0]) < 2:
            continue  # a drawing, or a frame around one label
        t = _grid(_by_level(hs), _by_level(vs), xs, ys, boxes)
        if t is not None:
            out.append(t)
    return out


def _grid(hs: dict[int, list[Rule]], vs: dict[int, list[Rule]], xs: list[float],
          ys: list[float], boxes: Sequence[Box]) -> tuple[Table, set[int]] | None:
    nr, nc = len(ys) - 1, len(xs) - 1
    neg_ys = [-y for y in ys]  # ascending, for bisect
    at: dict[tuple[int, int], list[Box]] = {}
    inside: set[int] = set()
    for k, b in enumerate(boxes):
        cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
        if not (xs[0] <= cx <= xs[-1] and ys[-1] <= cy <= ys[0]):
            continue
        c = min(nc - 1, max(0, bisect_left(xs, cx) - 1))
        r = min(nr - 1, max(0, bisect_left(neg_ys, -cy) - 1))
        at.setdefault((r, c), []).append(b)
        inside.add(k)
    per_row = Counter(r for (r, _) in at)
    if len({c for (_, c) in at}) < 2 or sum(1 for n in per_row.values() if n >= 2) < 2:
        return None  # a box around text, labels scattered over a drawing: not a table
    # Union grid cells that no rule separates: the spanning cells.
    owner = [[(r, c) for c in range(nc)] for r in range(nr)]
    for r in range(nr):
        for c in range(nc):
            if c + 1 < nc and not _covered(vs, xs[c + 1], ys[r + 1], ys[r]):
                owner[r][c + 1] = owner[r][c]
            if r + 1 < nr and not _covered(hs, ys[r + 1], xs[c], xs[c + 1]):
                top = owner[r][c]
                if owner[r + 1][c] == (r + 1, c):
                    owner[r + 1][c] = top
    texts: dict[tuple[int, int], list[Box]] = {}
    for (r, c), bs in at.items():
        texts.setdefault(owner[r][c], []).extend(bs)
    rows = [["" for _ in range(nc)] for _ in range(nr)]
    for (r, c), bs in texts.items():
        rows[r][c] = cell_text(bs)
    extent: dict[tuple[int, int], list[int]] = {}
    for r in range(nr):
        for c in range(nc):
            o = owner[r][c]
            e = extent.setdefault(o, [r, c, r, c])
            e[2], e[3] = max(e[2], r), max(e[3], c)
    spans = [[r0, c0, r1 - r0 + 1, c1 - c0 + 1] for (r0, c0, r1, c1) in extent.values()
             if r1 > r0 or c1 > c0]
    rows, spans = _drop_empty_rows(rows, spans)
    rows, spans = _drop_empty_columns(rows, spans)
    if len(rows) < 2 or len(rows[0]) < 2:
        return None
    covered = sum(rs * cs - 1 for _, _, rs, cs in spans)
    filled = sum(1 for r in rows for c in r if c)
    if (sum(1 for r in rows if sum(1 for c in r if c) >= 2) < 2
            or filled < 0.3 * (len(rows) * len(rows[0]) - covered)):
        return None  # labels scattered over a drawing's lines
    return Table(rows, xs[0], ys[-1], xs[-1], ys[0], spans), inside


def _drop_empty_rows(rows: list[list[str]], spans: list[list[int]]) -> tuple[
        list[list[str]], list[list[int]]]:
    """Rows with no text (spacer rows) go; spans are renumbered over the rows kept."""
    keep = [r for r, row in enumerate(rows) if any(row)]
    if len(keep) == len(rows):
        return rows, spans
    new = {r: k for k, r in enumerate(keep)}
    out_spans = []
    for r0, c0, rs, cs in spans:
        if r0 in new:
            kept = sum(1 for r in range(r0, r0 + rs) if r in new)
            if kept > 1 or cs > 1:
                out_spans.append([new[r0], c0, kept, cs])
    return [rows[r] for r in keep], out_spans


def _drop_empty_columns(rows: list[list[str]], spans: list[list[int]]) -> tuple[
        list[list[str]], list[list[int]]]:
    """Columns with no text in any row (a grid's margins) go; spans are renumbered."""
    keep = [c for c in range(len(rows[0])) if any(r[c] for r in rows)] if rows else []
    if not rows or len(keep) == len(rows[0]):
        return rows, spans
    new = {c: k for k, c in enumerate(keep)}
    out_spans = []
    for r0, c0, rs, cs in spans:
        cols = [new[c] for c in range(c0, c0 + cs) if c in new]
        if cols and (rs > 1 or len(cols) > 1):
            out_spans.append([r0, cols[0], rs, len(cols)])
    return [[r[c] for c in keep] for r in rows], out_spans


def rows_of(boxes: list[B]) -> list[list[B]]:
    """Boxes in rows, top to bottom: a box joins the row it overlaps by half its height
    (so a superscript stays on its line); each row left to right."""
    rows: list[list[B]] = []
    top = bottom = 0.0
    for b in sorted(boxes, key=_top_first):
        y0, y1 = b.y0, b.y1
        if rows:
            inter = (top if top < y1 else y1) - (bottom if bottom > y0 else y0)
            h = y1 - y0
            if h > top - bottom:
                h = top - bottom
            if inter > 0.5 * (h if h > 0.1 else 0.1):
                rows[-1].append(b)
                if y1 > top:
                    top = y1
                if y0 < bottom:
                    bottom = y0
                continue
        rows.append([b])
        top, bottom = y1, y0
    for r in rows:
        if len(r) > 1:
            r.sort(key=_X0)
    return rows


def cell_text(boxes: list[B]) -> str:
    """A cell's text in reading order: lines top to bottom, left to right in a line."""
    if len(boxes) == 1:
        return boxes[0].text.strip()
    return " ".join(" ".join(b.text.strip() for b in r) for r in rows_of(boxes)).strip()


def _numeric(text: str) -> bool:
    return bool(_NUMERIC.match(text))


def list_like(rows: list[list[str]]) -> bool:
    """Most cells are list items or their markers: lists side by side, not a table."""
    cells = [c for r in rows for c in r if c]
    return bool(cells) and sum(1 for c in cells if _MARKER.match(c)) >= 0.5 * len(cells)


def borderless(rows: list[list[str]]) -> bool:
    """Whether aligned rows of cells are a table: short or numeric cells, repeated structure.

    Prose chopped at gutters has long cells (a line of a column is 6+ words); a table's
    cells are labels and figures. At least 3 rows must fill 2 or more columns.
    """
    cells = [c for r in rows for c in r if c]
    full = sum(1 for r in rows if sum(1 for c in r if c) >= 2)
    if full < 3 or len(rows[0]) < 2 or not cells:
        return False
    words = sorted(len(c.split()) for c in cells)
    long_share = sum(1 for w in words if w >= 7) / len(words)
    num_share = sum(1 for c in cells if _numeric(c)) / len(cells)
    median = words[len(words) // 2]
    density = len(cells) / (len(rows) * len(rows[0]))
    return long_share <= 0.15 and (median <= 3 or num_share >= 0.3) and density >= 0.45


def rule_bands(rules: list[Rule]) -> list[tuple[float, float, float, float]]:
    """(x0, y0, x1, y1) between horizontal rules of one width with no vertical rules
    crossing them: the frame of a table drawn with rules above and below its rows only."""
    vs = [r for r in rules if not r.horizontal]
    hs = [r for r in _merge([r for r in rules if r.horizontal]) if r.hi - r.lo >= 60 and not any(
        r.lo - TOL <= v.at <= r.hi + TOL and v.lo - TOL <= r.at <= v.hi + TOL for v in vs)]
    bands = []
    used: set[int] = set()
    for i, r in enumerate(sorted(hs, key=lambda r: -r.at)):
        if i in used:
            continue
        same = [k for k, o in enumerate(sorted(hs, key=lambda r: -r.at)) if k > i
                and abs(o.lo - r.lo) <= 6 and abs(o.hi - r.hi) <= 6]
        if same:
            last = sorted(hs, key=lambda r: -r.at)[same[-1]]
            used.update(same)
            bands.append((r.lo, last.at, r.hi, r.at))
    return bands


def band_table(boxes: list[B], x0: float, x1: float, gap: float) -> Table | None:
    """The text between two rules as a table: columns where most rows leave a gap."""
    rows = rows_of([b for b in boxes if b.text.strip()])
    if len(rows) < 2:
        return None
    width = int(x1 - x0) + 2
    covered = [0] * width
    for row in rows:
        marks = [False] * width
        for b in row:
            for x in range(max(0, int(b.x0 - x0)), min(width, int(b.x1 - x0) + 1)):
                marks[x] = True
        for x in range(width):
            covered[x] += marks[x]
    limit = len(rows) // 3
    seps: list[float] = []
    start = None
    seen = False
    for x in range(width):
        if covered[x] <= limit:
            start = x if start is None else start
        else:
            if start is not None and seen and x - start >= 0.5 * gap:
                seps.append(x0 + (start + x) / 2)
            start, seen = None, True
    if not seps:
        return None
    cells = []
    for row in rows:
        parts: list[list[B]] = [[] for _ in range(len(seps) + 1)]
        for b in row:
            cx = (b.x0 + b.x1) / 2
            parts[sum(1 for s in seps if cx > s)].append(b)
        cells.append([cell_text(p) for p in parts])
    text = [c for r in cells for c in r if c]
    full = sum(1 for r in cells if sum(1 for c in r if c) >= 2)
    if full < 2 or sum(1 for c in text if len(c.split()) >= 7) > 0.3 * len(text):
        return None
    return Table(cells, x0, min(b.y0 for r in rows for b in r), x1,
                 max(b.y1 for r in rows for b in r))
