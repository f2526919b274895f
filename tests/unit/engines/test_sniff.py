"""One content sniffer for uploads and the parser: the bytes decide, short magics are checked
past their first letters, and the name only tells apart what the bytes cannot."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from batchsvc.engines.parse import parse_document
from batchsvc.engines.parse.detect import sniff

ARTICLE = ("{start} shares rose sharply on Monday after the company reported record profits "
           "for the third quarter in a row, analysts said.\n")


@pytest.mark.parametrize("start", ["BM", "BMW", "II*", "MM", "GIF", "GIF8", "RIFF", "PK",
                                   "%PD", "\u00ffOR"])
def test_text_that_starts_like_a_binary_format_is_text(start: str) -> None:
    data = ARTICLE.format(start=start).encode()
    assert sniff(data, "article.txt") == "text"
    parsed = parse_document(data, "article.txt", {})
    assert "record profits" in parsed.pages[0].text


def _image(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize(("fmt", "kind"), [("BMP", "bmp"), ("GIF", "gif"), ("TIFF", "tiff"),
                                           ("PNG", "png"), ("JPEG", "jpeg"), ("WEBP", "webp")])
def test_real_images_are_images_whatever_their_name(fmt: str, kind: str) -> None:
    assert sniff(_image(fmt), "notes.txt") == kind


def test_the_name_separates_only_what_the_bytes_cannot() -> None:
    assert sniff(b"# Title\n\nSome words.\n", "readme.md") == "markdown"
    assert sniff(b"# Title\n\nSome words.\n", "readme.txt") == "text"
    assert sniff(b"a,b,c\n1,2,3\n4,5,6\n", "x.dat") == "csv"
    # A name never makes text binary, nor a PDF text.
    assert sniff(b"plain words", "invoice.pdf") == "text"
    assert sniff(b"%PDF-1.7\n...", "notes.txt") == "pdf"
