"""Tiny PDF writer for tests: pages of positioned Helvetica text, optional link annotations."""

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
class PageSpec:
    texts: list[Text] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)


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
        ops = []
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
        page_ids.append(add(
            f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 {width} {height}] "
            f"/Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R"
            f"{annot_ref} >>".encode()))
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
