"""PDF reader: pypdfium2 text layer per page, OCR for image-only pages."""

from __future__ import annotations

import ctypes
import itertools
import math
import re
from collections import Counter
from collections.abc import Callable, Set
from typing import Any, cast

import pypdfium2 as pdfium
import pypdfium2.raw as raw

from .images import ParsedImage, embedded, screenshot
from .model import PageError, ParseError
from .pdf_layout import (
    FigureSearch,
    Seg,
    assign_heading_levels,
    layout_blocks,
    most_common_size,
    ocr_blocks,
    size_histogram,
)
from .pdf_objects import ImageObj, Rule, page_objects

OcrFn = Callable[[Any], tuple[list[dict[str, Any]], dict[str, Any]]]

MAX_PAGES = 5000
SMALL_TEXT_PT = 3.0  # LlamaParse drops "very small text" unless asked to keep it
OCR_DPI = 300
MAX_RENDER_PIXELS = 60_000_000


def open_pdf(data: bytes) -> pdfium.PdfDocument:
    try:
        doc = pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == raw.FPDF_ERR_PASSWORD:
            raise ParseError("password required: the PDF is encrypted") from None
        if code == raw.FPDF_ERR_SECURITY:
            raise ParseError("unsupported PDF security handler") from None
        raise ParseError(f"corrupt or truncated PDF: {exc}") from None
    n = len(doc)
    if n == 0:
        raise ParseError("empty document: the PDF has no pages")
    if n > MAX_PAGES:
        raise ParseError(f"refused: the PDF claims {n} pages (limit {MAX_PAGES})")
    return doc


class _Fast:
    """pdfium entry points re-declared with plain ``c_void_p``/scalar arguments.

    pypdfium2's bindings take typed pointers, and that argument conversion dominates a call
    made once per character. These prototypes point at the same C functions.
    """

    def __init__(self) -> None:
        vp, ci, cd = ctypes.c_void_p, ctypes.c_int, ctypes.c_double

        def proto(name: str, restype: Any, *args: Any) -> Any:
            addr = cast(int, ctypes.cast(getattr(raw, name), ctypes.c_void_p).value)
            return ctypes.CFUNCTYPE(restype, *args)(addr)

        self.text_object = proto("FPDFText_GetTextObject", vp, vp, ci)
        self.unicode = proto("FPDFText_GetUnicode", ctypes.c_uint, vp, ci)
        self.count_rects = proto("FPDFText_CountRects", ci, vp, ci, ci)
        self.get_rect = proto("FPDFText_GetRect", ci, vp, ci, vp, vp, vp, vp)
        self.font_size = proto("FPDFText_GetFontSize", cd, vp, ci)
        self.matrix = proto("FPDFText_GetMatrix", ci, vp, ci, vp)
        self.obj_font = proto("FPDFTextObj_GetFont", vp, vp)


_FAST: _Fast | None = None


def _fast() -> _Fast:
    global _FAST
    if _FAST is None:
        _FAST = _Fast()
    return _FAST


def _page_chars(f: _Fast, tpr: int, tp: pdfium.PdfTextPage, n: int) -> tuple[str, bool]:
    """The page's characters as a string indexed like pdfium's char indexes."""
    full = tp.get_text_range()
    if len(full) == n:
        return full, False
    # FPDFText_GetText drops NULs and joins surrogate pairs; rebuild index-aligned text,
    # one code unit per char (a lone surrogate half becomes U+FFFD when sliced).
    uni = f.unicode
    return "".join([chr(uni(tpr, k)) for k in range(n)]), True


_WORD = re.compile(r"\S+")
_WORD_OR_SPACE = re.compile(r"\S+|\s+")


def _runs_by_char(f: _Fast, tpr: int, n: int) -> tuple[list[int], list[int]]:
    """Run starts and their text objects, asking pdfium for the object of every char.

    A run starts at a char whose object differs from the last non-null object before it;
    generated chars (spaces, line breaks pdfium inserts) have no object and stay with the
    run they follow.
    """
    objs = list(map(f.text_object, itertools.repeat(tpr, n), range(n)))
    starts: list[int] = []
    run_objs: list[int] = []
    prev = None
    k = 0
    for obj, grp in itertools.groupby(objs):
        if obj is not None and obj != prev:
            starts.append(k)
            run_objs.append(obj)
            prev = obj
        k += len(list(grp))
    return starts, run_objs


