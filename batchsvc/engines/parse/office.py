"""DOCX, PPTX, XLSX and CSV readers producing per-page blocks.

Each reader returns a list of page dicts: {"blocks", "metadata", "header", "footer"}.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from .detect import check_zip
from .model import ParseError

MAX_SHEET_CELLS = 2_000_000
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_R = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"


# ---------------------------------------------------------------- DOCX


def _docx_paragraph(p: Any, rels: dict[str, str]) -> tuple[str, list[dict[str, str]], bool]:
    """Text of a paragraph (including hyperlink runs), its links, and a hard page break."""
    parts, links, brk = [], [], False
    for el in p._p.iter():
        tag = el.tag
        if tag == _W + "t":
            parts.append(el.text or "")
        elif tag == _W + "tab":
            parts.append("\t")
        elif tag == _W + "br":
            if el.get(_W + "type") == "page":
                brk = True
            else:
                parts.append("\n")
        elif tag == _W + "hyperlink":
            rid = el.get(_R + "id")
            text = "".join(t.text or "" for t in el.iter(_W + "t"))
            url = rels.get(rid or "", "") or ("#" + el.get(_W + "anchor", "")
                                               if el.get(_W + "anchor") else "")
            if url and text.strip():
                links.append({"text": text.strip(), "url": url})
    return "".join(parts).strip(), links, brk


def _docx_style_kind(p: Any) -> tuple[str, int, bool]:
    name = (p.style.name if p.style is not None else "") or ""
    low = name.lower()
    if low == "title":
        return "heading", 1, False
    m = re.match(r"heading\s*(\d)", low)
    if m:
        return "heading", int(m.group(1)), False
    numbered = p._p.pPr is not None and p._p.pPr.numPr is not None
    if "list" in low or numbered:
        return "list", 0, "number" in low
    return "text", 0, False


def _docx_table(tbl: Any) -> list[list[str]]:
    rows = []
    for tr in tbl.rows:
        row, seen = [], set()
        for cell in tr.cells:
            # Merged cells repeat the same object; keep the text once so spans read cleanly.
            key = id(cell._tc)
            row.append("" if key in seen else " ".join(
                p.text.strip() for p in cell.paragraphs if p.text.strip()))
            seen.add(key)
        rows.append(row)
    return rows


def read_docx(data: bytes) -> list[dict[str, Any]]:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    check_zip(data)
    try:
        d = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise ParseError(f"corrupt DOCX: {exc}") from None
    rels = {k: r.target_ref for k, r in d.part.rels.items() if r.is_external}
    pages: list[dict[str, Any]] = [{"blocks": []}]
    for el in d.element.body.iterchildren():
        blocks = pages[-1]["blocks"]
        if el.tag == _W + "p":
            p = Paragraph(el, d)
            text, links, brk = _docx_paragraph(p, rels)
            if text:
                kind, level, ordered = _docx_style_kind(p)
                if kind == "heading":
                    blocks.append({"type": "heading", "level": level, "value": text,
                                   "links": links})
                elif kind == "list":
                    if blocks and blocks[-1]["type"] == "list":
                        blocks[-1]["items"].append(text)
                        blocks[-1]["links"].extend(links)
                    else:
                        blocks.append({"type": "list", "ordered": ordered, "items": [text],
                                       "links": links})
                else:
                    blocks.append({"type": "text", "value": text, "links": links})
            if brk:
                pages.append({"blocks": []})
        elif el.tag == _W + "tbl":
            blocks.append({"type": "table", "rows": _docx_table(Table(el, d))})
    header, footer = _docx_header_footer(d)
    for pg in pages:
        pg["header"], pg["footer"] = header, footer
    if not any(pg["blocks"] for pg in pages) and not (header or footer):
        raise ParseError("empty document: the DOCX has no text")
    return [pg for pg in pages if pg["blocks"]] or pages[:1]


def _docx_header_footer(d: Any) -> tuple[str | None, str | None]:
    heads: list[str] = []
    foots: list[str] = []
    for s in d.sections:
        for part, acc in ((s.header, heads), (s.footer, foots)):
            try:
                if part.is_linked_to_previous and acc:
                    continue
                text = "\n".join(p.text.strip() for p in part.paragraphs if p.text.strip())
                for t in part.tables:
                    text += "\n" + "\n".join(" | ".join(r) for r in _docx_table(t))
            except Exception:  # python-docx raises on malformed header parts; keep the body
                continue
            if text.strip() and text.strip() not in acc:
                acc.append(text.strip())
    return ("\n".join(heads) or None), ("\n".join(foots) or None)


# ---------------------------------------------------------------- PPTX


def _pptx_sections(prs: Any) -> dict[int, str]:
    out: dict[int, str] = {}
    ext = prs.part._element
    for sec in ext.iter("{http://schemas.microsoft.com/office/powerpoint/2010/main}section"):
        for sid in sec.iter("{http://schemas.microsoft.com/office/powerpoint/2010/main}sldId"):
            out[int(sid.get("id"))] = sec.get("name", "")
    return out


def _pptx_shape_blocks(shape: Any, blocks: list[dict[str, Any]]) -> None:
    from pptx.util import Emu

    def bbox() -> dict[str, float] | None:
        if shape.left is None or shape.top is None:
            return None
        return {"x": Emu(shape.left).pt, "y": Emu(shape.top).pt,
                "w": Emu(shape.width or 0).pt, "h": Emu(shape.height or 0).pt}

    if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:
        for s in sorted(shape.shapes, key=lambda s: (s.top or 0, s.left or 0)):
            _pptx_shape_blocks(s, blocks)
        return
    if getattr(shape, "has_table", False) and shape.has_table:
        rows = [[c.text for c in r.cells] for r in shape.table.rows]
        blocks.append({"type": "table", "rows": rows, "bbox": bbox()})
        return
    if getattr(shape, "has_chart", False) and shape.has_chart:
        chart = shape.chart
        try:
            cats = [str(c) for c in chart.plots[0].categories]
            rows = [["", *cats]] + [[s.name, *[("" if v is None else str(v)) for v in s.values]]
                                    for s in chart.plots[0].series]
            title = chart.chart_title.text_frame.text if chart.has_title else "Chart"
            blocks.append({"type": "heading", "level": 3, "value": title or "Chart"})
            blocks.append({"type": "table", "rows": rows, "bbox": bbox()})
        except Exception:  # charts without plots/categories: nothing tabular to show
            pass
        return
    if not getattr(shape, "has_text_frame", False) or not shape.has_text_frame:
        return
    is_title = shape.is_placeholder and "TITLE" in str(shape.placeholder_format.type)
    if is_title:
        text = " ".join(shape.text_frame.text.split())
        if text:
            blocks.append({"type": "heading", "level": 1, "value": text, "bbox": bbox()})
        return
    for para in shape.text_frame.paragraphs:
        text = "".join(r.text for r in para.runs).strip() or para.text.strip()
        if not text:
            continue
        links = [{"text": r.text.strip(), "url": r.hyperlink.address} for r in para.runs
                 if r.hyperlink is not None and r.hyperlink.address]
        bullet = para.level > 0 or para._p.find(
            ".//{http://schemas.openxmlformats.org/drawingml/2006/main}buChar") is not None
        if bullet:
            if blocks and blocks[-1]["type"] == "list":
                blocks[-1]["items"].append(text)
                blocks[-1].setdefault("links", []).extend(links)
            else:
                blocks.append({"type": "list", "ordered": False, "items": [text],
                               "links": links, "bbox": bbox()})
        else:
            blocks.append({"type": "text", "value": text, "links": links, "bbox": bbox()})


def read_pptx(data: bytes) -> list[dict[str, Any]]:
    from pptx import Presentation

    check_zip(data)
    try:
        prs = Presentation(io.BytesIO(data))
    except Exception as exc:
        raise ParseError(f"corrupt PPTX: {exc}") from None
    sections = _pptx_sections(prs)
    w = prs.slide_width.pt if prs.slide_width else 720.0
    h = prs.slide_height.pt if prs.slide_height else 540.0
    pages = []
    for slide in prs.slides:
        blocks: list[dict[str, Any]] = []
        for shape in sorted(slide.shapes, key=lambda s: (s.top or 0, s.left or 0)):
            _pptx_shape_blocks(shape, blocks)
        meta: dict[str, Any] = {}
        if slide.has_notes_slide:
            notes = slide.notes_slide.notes_text_frame
            if notes is not None and notes.text.strip():
                meta["speaker_notes"] = notes.text.strip()
        if slide.slide_id in sections:
            meta["slide_section_name"] = sections[slide.slide_id]
        pages.append({"blocks": [b for b in blocks if b], "metadata": meta, "width": w,
                      "height": h})
    if not pages:
        raise ParseError("empty document: the presentation has no slides")
    return pages


# ---------------------------------------------------------------- XLSX / CSV


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _trim(rows: list[list[str]]) -> list[list[str]]:
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        return rows
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    keep = [i for i in range(width) if any(r[i].strip() for r in rows)]
    return [[r[i] for i in keep] for r in rows]


def read_xlsx(data: bytes, include_hidden: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """Return (pages, names of hidden sheets skipped)."""
    import openpyxl

    check_zip(data)
    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise ParseError(f"corrupt XLSX: {exc}") from None
    pages, skipped = [], []
    try:
        for ws in wb.worksheets:
            if ws.sheet_state != "visible" and not include_hidden:
                skipped.append(ws.title)
                continue
            rows, cells = [], 0
            for r in ws.iter_rows(values_only=True):
                cells += len(r)
                if cells > MAX_SHEET_CELLS:
                    raise ParseError(f"refused: sheet {ws.title!r} has too many cells")
                rows.append([_fmt(v) for v in r])
            rows = _trim(rows)
            blocks: list[dict[str, Any]] = [{"type": "heading", "level": 2, "value": ws.title}]
            if rows:
                blocks.append({"type": "table", "rows": rows})
            pages.append({"blocks": blocks, "metadata": {"sheet_name": ws.title,
                                                         "hidden": ws.sheet_state != "visible"}})
    finally:
        wb.close()
    if not pages:
        raise ParseError("empty document: the workbook has no visible sheets")
    return pages, skipped


def read_csv(text: str) -> list[dict[str, Any]]:
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = _trim([list(r) for r in csv.reader(io.StringIO(text), dialect)])
    if not rows:
        raise ParseError("empty document: the CSV has no cells")
    return [{"blocks": [{"type": "table", "rows": rows}]}]
