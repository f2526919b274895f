"""Hostile documents, generated small: each expands to far more than it weighs."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

MB = 1024 * 1024


def png_bomb(side: int = 30_000) -> bytes:
    """A 30k x 30k one-bit PNG: ~110 KB on disk, 900 M pixels decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    row = b"\x00" * (1 + (side + 7) // 8)
    pixels = zlib.compress(row * side, 9)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0,
                                                              0, 0, 0))
            + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))


def zip_bomb(kind: str, megabytes: int = 60) -> bytes:
    """An office container whose main part inflates ~1000x."""
    part = {"docx": "word/document.xml", "xlsx": "xl/worksheets/sheet1.xml"}[kind]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr(part, b"<a>" + b" " * (megabytes * MB) + b"</a>")
    return buf.getvalue()


def _pdf(objects: list[bytes]) -> bytes:
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(objects) + 1, xref))
    return out.getvalue()


def pdf_million_pages(count: int = 1_000_000) -> bytes:
    """A page tree listing one page object a million times (6 MB)."""
    kids = b" ".join([b"3 0 R"] * count)
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [" + kids + b"] /Count %d >>" % count,
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"])


def _deflate_spaces(megabytes: int) -> bytes:
    """A zlib stream of ``megabytes`` MB of spaces, built without compressing them all: after
    a full flush deflate restarts, so one compressed megabyte can be repeated."""
    block = b" " * MB
    comp = zlib.compressobj(9)
    first = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    again = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush()[:-4]  # the final block, without the checksum of only two blocks
    adler = 1
    for _ in range(megabytes):
        adler = zlib.adler32(block, adler)
    return first + again * (megabytes - 1) + tail + struct.pack(">I", adler)


def pdf_flate_bomb(megabytes: int = 1200) -> bytes:
    """One page whose content stream inflates from ~1.2 MB to ``megabytes`` MB."""
    stream = _deflate_spaces(megabytes)
    return _pdf([b"<< /Type /Catalog /Pages 2 0 R >>",
                 b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
                 b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
                 b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(stream) + stream
                 + b"\nendstream"])


def nested_html(depth: int = 200_000) -> bytes:
    return (b"<html><body>" + b"<div>" * depth + b"deep" + b"</div>" * depth
            + b"</body></html>")


HOSTILE = {
    "bomb.png": png_bomb,
    "bomb.docx": lambda: zip_bomb("docx"),
    "bomb.xlsx": lambda: zip_bomb("xlsx"),
    "million-pages.pdf": pdf_million_pages,
    "flate-bomb.pdf": pdf_flate_bomb,
    "nested.html": nested_html,
}