def _runs_by_word(f: _Fast, tpr: int, full: str, spaces: bool = False) -> tuple[
        list[int], list[int]]:
    """The same runs as ``_runs_by_char`` from two object lookups per word.

    pdfium appends a text object's chars contiguously, so a word whose first and last chars
    belong to one object lies wholly in it; only words that straddle objects (a font change
    inside a word) are looked at char by char. Whitespace is looked at only with ``spaces``:
    without it a text object holding only spaces goes unseen, which the caller detects
    because pdfium's rectangle count (one per run) then differs.
    """
    getobj = f.text_object
    starts: list[int] = []
    run_objs: list[int] = []
    prev = None
    for m in (_WORD_OR_SPACE if spaces else _WORD).finditer(full):
        a, b = m.span()
        oa = getobj(tpr, a)
        if oa is not None and (b - a == 1 or getobj(tpr, b - 1) == oa) and not (
                spaces and full[a].isspace()):
            if oa != prev:
                starts.append(a)
                run_objs.append(oa)
                prev = oa
            continue
        for k in range(a, b):
            o = oa if k == a else getobj(tpr, k)
            if o is not None and o != prev:
                starts.append(k)
                run_objs.append(o)
                prev = o
    return starts, run_objs


def _clean(text: str) -> str:
    """Text sliced from a per-char rebuild: drop NULs, re-pair surrogate halves."""
    return text.replace("\x00", "").encode("utf-16-le", "surrogatepass").decode(
        "utf-16-le", "replace")


def _segments(tp: pdfium.PdfTextPage, page_h: float, page_w: float,
              opts: dict[str, Any]) -> tuple[list[Seg], str, dict[str, int]]:
    """Positioned text runs of one page.

    A run is a maximal sequence of characters from one PDF text object, in pdfium's reading
    order; pdfium's text rectangles break exactly there, so run k's box is rectangle k. The
    char -> object map is read in one pass (one cheap C call per char), so nothing is looked
    up by position, and font facts are read once per run (bold once per font).
    """
    skip_diag = bool(opts.get("skip_diagonal_text"))
    remove_hidden = bool(opts.get("remove_hidden_text"))
    keep_small = bool(opts.get("preserve_very_small_text"))
    dropped = {"diagonal": 0, "hidden": 0, "small": 0}
    f = _fast()
    tpr = cast(int, ctypes.cast(tp.raw, ctypes.c_void_p).value)
    n = tp.count_chars()
    if n <= 0:
        return [], "", dropped
    full, rebuilt = _page_chars(f, tpr, tp, n)
    # pdfium makes one text rectangle per run, so the rectangle count checks the runs found
    # from words alone; a text object holding only spaces is the usual reason they differ.
    starts, run_objs = _runs_by_word(f, tpr, full)
    n_rects = f.count_rects(tpr, 0, -1)
    if len(starts) != n_rects:
        starts, run_objs = _runs_by_word(f, tpr, full, spaces=True)
        if len(starts) != n_rects:
            starts, run_objs = _runs_by_char(f, tpr, n)
    n_runs = len(starts)
    ends = starts[1:] + [n]
    aligned = n_rects == n_runs
    box = (ctypes.c_double * 4)()  # left, top, right, bottom as FPDFText_GetRect writes them
    pl, pt, pr, pb = (ctypes.addressof(box) + 8 * j for j in range(4))
    box_v = memoryview(box).cast("B").cast("d")  # reading a ctypes array by iteration is slow
    mat = (ctypes.c_float * 6)()  # FS_MATRIX: a b c d e f
    pm = ctypes.addressof(mat)
    mat_v = memoryview(mat).cast("B").cast("f")
    get_rect, font_size, get_matrix, obj_font = f.get_rect, f.font_size, f.matrix, f.obj_font
    bold_of: dict[int | None, bool] = {}
    fontbuf = ctypes.create_string_buffer(256)
    segs: list[Seg] = []
    add_seg = segs.append
    hypot = math.hypot
    for i, idx, end, obj in zip(range(n_runs), starts, ends, run_objs, strict=True):
        text = full[idx:end]
        if text.isspace():
            continue
        if rebuilt:
            text = _clean(text)
        # Font size alone is wrong when the text matrix carries the scale (size 1 x 10).
        get_matrix(tpr, idx, pm)
        size = font_size(tpr, idx) * (hypot(mat_v[2], mat_v[3]) or 1.0)
        if size < SMALL_TEXT_PT and not keep_small:
            dropped["small"] += 1
            continue
        if skip_diag and 2 < math.degrees(math.atan2(mat_v[1], mat_v[0])) % 90 < 88:
            dropped["diagonal"] += 1
            continue
        if aligned:
            get_rect(tpr, i, pl, pt, pr, pb)
            x0, y1, x1, y0 = cast("list[float]", box_v.tolist())
        else:
            x0, y0, x1, y1 = _run_box(f, tpr, idx, end - idx)
        if remove_hidden and _hidden(tp.raw, idx, x0, y0, x1, y1, page_w, page_h):
            dropped["hidden"] += 1
            continue
        font = obj_font(obj)
        bold = bold_of.get(font)
        if bold is None:
            bold = bold_of[font] = _bold(tp.raw, idx, fontbuf)
        if "\n" in text or "\r" in text:
            text = text.replace("\r", " ").replace("\n", " ")
        add_seg(Seg(x0, y0, x1, y1, text, size, bold))
    return segs, _clean(full) if rebuilt else full, dropped


