"""Minimal OpenAI-compatible chat client shared by the parse and classify engines.

Kept dependency-light (just ``requests``) so engines stay importable on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests


class LLMError(RuntimeError):
    """The provider could not be reached or answered with something unusable."""


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    # repr=False so the key never leaks into logs, tracebacks or job metadata.
    api_key: str = field(repr=False)
    model: str
    timeout: float = 60.0

    def describe(self) -> dict[str, str]:
        """Secret-free description, safe to store in results."""
        return {"base_url": self.base_url, "model": self.model}


def chat(config: LLMConfig, messages: list[dict], **kw: Any) -> str:
    """POST ``{base_url}/chat/completions`` and return the first choice's text.

    Extra keyword arguments (temperature, max_tokens, response_format...) are passed through
    in the request body.
    """
    url = config.base_url.rstrip("/") + "/chat/completions"
    body: dict[str, Any] = {"model": config.model, "messages": messages, **kw}
    headers = {"Content-Type": "application/json"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    try:
        resp = requests.post(url, json=body, headers=headers, timeout=config.timeout)
    except requests.RequestException as exc:
        raise LLMError(f"LLM provider unreachable: {type(exc).__name__}") from exc
    if resp.status_code >= 400:
        # The body may echo request data; keep only a short prefix and never the key.
        raise LLMError(f"LLM provider returned HTTP {resp.status_code}: {resp.text[:200]}")
    try:
        payload = resp.json()
        content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError("LLM provider returned an unexpected response shape") from exc
    if isinstance(content, list):
        # Some providers return content parts instead of a plain string.
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")
