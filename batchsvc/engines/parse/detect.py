"""Content-based type detection and cheap guards against hostile input."""

from __future__ import annotations

import io
import json
import zipfile

from .model import ParseError

MAX_ZIP_UNCOMPRESSED = 512 * 1024 * 1024
MAX_ZIP_RATIO = 200
MAX_ZIP_ENTRIES = 20000


def _looks_text(data: bytes) -> str | None:
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


def detect(data: bytes, filename: str = "") -> str:
    """Return one of pdf, image, docx, pptx, xlsx, csv, html, xml, json, text, markdown."""
    if not data or not data.strip():
        raise ParseError("empty document")
    head = data[:2048]
    if b"%PDF-" in head[:1024]:
        return "pdf"
    if head.startswith((b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"GIF8", b"BM")) or (
            head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head.startswith(b"PK\x03\x04"):
        names = set(check_zip(data).namelist())
        if "word/document.xml" in names:
            return "docx"
        if "ppt/presentation.xml" in names:
            return "pptx"
        if "xl/workbook.xml" in names:
            return "xlsx"
        raise ParseError("unsupported type: zip archive that is not a DOCX, PPTX or XLSX")
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ParseError("unsupported type: legacy binary Office format (doc/xls/ppt)")
    text = _looks_text(data)
    if text is None:
        raise ParseError("unsupported type: binary content not recognised")
    stripped = text.lstrip()[:1024].lower()
    if stripped.startswith(("<!doctype html", "<html")) or "<body" in stripped or (
            "<html" in stripped):
        return "html"
    if stripped.startswith("<?xml") or (stripped.startswith("<") and stripped.rstrip().endswith(
            ">")):
        if "<html" in text[:4096].lower():
            return "html"
        return "xml"
    if stripped.startswith(("{", "[")):
        try:
            json.loads(text)
            return "json"
        except ValueError:
            pass
    name = filename.lower()
    if name.endswith((".csv", ".tsv")) or _looks_csv(text):
        return "csv"
    if name.endswith((".md", ".markdown")):
        return "markdown"
    return "text"


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
