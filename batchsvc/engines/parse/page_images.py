"""Pages as PNG images: PDF pages rendered by pdfium, frames of an image file."""

from __future__ import annotations

import io
from typing import Any


def render_pages(data: bytes, kind: str | None, numbers: list[int], max_side: int
                 ) -> list[bytes]:
    """PNGs of the 1-based pages ``numbers`` of a ``pdf`` or ``image`` file, at most
    ``max_side`` pixels on the long side; [] for other kinds. Raises ParseError when the
    file cannot be opened."""
    if kind == "pdf":
        from .pdf import open_pdf

        doc = open_pdf(data)
        try:
            images = []
            for n in numbers:
                page = doc[n - 1]
                width, height = page.get_size()
                scale = max_side / max(width, height, 1.0)
                images.append(_png(page.render(scale=scale).to_pil(), max_side))
            return images
        finally:
            doc.close()
    if kind == "image":
        from .ocr import open_images

        frames = open_images(data)
        return [_png(frames[n - 1], max_side) for n in numbers if n <= len(frames)]
    return []


def _png(img: Any, max_side: int) -> bytes:
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
