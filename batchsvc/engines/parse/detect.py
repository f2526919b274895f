"""Content-based type detection and cheap guards against hostile input."""

from __future__ import annotations

import io
import json
import zipfile

from .model import ParseError

MAX_ZIP_UNCOMPRESSED = 512 * 1024 * 1024
MAX_ZIP_RATIO = 200
MAX_ZIP_ENTRIES = 20000


def decode_text(data: bytes) -> str | None:
    head = data[:65536]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    for enc in ("utf-8-sig", "utf-16") if head.startswith((b"\xff\xfe", b"\xfe\xff")) else (
            "utf-8-sig", "cp1252"):
        try:
            text = data.decode(enc)
        except UnicodeDecodeError:
            continue
        bad = sum(1 for c in text[:20000] if ord(c) < 32 and c not in "\r\n\t\f")
        if bad <= len(text[:20000]) * 0.01:
            return text
    return None


def check_zip(data: bytes) -> zipfile.ZipFile:
    """Open an office container after checking its declared sizes (zip-bomb guard)."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ParseError(f"corrupt or truncated file: {exc}") from None
    if len(infos) > MAX_ZIP_ENTRIES:
        raise ParseError("refused: archive has too many entries")
    total = sum(i.file_size for i in infos)
    packed = max(1, sum(i.compress_size for i in infos))
    if total > MAX_ZIP_UNCOMPRESSED or (total > 50 * 1024 * 1024 and total / packed
                                        > MAX_ZIP_RATIO):
        raise ParseError("refused: archive expands too much (possible zip bomb)")
    return zf


SNIFF_BYTES = 8192
IMAGE_FORMATS = ("png", "jpeg", "tiff", "gif", "bmp", "webp")
# A BMP's DIB header sizes (BITMAPCOREHEADER ... BITMAPV5HEADER).
_BMP_DIB_SIZES = {12, 40, 52, 56, 64, 108, 124}


def _signature(head: bytes) -> str | None:
    """A binary format proven by its leading bytes. Short magics are checked past their first
    bytes (a BMP's reserved zeros and header size, a TIFF's first IFD offset, GIF's version),
    so text that merely starts with "BM", "II*" or "GIF" is not taken for an image."""
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*") and len(head) >= 8:
        offset = int.from_bytes(head[4:8], "little" if head[:2] == b"II" else "big")
        if offset >= 8:
            return "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) >= 18 and head[6:10] == b"\x00" * 4 \
            and int.from_bytes(head[14:18], "little") in _BMP_DIB_SIZES:
        return "bmp"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "ole"
    return None


def sniff(head: bytes, name: str = "") -> str:
    """The format of a file from its first bytes (at least SNIFF_BYTES when it has them) and
    its name: pdf, an image format (IMAGE_FORMATS), docx, pptx, xlsx, zip, ole (legacy
    Office), html, xml, json, csv, markdown, text or bin. Bytes decide; the name only tells
    apart formats the bytes cannot (csv, markdown, text), and never makes a file binary."""
    found = _signature(head)
    if found == "zip":
        for marker, kind in ((b"word/", "docx"), (b"ppt/", "pptx"), (b"xl/", "xlsx")):
            if marker in head:
                return kind
        return "zip"
    if found is not None:
        return found
    text = _head_text(head)
    if text is None:
        return "bin"
    stripped = text.lstrip()[:1024].lower()
    if stripped.startswith(("<!doctype html", "<html")) or "<body" in stripped \
            or "<html" in stripped:
        return "html"
    if stripped.startswith("<?xml") or (stripped.startswith("<")
                                        and stripped.rstrip().endswith(">")):
        return "html" if "<html" in text[:4096].lower() else "xml"
    if stripped.startswith(("{", "[")):
        return "json"
    return _plain_kind(text, name)


def _head_text(head: bytes) -> str | None:
    """The head as text, allowing a character cut in two at its end."""
    for cut in range(4):
        text = decode_text(head[:len(head) - cut] if cut else head)
        if text is not None:
            return text
    return None


def _plain_kind(text: str, name: str) -> str:
    lowered = name.lower()
    if lowered.endswith((".csv", ".tsv")) or _looks_csv(text):
        return "csv"
    if lowered.endswith((".md", ".markdown")):
        return "markdown"
    return "text"


def detect(data: bytes, filename: str = "") -> str:
    """The engine's reader for a document: pdf, image, docx, pptx, xlsx, csv, html, xml,
    json, text or markdown (sniff, with the containers opened and JSON parsed)."""
    if not data or not data.strip():
        raise ParseError("empty document")
    kind = sniff(data[:65536], filename)
    if kind in IMAGE_FORMATS:
        return "image"
    if kind in ("zip", "docx", "pptx", "xlsx"):
        names = set(check_zip(data).namelist())
        for part, office in (("word/document.xml", "docx"), ("ppt/presentation.xml", "pptx"),
                             ("xl/workbook.xml", "xlsx")):
            if part in names:
                return office
        raise ParseError("unsupported type: zip archive that is not a DOCX, PPTX or XLSX")
    if kind == "ole":
        raise ParseError("unsupported type: legacy binary Office format (doc/xls/ppt)")
    if kind == "bin":
        raise ParseError("unsupported type: binary content not recognised")
    if kind == "json":
        text = decode_text(data)
        if text is None:
            raise ParseError("unsupported type: binary content not recognised")
        try:
            json.loads(text)
        except ValueError:
            return _plain_kind(text, filename)
    return kind


def _looks_csv(text: str) -> bool:
    # Content-only fallback: several lines with the same non-zero number of delimiters.
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if len(lines) < 3:
        return False
    for delim in (",", "\t", ";"):
        counts = {ln.count(delim) for ln in lines}
        if len(counts) == 1 and counts.pop() >= 1 and all(len(ln) < 2000 for ln in lines):
            return True
    return False
