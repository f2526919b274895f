"""OCR through Debian's tesseract (pytesseract), with rotation fixed first via OSD."""

from __future__ import annotations

import functools
import io
import os
import warnings
from typing import Any

from .model import PageError, ParseError

# tesseract's OpenMP threads fight each other on small machines: 17 CPU-s/page vs 2.2.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

MAX_IMAGE_PIXELS = 80_000_000
MAX_FRAMES = 2000
MAX_OCR_SIDE = 4200
MIN_OCR_SIDE = 1400

# LlamaParse language codes -> tesseract traineddata names.
LANG_MAP = {
    "en": "eng", "fr": "fra", "de": "deu", "es": "spa", "it": "ita", "pt": "por", "nl": "nld",
    "ru": "rus", "uk": "ukr", "pl": "pol", "cs": "ces", "sk": "slk", "sl": "slv", "hr": "hrv",
    "sv": "swe", "da": "dan", "no": "nor", "fi": "fin", "et": "est", "lv": "lav", "lt": "lit",
    "hu": "hun", "ro": "ron", "bg": "bul", "tr": "tur", "ar": "ara", "fa": "fas", "ur": "urd",
    "hi": "hin", "bn": "ben", "ta": "tam", "te": "tel", "kn": "kan", "mr": "mar", "ne": "nep",
    "th": "tha", "vi": "vie", "id": "ind", "ms": "msa", "ja": "jpn", "ko": "kor",
    "ch_sim": "chi_sim", "ch_tra": "chi_tra", "la": "lat", "cy": "cym", "ga": "gle",
    "is": "isl", "sq": "sqi", "mt": "mlt", "az": "aze", "be": "bel", "bs": "bos", "sw": "swa",
    "tl": "tgl", "uz": "uzb", "mn": "mon", "ug": "uig", "oc": "oci", "sa": "san",
    "rs_latin": "srp_latn", "rs_cyrillic": "srp", "af": "afr", "ku": "kmr", "mi": "mri",
}


@functools.lru_cache(maxsize=1)
def installed_languages() -> frozenset[str]:
    import pytesseract

    try:
        return frozenset(pytesseract.get_languages(config=""))
    except Exception:
        return frozenset()


def resolve_languages(requested: list[str]) -> tuple[str, list[str]]:
    """Return (tesseract -l value, requested codes that are not installed)."""
    have = installed_languages()
    chosen, missing = [], []
    for code in requested:
        tess = LANG_MAP.get(code, code)
        if tess in have:
            if tess not in chosen:
                chosen.append(tess)
        else:
            missing.append(code)
    if not chosen:
        chosen = ["eng"] if "eng" in have or not have else [sorted(have)[0]]
    return "+".join(chosen), missing


def open_images(data: bytes) -> list[Any]:
    """Decode an image file into RGB/L frames (multi-page TIFF gives several)."""
    from PIL import Image, ImageSequence

    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            frames = []
            for k, frame in enumerate(ImageSequence.Iterator(img)):
                if k >= MAX_FRAMES:
                    raise ParseError(f"refused: image has more than {MAX_FRAMES} frames")
                if frame.width * frame.height > MAX_IMAGE_PIXELS:
                    raise ParseError("refused: image is too large (decompression bomb guard)")
                frames.append(frame.convert("RGB") if frame.mode not in ("RGB", "L") else
                              frame.copy())
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ParseError("refused: image is too large (decompression bomb guard)") from None
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError(f"corrupt or truncated image: {exc}") from None
    if not frames:
        raise ParseError("empty document: the image has no frames")
    return frames


def _scale(img: Any) -> Any:
    from PIL import Image

    side = max(img.size)
    if side > MAX_OCR_SIDE:
        f = MAX_OCR_SIDE / side
    elif side < MIN_OCR_SIDE:
        # Tesseract is weak on low-dpi images; upsampling helps it more than it costs.
        f = min(3.0, MIN_OCR_SIDE / side)
    else:
        return img
    return img.resize((max(1, int(img.width * f)), max(1, int(img.height * f))),
                      Image.Resampling.LANCZOS)


def detect_rotation(img: Any) -> int:
    """Clockwise degrees the page is turned (0/90/180/270); 0 when OSD cannot tell."""
    import pytesseract

    try:
        osd = pytesseract.image_to_osd(img, config="--psm 0",
                                       output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractError:
        return 0  # too little text for OSD: treat as upright
    if float(osd.get("orientation_conf", 0)) < 1.0:
        return 0
    return int(osd.get("rotate", 0)) % 360


def ocr_image(img: Any, lang: str = "eng") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """OCR one page image into words with boxes in image pixels (top-left origin) and the
    height of their line, for the same layout pass as a text layer (``ocr_blocks``)."""
    import pytesseract

    img = _scale(img)
    if img.mode not in ("RGB", "L"):
        img = img.convert("RGB")
    try:
        rotate = detect_rotation(img)
        if rotate:
            img = img.rotate(-rotate, expand=True)
        data = pytesseract.image_to_data(img, lang=lang, output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractNotFoundError:
        raise PageError("OCR unavailable: tesseract is not installed") from None
    except pytesseract.TesseractError as exc:
        raise PageError(f"OCR failed: {exc}") from None
    words: list[dict[str, Any]] = []
    line_h: dict[tuple[int, int, int], list[int]] = {}
    confs = []
    for k, word in enumerate(data["text"]):
        if not word.strip() or float(data["conf"][k]) < 0:
            continue
        line = (data["block_num"][k], data["par_num"][k], data["line_num"][k])
        h = data["height"][k]
        line_h.setdefault(line, []).append(h)
        words.append({"text": word, "x": data["left"][k], "y": data["top"][k],
                      "w": data["width"][k], "h": h, "line": line})
        confs.append(float(data["conf"][k]))
    for w in words:
        hs = sorted(line_h[w.pop("line")])
        w["line_h"] = hs[len(hs) // 2]  # the median: one descender does not make a heading
    info = {"rotation": rotate, "confidence": round(sum(confs) / len(confs) / 100, 3)
            if confs else 0.0, "width": img.width, "height": img.height}
    return words, info
