"""One pass over a PDF page's objects: the straight rules tables are drawn with, and images.

Rules are axis-aligned line pieces in PDF points (origin bottom-left): thin paths, the edges
of rectangles, and the straight segments of paths that draw many lines at once. Curves are
figures, not rules, and are skipped.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, cast

import pypdfium2.raw as raw

THIN = 2.5  # points: a path this thin in one direction is a rule
MIN_RULE = 4.0  # points: shorter pieces are glyph-like marks (bullets, ticks)
MIN_GRID = 30.0  # points: a path drawing lines in a smaller box is an icon, not a table
MAX_OBJECTS = 20_000  # a page with more objects is a drawing; no rules are looked for
MAX_SEGMENTS = 4000  # path segments read per path
MIN_FIGURE = 24.0  # points: smaller images are icons and decorations


@dataclass(slots=True)
class Rule:
    horizontal: bool
    at: float  # y of a horizontal rule, x of a vertical one
    lo: float  # where it starts along its direction
    hi: float


@dataclass(slots=True)
class ImageObj:
    path: tuple[int, ...]  # index among the page's objects, then inside a form object
    x0: float
    y0: float
    x1: float
    y1: float


class _Fast:
    """pdfium object calls with ``c_void_p`` arguments (typed pointers cost per call)."""

    def __init__(self) -> None:
        vp, ci = ctypes.c_void_p, ctypes.c_int
        pf = ctypes.POINTER(ctypes.c_float)

        def proto(name: str, restype: Any, *args: Any) -> Any:
            addr = cast(int, ctypes.cast(getattr(raw, name), ctypes.c_void_p).value)
            return ctypes.CFUNCTYPE(restype, *args)(addr)

        self.count = proto("FPDFPage_CountObjects", ci, vp)
        self.get = proto("FPDFPage_GetObject", vp, vp, ci)
        self.type = proto("FPDFPageObj_GetType", ci, vp)
        self.bounds = proto("FPDFPageObj_GetBounds", ci, vp, pf, pf, pf, pf)
        self.nseg = proto("FPDFPath_CountSegments", ci, vp)
        self.seg = proto("FPDFPath_GetPathSegment", vp, vp, ci)
        self.point = proto("FPDFPathSegment_GetPoint", ci, vp, pf, pf)
        self.seg_type = proto("FPDFPathSegment_GetType", ci, vp)
        self.matrix = proto("FPDFPageObj_GetMatrix", ci, vp, vp)
        self.form_count = proto("FPDFFormObj_CountObjects", ci, vp)
        self.form_get = proto("FPDFFormObj_GetObject", vp, vp, ctypes.c_ulong)


_FAST: _Fast | None = None


def page_objects(page_raw: Any, want_rules: bool = True) -> tuple[list[Rule], list[ImageObj]]:
    """Rules (when asked) and image objects of one page (top-level objects only)."""
    global _FAST
    f = _FAST = _FAST or _Fast()
    pr = cast(int, ctypes.cast(page_raw, ctypes.c_void_p).value)
    n = f.count(pr)
    rules: list[Rule] = []
    images: list[ImageObj] = []
    if n <= 0 or n > MAX_OBJECTS:
        return rules, images
    box = (ctypes.c_float * 4)()
    pl, pb, pr_, pt = (ctypes.cast(ctypes.addressof(box) + 4 * j,
                                   ctypes.POINTER(ctypes.c_float)) for j in range(4))
    path_t, image_t, form_t = raw.FPDF_PAGEOBJ_PATH, raw.FPDF_PAGEOBJ_IMAGE, raw.FPDF_PAGEOBJ_FORM
    get, typ, bounds = f.get, f.type, f.bounds
    for i in range(n):
        obj = get(pr, i)
        t = typ(obj)
        if t == form_t:
            _form_images(f, obj, i, images)
            continue
        if t != image_t and (t != path_t or not want_rules):
            continue
        if not bounds(obj, pl, pb, pr_, pt):
            continue
        x0, y0, x1, y1 = box[0], box[1], box[2], box[3]
        if t == image_t:
            if x1 - x0 >= MIN_FIGURE and y1 - y0 >= MIN_FIGURE:
                images.append(ImageObj((i,), x0, y0, x1, y1))
            continue
        w, h = x1 - x0, y1 - y0
        if h <= THIN and w >= MIN_RULE:
            rules.append(Rule(True, (y0 + y1) / 2, x0, x1))
        elif w <= THIN and h >= MIN_RULE:
            rules.append(Rule(False, (x0 + x1) / 2, y0, y1))
        elif w >= MIN_RULE and h >= MIN_RULE and (w >= MIN_GRID or h >= MIN_GRID):
            _path_rules(f, obj, x0, y0, x1, y1, rules)
    return rules, images


def _form_images(f: _Fast, form: int, i: int, out: list[ImageObj]) -> None:
    """Images drawn inside a form XObject (one level down): their boxes are in the form's
    space, which the form's matrix maps onto the page."""
    m = (ctypes.c_float * 6)()
    if not f.matrix(form, ctypes.addressof(m)):
        return
    a, b, c, d, e, ff = m
    if abs(b) > 1e-3 or abs(c) > 1e-3:
        return
    box = (ctypes.c_float * 4)()
    ptrs = [ctypes.cast(ctypes.addressof(box) + 4 * j, ctypes.POINTER(ctypes.c_float))
            for j in range(4)]
    for k in range(min(f.form_count(form), MAX_OBJECTS)):
        obj = f.form_get(form, k)
        if f.type(obj) != raw.FPDF_PAGEOBJ_IMAGE or not f.bounds(obj, *ptrs):
            continue
        xs = sorted((a * box[0] + e, a * box[2] + e))
        ys = sorted((d * box[1] + ff, d * box[3] + ff))
        if xs[1] - xs[0] >= MIN_FIGURE and ys[1] - ys[0] >= MIN_FIGURE:
            out.append(ImageObj((i, k), xs[0], ys[0], xs[1], ys[1]))


