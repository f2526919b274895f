"""Hosted-model parse modes: send each page (text, and image for vision modes) to the
operator-configured OpenAI-compatible provider and use its markdown."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Mapping
from typing import Any

from ..llm import LLMConfig, LLMError, chat

_SYSTEM = (
    "You convert one page of a document into clean GitHub-flavoured Markdown. Keep every "
    "word of the page, in reading order; use #-headings, lists and pipe tables where the "
    "page has them. Answer with the Markdown only, no commentary and no code fences."
)


def _image_url(img: Any) -> str:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def page_markdown(llm: LLMConfig, params: Mapping[str, Any], page_number: int, local_md: str,
                  image: Any | None) -> str:
    system = params.get("system_prompt") or _SYSTEM
    if params.get("system_prompt_append"):
        system += "\n" + str(params["system_prompt_append"])
    instructions = [str(params[k]) for k in (
        "parsing_instruction", "user_prompt", "formatting_instruction",
        "complemental_formatting_instruction", "content_guideline_instruction") if params.get(k)]
    text = (f"Page {page_number}. Text extracted locally (may be out of order):\n\n"
            f"{local_md}")
    if instructions:
        text = "\n".join(instructions) + "\n\n" + text
    content: Any = text
    if image is not None:
        content = [{"type": "text", "text": text},
                   {"type": "image_url", "image_url": {"url": _image_url(image)}}]
    out = chat(llm, [{"role": "system", "content": system},
                     {"role": "user", "content": content}], temperature=0)
    out = out.strip()
    if out.startswith("```"):
        out = out.split("\n", 1)[1] if "\n" in out else ""
        out = out.rsplit("```", 1)[0].strip()
    return out


def apply_llm(pages: list[dict[str, Any]], llm: LLMConfig, params: Mapping[str, Any],
              image_for: Callable[[dict[str, Any]], Any] | None) -> tuple[int, list[str]]:
    """Replace page markdown with the model's; returns (pages done, warnings)."""
    done, warnings = 0, []
    for p in pages:
        if not p["success"]:
            continue
        try:
            image = image_for(p) if image_for else None
            md = page_markdown(llm, params, p["page_number"], p["md"], image)
        except LLMError as exc:
            warnings.append(f"page {p['page_number']}: LLM failed ({exc}); local result kept")
            continue
        if md:
            p["md"] = md
            done += 1
    return done, warnings