def _run_box(f: _Fast, tpr: int, start: int, count: int) -> tuple[float, float, float, float]:
    """Union of pdfium's rectangles for chars [start, start + count) (left, bottom, ...)."""
    box = (ctypes.c_double * 4)()
    ptrs = [ctypes.addressof(box) + 8 * j for j in range(4)]
    x0 = y0 = 1e9
    x1 = y1 = -1e9
    for j in range(max(0, f.count_rects(tpr, start, count))):
        f.get_rect(tpr, j, *ptrs)
        left, top, right, bottom = box
        x0, y0, x1, y1 = min(x0, left), min(y0, bottom), max(x1, right), max(y1, top)
    return (x0, y0, x1, y1) if x1 >= x0 else (0.0, 0.0, 0.0, 0.0)


def _bold(tpr: Any, idx: int, buf: Any) -> bool:
    if raw.FPDFText_GetFontWeight(tpr, idx) >= 600:
        return True
    # Many embedded fonts carry no weight; the PostScript name says it instead.
    flags = ctypes.c_int(0)
    raw.FPDFText_GetFontInfo(tpr, idx, buf, 256, flags)
    name = buf.value.decode("latin-1", "replace").lower()
    if any(h in name for h in ("bold", "black", "heavy", "cmbx", "sfbx")):
        return True
    return name.endswith(("-bd", ",bd")) or bool(flags.value & 0x40000)


def _hidden(tpr: Any, idx: int, x0: float, y0: float, x1: float, y1: float, w: float,
            h: float) -> bool:
    if x1 < 0 or y1 < 0 or x0 > w or y0 > h:
        return True
    obj = raw.FPDFText_GetTextObject(tpr, idx)
    if obj and raw.FPDFTextObj_GetTextRenderMode(obj) == raw.FPDF_TEXTRENDERMODE_INVISIBLE:
        return True
    r, g, b, a = (ctypes.c_uint() for _ in range(4))
    return bool(raw.FPDFText_GetFillColor(tpr, idx, r, g, b, a) and a.value == 0)


