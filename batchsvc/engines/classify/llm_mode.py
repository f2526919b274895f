"""MULTIMODAL mode: ask an operator-configured OpenAI-compatible model to pick a rule."""

from __future__ import annotations

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

SYSTEM_PROMPT = (
    "You classify documents into exactly one of the user's document types, or none. "
    "Answer with one JSON object and nothing else: "
    '{"type": <one of the listed type names, or null if none fits>, '
    '"confidence": <number between 0 and 1>, '
    '"reasoning": <one or two sentences citing what in the document decided it>}'
)


class LLMAnswerError(ValueError):
    """The provider's answer is not a usable classification."""


def build_messages(text: str, rules: Sequence[Rule]) -> list[dict]:
    listing = "\n".join(f"- {r.type}: {r.description}" for r in rules)
    body = text[:MAX_PROMPT_CHARS]
    cut = "" if len(text) <= MAX_PROMPT_CHARS else "\n[... document truncated ...]"
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": f"Document types:\n{listing}\n\nDocument:\n\"\"\"\n{body}{cut}\n\"\"\"",
        },
    ]


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


def classify_one(text: str, rules: Sequence[Rule], llm: LLMConfig) -> Classification:
    """One provider call; raises LLMError / LLMAnswerError for the caller to fall back on."""
    answer = chat(llm, build_messages(text, rules), temperature=0)
    result = parse_answer(answer, rules)
    result.notes.append(f"classified by model {llm.model!r}")
    return result


def classify_llm(
    texts: Sequence[str], rules: Sequence[Rule], llm: LLMConfig
) -> list[Classification | str]:
    """Per text: a Classification, or the reason (str) the provider could not be used."""

    def run(text: str) -> Classification | str:
        try:
            return classify_one(text, rules, llm)
        except LLMError as exc:
            return f"provider error: {exc}"
        except LLMAnswerError as exc:
            return f"provider answer rejected: {exc}"

    if len(texts) == 1:
        return [run(texts[0])]
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(texts))) as pool:
        return list(pool.map(run, texts))
