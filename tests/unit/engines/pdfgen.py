"""Tiny PDF writer for tests: pages of positioned Helvetica text, stroked lines, images and
link annotations."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Text:
    x: float
    y: float
    text: str
    size: float = 11
    angle_matrix: tuple[float, float, float, float] | None = None  # a b c d
    render_mode: int = 0  # 3 = invisible


@dataclass
class Link:
    rect: tuple[float, float, float, float]
    url: str


@dataclass
class Image:
    """An image XObject drawn at (x, y) w x h points; ``data`` is its stream as stored."""

    x: float
    y: float
    w: float
    h: float
    px_w: int
    px_h: int
    data: bytes
    filter: str | None = None  # e.g. "DCTDecode"; None: raw 8-bit RGB


@dataclass
class PageSpec:
    texts: list[Text] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    lines: list[tuple[float, float, float, float]] = field(default_factory=list)  # x0 y0 x1 y1
    images: list[Image] = field(default_factory=list)
    rotate: int = 0


def _esc(s: str) -> str:
    return s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def build_pdf(pages: list[PageSpec], width: float = 612, height: float = 792) -> bytes:
    objs: list[bytes] = []

    def add(body: bytes) -> int:
        objs.append(body)
        return len(objs)

    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    pages_id = add(b"")  # placeholder, filled below
    page_ids = []
    for spec in pages:
        ops = [f"0.5 w {x0} {y0} m {x1} {y1} l S" for x0, y0, x1, y1 in spec.lines]
        xobjects = []
        for k, im in enumerate(spec.images):
            filt = f" /Filter /{im.filter}" if im.filter else ""
            head = (f"<< /Type /XObject /Subtype /Image /Width {im.px_w} /Height {im.px_h} "
                    f"/ColorSpace /DeviceRGB /BitsPerComponent 8{filt} /Length {len(im.data)} "
                    ">>\nstream\n").encode()
            ref = add(head + im.data + b"\nendstream")
            xobjects.append(f"/Im{k} {ref} 0 R")
            ops.append(f"q {im.w} 0 0 {im.h} {im.x} {im.y} cm /Im{k} Do Q")
        for t in spec.texts:
            a, b, c, d = t.angle_matrix or (1, 0, 0, 1)
            ops.append(f"BT /F1 {t.size} Tf {t.render_mode} Tr {a} {b} {c} {d} {t.x} {t.y} Tm "
                       f"({_esc(t.text)}) Tj ET")
        stream = "\n".join(ops).encode("latin-1")
        content = add(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
        annots = []
        for lk in spec.links:
            r = " ".join(str(v) for v in lk.rect)
            annots.append(add(f"<< /Type /Annot /Subtype /Link /Rect [{r}] /Border [0 0 0] "
                              f"/A << /S /URI /URI ({_esc(lk.url)}) >> >>".encode()))
        annot_ref = (" /Annots [" + " ".join(f"{i} 0 R" for i in annots) + "]") if annots else ""
        xo = f" /XObject << {' '.join(xobjects)} >>" if xobjects else ""
        page_ids.append(add(
            f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {width} {height}] "
            f"/Rotate {spec.rotate} /Resources << /Font << /F1 {font} 0 R >>{xo} >> "
            f"/Contents {content} 0 R{annot_ref} >>".encode()))
    kids = " ".join(f"{i} 0 R" for i in page_ids)
    objs[pages_id - 1] = f"<< /Type /Pages /Kids [{kids}] /Count {len(page_ids)} >>".encode()
    catalog = add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += (f"trailer\n<< /Size {len(objs) + 1} /Root {catalog} 0 R >>\nstartxref\n{xref}\n"
            "%%EOF\n").encode()
    return bytes(out)


def report_pages(n: int = 3) -> bytes:
    """A multi-page report with a running header, page-number footer and body text."""
    pages = []
    for k in range(1, n + 1):
        pages.append(PageSpec(texts=[
            Text(72, 760, "ACME Quarterly Report - Confidential", 9),
            Text(72, 700, f"Section {k} body text talks about widgets number {k * 7}.", 11),
            Text(72, 686, "It continues on a second line of the same paragraph.", 11),
            Text(300, 30, f"Page {k + 10}", 9),
        ]))
    return build_pdf(pages)


def grid(x0: float, top: float, widths: list[float], height: float, rows: list[list[str]],
         size: float = 10) -> tuple[list[Text], list[tuple[float, float, float, float]]]:
    """A ruled table: its cell texts (one line each, "\n" for a second line) and rules."""
    texts, lines = [], []
    xs = [x0]
    for w in widths:
        xs.append(xs[-1] + w)
    for r, row in enumerate(rows):
        y = top - r * height
        for c, cell in enumerate(row):
            for k, part in enumerate(cell.split("\n")):
                texts.append(Text(xs[c] + 4, y - 4 - size - k * (size + 2), part, size))
    for r in range(len(rows) + 1):
        lines.append((xs[0], top - r * height, xs[-1], top - r * height))
    for x in xs:
        lines.append((x, top, x, top - len(rows) * height))
    return texts, lines


def wrap(text: str, width: int) -> list[str]:
    """Words of ``text`` in lines of at most ``width`` characters."""
    out: list[str] = []
    for word in text.split():
        if out and len(out[-1]) + 1 + len(word) <= width:
            out[-1] += " " + word
        else:
            out.append(word)
    return out