def _path_rules(f: _Fast, obj: int, x0: float, y0: float, x1: float, y1: float,
                out: list[Rule]) -> None:
    """Rules of a path larger than a line: a rectangle's edges, or its straight pieces."""
    nseg = f.nseg(obj)
    if nseg <= 0 or nseg > MAX_SEGMENTS:
        return
    if nseg <= 5:  # a rectangle (re, or m l l l h): its four edges
        out.extend((Rule(True, y0, x0, x1), Rule(True, y1, x0, x1),
                    Rule(False, x0, y0, y1), Rule(False, x1, y0, y1)))
        return
    m = (ctypes.c_float * 6)()
    if not f.matrix(obj, ctypes.addressof(m)):
        return
    a, b, c, d, e, ff = m
    if abs(b) > 1e-3 or abs(c) > 1e-3:
        return  # rotated or skewed: not a table's grid
    px = ctypes.c_float()
    py = ctypes.c_float()
    ppx, ppy = ctypes.byref(px), ctypes.byref(py)
    lineto, bezier = raw.FPDF_SEGMENT_LINETO, raw.FPDF_SEGMENT_BEZIERTO
    last: tuple[float, float] | None = None
    for k in range(nseg):
        s = f.seg(obj, k)
        st = f.seg_type(s)
        if st == bezier:
            return  # curves: a figure
        f.point(s, ppx, ppy)
        x, y = a * px.value + e, d * py.value + ff
        if st == lineto and last is not None:
            lx, ly = last
            if abs(ly - y) <= 0.5 and abs(lx - x) >= MIN_RULE:
                out.append(Rule(True, y, min(lx, x), max(lx, x)))
            elif abs(lx - x) <= 0.5 and abs(ly - y) >= MIN_RULE:
                out.append(Rule(False, x, min(ly, y), max(ly, y)))
        last = (x, y)
