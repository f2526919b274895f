"""MULTIMODAL mode: ask an operator-configured OpenAI-compatible model to pick a rule."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from batchsvc.engines.llm import LLMConfig, LLMError, chat

from .result import Classification
from .rules import Rule

# Enough text for a model to judge a document type without paying for whole books.
MAX_PROMPT_CHARS = 12_000
# Requests in flight per classify_texts call; providers rate-limit, so keep it modest.
CONCURRENCY = 4
# Page images per document: the first pages decide a document's type, and every image costs
# the provider hundreds of tokens and the request ~0.5-1.5 MB of base64.
MAX_IMAGES = 3
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

SYSTEM_PROMPT = (
    "You classify documents into exactly one of the user's document types, or none. "
    "Answer with one JSON object and nothing else: "
    '{"type": <one of the listed type names, or null if none fits>, '
    '"confidence": <number between 0 and 1>, '
    '"reasoning": <one or two sentences citing what in the document decided it>}'
)


class LLMAnswerError(ValueError):
    """The provider's answer is not a usable classification."""


def build_messages(
    text: str, rules: Sequence[Rule], images: Sequence[bytes] = (), form: str | None = None
) -> list[dict]:
    """Chat messages: the rules and the text; page images (PNG) as OpenAI `image_url` parts."""
    listing = "\n".join(f"- {r.type}: {r.description}" for r in rules)
    body = text[:MAX_PROMPT_CHARS]
    cut = "" if len(text) <= MAX_PROMPT_CHARS else "\n[... document truncated ...]"
    prompt = f"Document types:\n{listing}\n\n"
    if form:
        prompt += f"The file: {form}\n\n"
    if images:
        prompt += (f"The first {len(images)} page image(s) of the document are attached; the "
                   f"text below was read from it (by OCR for scans, so it may contain "
                   f"misread words).\n\n")
    prompt += f"Document:\n\"\"\"\n{body}{cut}\n\"\"\""
    content: str | list[dict] = prompt
    if images:
        content = [{"type": "text", "text": prompt}] + [
            {"type": "image_url", "image_url": {"url": png_data_url(img)}} for img in images
        ]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]


def png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def usable_images(images: Sequence[bytes] | None) -> tuple[list[bytes], list[str]]:
    """The PNG pages to send (at most MAX_IMAGES) and notes on what was left out and why."""
    if not images:
        return [], []
    pngs = [bytes(b) for b in images if isinstance(b, (bytes, bytearray, memoryview))
            and bytes(b[:8]) == PNG_SIGNATURE]
    notes = []
    if len(pngs) < len(images):
        notes.append(f"{len(images) - len(pngs)} page image(s) were not PNG data and were "
                     f"not sent")
    if len(pngs) > MAX_IMAGES:
        notes.append(f"only the first {MAX_IMAGES} of {len(pngs)} page images were sent")
        pngs = pngs[:MAX_IMAGES]
    return pngs, notes


def parse_answer(answer: str, rules: Sequence[Rule]) -> Classification:
    """Turn the model's reply into a Classification; reject types that are not in the rules."""
    match = re.search(r"\{.*\}", answer, re.DOTALL)  # models wrap JSON in prose or fences
    if not match:
        raise LLMAnswerError("answer contains no JSON object")
    try:
        data = json.loads(match.group(0))
    except json.JSONDecodeError as exc:
        raise LLMAnswerError(f"answer is not valid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or "type" not in data:
        raise LLMAnswerError("answer has no 'type' field")
    raw_type = data["type"]
    by_key = {r.type.casefold(): r.type for r in rules}
    if raw_type is None or (isinstance(raw_type, str) and raw_type.strip().casefold()
                            in ("", "null", "none")):
        chosen = None
    elif isinstance(raw_type, str) and raw_type.strip().casefold() in by_key:
        chosen = by_key[raw_type.strip().casefold()]
    else:
        raise LLMAnswerError(f"answered type {str(raw_type)[:60]!r} is not one of the rules")
    try:
        confidence = float(data.get("confidence", 0.5))
    except (TypeError, ValueError):
        confidence = 0.5
    if confidence != confidence:  # NaN
        confidence = 0.5
    confidence = min(1.0, max(0.0, confidence))
    reasoning = str(data.get("reasoning") or "").strip()
    if not reasoning:
        reasoning = "The model gave no reasoning."
    return Classification(chosen, confidence, reasoning, "MULTIMODAL", [])


def classify_one(
    text: str, rules: Sequence[Rule], llm: LLMConfig, images: Sequence[bytes] | None = None,
    form: str | None = None,
) -> Classification:
    """One provider call (two when page images are refused); raises LLMError / LLMAnswerError
    for the caller to fall back on.

    With page images, a provider or model that cannot take them usually answers HTTP 400
    ("image input is not supported"); any failure of the call with images is retried once
    with the text alone, and the result says so.
    """
    pngs, notes = usable_images(images)
    if pngs:
        try:
            answer = chat(llm, build_messages(text, rules, pngs, form), temperature=0)
            notes.append(f"{len(pngs)} page image(s) sent to the model with the text")
        except LLMError as exc:
            if not text.strip():
                raise  # nothing else to show the model
            answer = chat(llm, build_messages(text, rules, form=form), temperature=0)
            what = ("the provider refused the page images" if _refused_images(exc)
                    else "the request with page images failed")
            notes.append(f"{what} ({_short(exc)}); classified from the text only")
    else:
        answer = chat(llm, build_messages(text, rules, form=form), temperature=0)
    result = parse_answer(answer, rules)
    result.notes.append(f"classified by model {llm.model!r}")
    result.notes.extend(notes)
    return result


def _refused_images(exc: LLMError) -> bool:
    """HTTP 400 (how OpenAI-compatible servers refuse content parts) or a message about images."""
    msg = str(exc).lower()
    return "http 400" in msg or any(w in msg for w in ("image", "vision", "multimodal"))


def _short(exc: Exception, limit: int = 160) -> str:
    msg = " ".join(str(exc).split())
    return msg if len(msg) <= limit else msg[: limit - 1] + "…"


def classify_llm(
    texts: Sequence[str], rules: Sequence[Rule], llm: LLMConfig,
    images: Sequence[Sequence[bytes] | None] | None = None,
    forms: Sequence[str | None] | None = None,
) -> list[Classification | str]:
    """Per text: a Classification, or the reason (str) the provider could not be used.

    `images[i]`: PNG page images of document i (or None), sent with its text when given;
    `forms[i]`: what kind of file it is, told to the model.
    """
    per_doc = list(images) if images is not None else [None] * len(texts)
    per_form = list(forms) if forms is not None else [None] * len(texts)
    if len(per_doc) != len(texts) or len(per_form) != len(texts):
        raise ValueError("images, forms: one entry per text expected")

    def run(i: int) -> Classification | str:
        try:
            return classify_one(texts[i], rules, llm, per_doc[i], per_form[i])
        except LLMError as exc:
            return f"provider error: {exc}"
        except LLMAnswerError as exc:
            return f"provider answer rejected: {exc}"

    if len(texts) == 1:
        return [run(0)]
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(texts))) as pool:
        return list(pool.map(run, range(len(texts))))
