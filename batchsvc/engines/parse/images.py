"""Images the engine produces when asked: page screenshots and embedded images.

``images_to_save`` (``screenshot``, ``embedded``), ``take_screenshot`` and ``save_images``
(LlamaParse's older switch for embedded images) select them. Names follow LlamaParse:
``page_<n>.jpg`` for the screenshot of page n (the llama-parse client tells screenshots by
that pattern) and ``img_p<n-1>_<k>.png`` for the k-th figure of page n. A hostile image (too
many pixels, a corrupt stream) fails alone: it is left out with a warning.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SCREENSHOT_DPI = 150
MAX_SCREENSHOT_PIXELS = 16_000_000
MAX_IMAGE_PIXELS = 25_000_000  # an embedded image larger than this is not decoded
JPEG_QUALITY = 85


@dataclass
class ParsedImage:
    """One image file of a result: bytes for the store, metadata for the API."""

    name: str
    page_number: int  # 1-based
    category: str  # "screenshot" or "embedded"
    mime: str
    data: bytes
    # where it sits on its page, in PDF points from the top-left corner
    bbox: dict[str, float]
    width: int  # pixels
    height: int
    index: int = 0  # position among the document's images, set once all pages are read

    def metadata(self) -> dict[str, Any]:
        """The page dict's (JSON) record of this image; the bytes stay out."""
        return {"name": self.name, "index": self.index, "category": self.category,
                "content_type": self.mime, "bbox": self.bbox, "width": self.width,
                "height": self.height, "size_bytes": len(self.data)}


def wanted(params: Mapping[str, Any]) -> set[str]:
    """The image categories the parameters ask for."""
    asked = params.get("images_to_save") or []
    if isinstance(asked, str):
        asked = [x.strip() for x in asked.split(",")]
    out = {str(x) for x in asked} & {"screenshot", "embedded"}
    if params.get("take_screenshot"):
        out.add("screenshot")
    if params.get("save_images"):
        out.add("embedded")
    return out


def image_options_not_applied(params: Mapping[str, Any], kind: str,
                              keep: bool) -> list[dict[str, str]]:
    """Why the image options that were set are not honoured here, if they are not."""
    names = [n for n in ("images_to_save", "take_screenshot", "save_images") if params.get(n)]
    if not names:
        return []
    if not keep:
        reason = "images are not stored by this service yet"
    elif kind not in ("pdf", "image"):
        reason = "images are produced for PDF and image files only"
    else:
        asked = params.get("images_to_save") or []
        if "layout" in (asked if isinstance(asked, list) else str(asked).split(",")):
            return [{"option": "images_to_save",
                     "reason": "'layout' crops are not produced (screenshot, embedded are)"}]
        return []
    return [{"option": n, "reason": reason} for n in names]


def _jpeg(img: Any) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _png(img: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def screenshot(page: Any, page_number: int, width: float, height: float) -> ParsedImage:
    """The page rendered by pdfium, as displayed (rotation applied)."""
    scale = SCREENSHOT_DPI / 72
    if width * height * scale * scale > MAX_SCREENSHOT_PIXELS:
        scale = (MAX_SCREENSHOT_PIXELS / (width * height)) ** 0.5
    img = page.render(scale=scale).to_pil()
    return ParsedImage(f"page_{page_number}.jpg", page_number, "screenshot", "image/jpeg",
                       _jpeg(img), {"x": 0.0, "y": 0.0, "w": width, "h": height},
                       img.width, img.height)


def frame_screenshot(img: Any, page_number: int) -> ParsedImage:
    """A scanned image's page as its screenshot (its size in pixels stands for points)."""
    return ParsedImage(f"page_{page_number}.jpg", page_number, "screenshot", "image/jpeg",
                       _jpeg(img), {"x": 0.0, "y": 0.0, "w": float(img.width),
                                    "h": float(img.height)}, img.width, img.height)


def embedded(page: Any, block: Mapping[str, Any], page_number: int) -> ParsedImage:
    """The image object behind a figure block, decoded by pdfium; raises on a bad image."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as raw

    path = block["object"]
    handle = raw.FPDFPage_GetObject(page.raw, path[0])
    for k in path[1:]:
        handle = raw.FPDFFormObj_GetObject(handle, k) if handle else None
    if not handle:
        raise ValueError("image object not found")
    obj = pdfium.PdfObject(handle, page=page, pdf=page.pdf)
    if not isinstance(obj, pdfium.PdfImage):
        raise ValueError("not an image object")
    w, h = obj.get_px_size()
    if w * h > MAX_IMAGE_PIXELS or w <= 0 or h <= 0:
        raise ValueError(f"{w}x{h} pixels is over the {MAX_IMAGE_PIXELS:,}-pixel limit")
    img = obj.get_bitmap(render=False).to_pil()
    if img.mode not in ("RGB", "RGBA", "L", "LA", "1", "P"):
        img = img.convert("RGB")
    return ParsedImage(block["name"], page_number, "embedded", "image/png", _png(img),
                       dict(block["bbox"]), img.width, img.height)