def _links(page: pdfium.PdfPage, tp: pdfium.PdfTextPage, doc: pdfium.PdfDocument,
           page_h: float) -> list[dict[str, Any]]:
    out = []
    pos = ctypes.c_int(0)
    link = raw.FPDF_LINK()
    while raw.FPDFLink_Enumerate(page.raw, pos, link):
        action = raw.FPDFLink_GetAction(link)
        if not action or raw.FPDFAction_GetType(action) != raw.PDFACTION_URI:
            continue
        n = raw.FPDFAction_GetURIPath(doc.raw, action, None, 0)
        buf = ctypes.create_string_buffer(n)
        raw.FPDFAction_GetURIPath(doc.raw, action, buf, n)
        url = buf.value.decode("utf-8", "replace")
        rect = raw.FS_RECTF()
        text = ""
        if raw.FPDFLink_GetAnnotRect(link, rect):
            text = " ".join(tp.get_text_bounded(rect.left, rect.bottom, rect.right,
                                                rect.top).split())
        out.append({"url": url, "text": text, "y": page_h - rect.top})
    return out


def _attach_links(blocks: list[dict[str, Any]], links: list[dict[str, Any]]) -> None:
    for link in links:
        target = next((b for b in blocks if link["text"] and link["text"] in _block_str(b)),
                      None)
        if target is None and blocks:
            target = min(blocks, key=lambda b: abs(b.get("bbox", {}).get("y", 0) - link["y"]))
        if target is not None:
            target.setdefault("links", []).append({"text": link["text"], "url": link["url"]})


def _block_str(b: dict[str, Any]) -> str:
    if b["type"] == "list":
        return " ".join(b["items"])
    if b["type"] == "table":
        return " ".join(" ".join(r) for r in b["rows"])
    return b.get("value", "")


def _few_chars(segs: list[Seg], limit: int = 10) -> bool:
    total = 0
    for s in segs:
        total += len(s.text.strip())
        if total >= limit:
            return False
    return True


def _has_images(page: pdfium.PdfPage) -> bool:
    return any(True for _ in page.get_objects(filter=[raw.FPDF_PAGEOBJ_IMAGE], max_depth=2))


_IMAGE_XOBJECT = re.compile(rb"/Subtype\s*/Image\b")


def read_pdf(data: bytes, page_indexes: Callable[[int], list[int]], opts: dict[str, Any],
             ocr: OcrFn | None, images: Set[str] = frozenset()) -> tuple[
        int, list[dict[str, Any]]]:
    """Return (page_count, per-page dicts) for the selected pages.

    Each dict: index, width, height, blocks, raw_text, ocr (bool), dropped, error, and
    "images" (ParsedImage list) and "image_warnings" for the ``images`` categories asked
    for ("screenshot", "embedded"). ``ocr`` is called with a PIL image for image-only
    pages, unless None (OCR disabled).
    """
    doc = open_pdf(data)
    # An image XObject's dictionary is never compressed into an object stream, so a file
    # without this string has no images and no page needs its objects read for figures.
    figures: FigureSearch = "all" if "embedded" in images else (
        "blank" if _IMAGE_XOBJECT.search(data) else "none")
    try:
        count = len(doc)
        out = []
        for i in page_indexes(count):
            try:
                out.append(_read_page(doc, i, opts, ocr, figures, images))
            except PageError as exc:
                out.append({"index": i, "error": str(exc), "blocks": [], "raw_text": ""})
            except Exception as exc:  # pdfium errors on one page must not sink the document
                out.append({"index": i, "error": f"page could not be read: {exc}",
                            "blocks": [], "raw_text": ""})
        hist: Counter[float] = Counter()
        for p in out:
            hist.update(p.pop("_hist", {}))
        assign_heading_levels([b for p in out for b in p["blocks"]], most_common_size(hist))
        return count, out
    finally:
        doc.close()


Box4 = tuple[float, float, float, float]


def _turn(rot: int, w0: float, h0: float) -> Callable[[float, float, float, float], Box4]:
    """Map a box of the unrotated page onto the page turned ``rot`` degrees clockwise."""
    if rot == 90:
        return lambda x0, y0, x1, y1: (y0, w0 - x1, y1, w0 - x0)
    if rot == 180:
        return lambda x0, y0, x1, y1: (w0 - x1, h0 - y1, w0 - x0, h0 - y0)
    if rot == 270:
        return lambda x0, y0, x1, y1: (h0 - y1, x0, h0 - y0, x1)
    return lambda x0, y0, x1, y1: (x0, y0, x1, y1)


def _turn_rule(r: Rule, turn: Callable[[float, float, float, float], Box4]) -> Rule:
    x0, y0, x1, y1 = (r.lo, r.at, r.hi, r.at) if r.horizontal else (r.at, r.lo, r.at, r.hi)
    x0, y0, x1, y1 = turn(x0, y0, x1, y1)
    if abs(y1 - y0) <= abs(x1 - x0):
        return Rule(True, (y0 + y1) / 2, x0, x1)
    return Rule(False, (x0 + x1) / 2, y0, y1)


def _images(page: pdfium.PdfPage, n: int, w: float, h: float, blocks: list[dict[str, Any]],
            wanted: Set[str]) -> tuple[list[ParsedImage], list[str]]:
    """The page's screenshot and embedded images, as asked; a bad image only warns."""
    out: list[ParsedImage] = []
    warnings: list[str] = []
    if "screenshot" in wanted:
        try:
            out.append(screenshot(page, n, w, h))
        except Exception as exc:
            warnings.append(f"page {n}: screenshot left out: {exc}")
    if "embedded" in wanted:
        for b in blocks:
            if b["type"] == "image":
                try:
                    out.append(embedded(page, b, n))
                except Exception as exc:
                    warnings.append(f"page {n}: image {b['name']} left out: {exc}")
    return out, warnings


def _read_page(doc: pdfium.PdfDocument, i: int, opts: dict[str, Any], ocr: OcrFn | None,
               figures: FigureSearch, images: Set[str]) -> dict[str, Any]:
    page = doc[i]
    try:
        w, h = page.get_size()
        rot = page.get_rotation() % 360
        # pdfium's boxes are in the unrotated page; layout works on the page as displayed.
        w0, h0 = (h, w) if rot in (90, 270) else (w, h)
        tp = page.get_textpage()
        try:
            segs, raw_text, dropped = _segments(tp, h0, w0, opts)
            turn = _turn(rot, w0, h0)
            for sg in segs:
                sg.x0, sg.y0, sg.x1, sg.y1 = turn(sg.x0, sg.y0, sg.x1, sg.y1)

            def objects(want_rules: bool) -> tuple[list[Rule], list[ImageObj]]:
                rules, images = page_objects(page.raw, want_rules)
                for im in images:
                    im.x0, im.y0, im.x1, im.y1 = turn(im.x0, im.y0, im.x1, im.y1)
                return ([_turn_rule(r, turn) for r in rules] if rot else rules), images

            hist = size_histogram(segs)
            blocks = layout_blocks(segs, w, h, most_common_size(hist), objects, figures)
            links = _links(page, tp, doc, h) if opts.get("annotate_links") else []
        finally:
            tp.close()
        info: dict[str, Any] = {"index": i, "width": w, "height": h, "raw_text": raw_text,
                                "dropped": dropped, "ocr": False,
                                "_hist": hist}
        if _few_chars(segs) and _has_images(page):
            if ocr is None:
                info["warning"] = "image-only page and OCR is disabled"
            else:
                scale = OCR_DPI / 72
                if w * h * scale * scale > MAX_RENDER_PIXELS:
                    scale = math.sqrt(MAX_RENDER_PIXELS / (w * h))
                image = page.render(scale=scale).to_pil()
                words, oinfo = ocr(image)
                blocks = ocr_blocks(words, w / oinfo["width"], h / oinfo["height"], w, h)
                info["ocr"] = True
                info["ocr_info"] = oinfo
                info["_hist"] = {}
        for b in blocks:
            if b["type"] == "image":  # LlamaParse's names: 0-based page, 1-based image
                b["name"] = f"img_p{i}_{b['number']}.png"
        _attach_links(blocks, links)
        info["blocks"] = blocks
        info["images"], info["image_warnings"] = _images(page, i + 1, w, h, blocks, images)
        return info
    finally:
        page.close()
