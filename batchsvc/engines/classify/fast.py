"""FAST mode: offline zero-shot classification with the packaged MiniLM encoder."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from .embed import MAX_CHARS, DocEmbeddings, embed_documents, encoder_dim, rule_views
from .model import Encoder, get_encoder
from .result import Classification, Evidence
from .rules import Rule, parse_rules
from .scoring import (
    EARLY_EXIT_CONFIDENCE,
    FORM_MATCH,
    MATCH_THRESHOLD,
    TEMPERATURE,
    TEMPERATURE_REFINED,
    RuleSpace,
    fit_confidence,
    fit_scores,
    probabilities,
    refine_with_batch,
    rule_scores,
)

SNIPPET_CHARS = 160
MAX_PASSAGES = 2
# Rule sets repeat across the files of a job (one classify_text call per file): embedding
# them once per process saves ~10 short encoder calls per file.
_RULE_CACHE_SIZE = 64
_rule_cache: dict[tuple, RuleSpace] = {}
_rule_lock = threading.Lock()


def rule_space(encoder: Encoder, rules: Sequence[Rule]) -> RuleSpace:
    key = (id(encoder), tuple(rules))
    space = _rule_cache.get(key)
    if space is None:
        space = RuleSpace.from_views(rule_views(encoder, rules))
        with _rule_lock:
            if len(_rule_cache) >= _RULE_CACHE_SIZE:
                _rule_cache.pop(next(iter(_rule_cache)))  # oldest first (dict order)
            _rule_cache[key] = space
    return space


def classify_fast(
    texts: Sequence[str], rules: Sequence[Rule], encoder: Encoder | None = None,
    refine: bool = True, early_exit: bool = True, forms: Sequence[str | None] | None = None,
) -> list[Classification]:
    """Classify every text against the (already validated) rules.

    `forms[i]`: a sentence saying what kind of file document i is (see `form_of`), or None.
    """
    if not texts:
        return []
    encoder = encoder or get_encoder()
    space = rule_space(encoder, rules)
    form_vecs = _form_vectors(encoder, forms, len(texts), space)

    def decided(doc1: np.ndarray, vecs: np.ndarray, owner: np.ndarray) -> np.ndarray:
        # Stop reading a document when its opening window alone is a confident match; with
        # one rule there is no ranking to be confident about, so every window is read.
        if len(rules) < 2:
            return np.zeros(len(doc1), dtype=bool)
        doc1 = with_form(doc1, vecs, owner, form_vecs)
        p = probabilities(rule_scores(doc1, space)).max(axis=1)
        fit1 = fit_scores(doc1, space, vecs, owner).max(axis=1)
        return (p >= EARLY_EXIT_CONFIDENCE) & (fit1 >= MATCH_THRESHOLD)

    emb = embed_documents(encoder, texts, decided if early_exit else None)
    if form_vecs is not None:
        emb.doc = with_form(emb.doc, emb.chunks, emb.owner, form_vecs)
    scores = rule_scores(emb.doc, space)
    fit = fit_scores(emb.doc, space, emb.chunks, emb.owner)
    matched = (fit.max(axis=1) >= MATCH_THRESHOLD) & ~emb.empty
    refinement = refine_with_batch(emb.doc, scores, matched, space) if refine else None
    temperature = TEMPERATURE
    if refinement is not None:
        scores, temperature = refinement.scores, TEMPERATURE_REFINED
    probs = probabilities(scores, temperature)
    # Chunk-level similarity, for quoting the passages that drove each decision.
    chunk_scores = emb.chunks @ space.centred.T if len(emb.chunks) else None
    out = []
    for i, text in enumerate(texts):
        res = _explain(i, text, rules, scores[i], probs[i], fit[i], matched[i], emb,
                       chunk_scores, refinement.used if refinement is not None else None)
        if form_vecs is not None and form_vecs[i].any() and not emb.empty[i]:
            kind = cast("Sequence[str | None]", forms)[i]  # form_vecs is set only with forms
            res.reasoning += (f" The file's kind (\"{kind}\") matches a rule, so it "
                              f"counted as one more passage of the document.")
        if len(rules) >= 2 and not emb.empty[i]:
            res.evidence = Evidence(emb.doc[i].astype(np.float32), bool(matched[i]))
        out.append(res)
    return out


@dataclass(frozen=True)
class Refined:
    """A document's answer after refinement over its batch."""

    type: str
    confidence: float
    # Confidently classified documents of the batch that now define this rule.
    examples: int


def refine_evidence(evidence: Sequence[Evidence], rules: Sequence[Mapping],
                    encoder: Encoder | None = None) -> list[Refined | None] | None:
    """Batch refinement (the same as classify_fast's) over documents classified one by one:
    a caller that classified a job's files separately refines the job once every file has
    been seen, so no answer depends on which files shared a call. None when the batch is too
    small to refine; else one entry per document (None where no rule fits it)."""
    parsed = parse_rules(rules)
    if len(parsed) < 2 or not evidence:
        return None
    space = rule_space(encoder or get_encoder(), parsed)
    doc = np.stack([e.doc for e in evidence]).astype(np.float32)
    matched = np.array([e.matched for e in evidence], dtype=bool)
    refinement = refine_with_batch(doc, rule_scores(doc, space), matched, space)
    if refinement is None:
        return None
    probs = probabilities(refinement.scores, TEMPERATURE_REFINED)
    best = refinement.scores.argmax(axis=1)
    return [Refined(parsed[int(k)].type, round(float(probs[i, k]), 4),
                    int(refinement.used[int(k)])) if matched[i] else None
            for i, k in enumerate(best)]


def _form_vectors(
    encoder: Encoder, forms: Sequence[str | None] | None, n: int, space: RuleSpace
) -> np.ndarray | None:
    """[N, D] embedding of each document's form sentence, where a rule describes that form.

    Zeros elsewhere: "A PowerPoint presentation" is strong evidence for a rule "slide deck:
    a presentation made of slides" but only noise for news topics (it leans towards
    'entertainment'), so the form is weighed only when some rule matches it (FORM_MATCH).
    """
    if forms is None or not any(forms):
        return None
    if len(forms) != n:
        raise ValueError(f"forms: one entry per text expected, got {len(forms)} for {n} texts")
    idx = [i for i, f in enumerate(forms) if f]
    vecs = np.zeros((n, encoder_dim(encoder)), dtype=np.float32)
    encoded = encoder.encode([str(forms[i]) for i in idx])
    described = np.einsum("fd,rvd->frv", encoded, space.views).max(axis=(1, 2)) >= FORM_MATCH
    if not described.any():
        return None
    vecs[np.asarray(idx)[described]] = encoded[described]
    return vecs


def with_form(
    doc: np.ndarray, vecs: np.ndarray, owner: np.ndarray, form_vecs: np.ndarray | None
) -> np.ndarray:
    """Document vectors re-pooled with the form sentence as one more window.

    The form weighs as much as one window of text, so it matters where there is little text
    (a slide deck of a few words) and little in a long report. Empty documents stay empty.
    """
    if form_vecs is None:
        return doc
    total = np.zeros_like(doc)
    if len(owner):
        np.add.at(total, owner, vecs)
    has = (np.bincount(owner, minlength=len(doc)) > 0)[:, None]
    mixed = np.where(has, total + form_vecs, doc)
    return mixed / np.maximum(np.linalg.norm(mixed, axis=1, keepdims=True), 1e-12)


def _explain(
    i: int, text: str, rules: Sequence[Rule], scores: np.ndarray, probs: np.ndarray,
    fit: np.ndarray, matched: bool, emb: DocEmbeddings, chunk_scores: np.ndarray | None,
    refined_used: np.ndarray | None,
) -> Classification:
    notes: list[str] = []
    if emb.truncated[i]:
        notes.append(f"document longer than {MAX_CHARS} characters; only the start was read")
    if emb.empty[i]:
        return Classification(
            None, 0.0, "The document contains no text to compare with the rules, so no rule "
            "can be chosen.", "FAST", notes,
        )
    order = np.argsort(-scores)
    best = int(order[0])
    closest_fit = int(np.argmax(fit))
    if not matched:
        conf = float(1.0 - fit_confidence(fit[closest_fit]))
        return Classification(
            None, round(conf, 4),
            f"No rule fits: the closest rule, '{rules[closest_fit].type}', has a similarity of "
            f"{fit[closest_fit]:.2f} to the document, below the {MATCH_THRESHOLD:.2f} needed "
            f"to count as a match (documents that match their rule typically score 0.15-0.45). "
            f"Closest passage: {_passages(i, closest_fit, text, emb, chunk_scores, 1)}.",
            "FAST", notes,
        )
    if len(rules) == 1:
        # Nothing to rank against: the only evidence is how well the one rule fits.
        conf = float(fit_confidence(fit[best]))
        parts = [
            f"Only one rule, '{rules[best].type}'; the document's similarity to it is "
            f"{fit[best]:.2f}, above the {MATCH_THRESHOLD:.2f} match threshold."
        ]
    else:
        conf = float(probs[best])
        second = int(order[1])
        parts = [
            f"Closest rule: '{rules[best].type}' (score {scores[best]:.3f}), ahead of "
            f"'{rules[second].type}' ({scores[second]:.3f}) by a margin of "
            f"{scores[best] - scores[second]:.3f}."
        ]
        if conf < 0.6:
            parts.append("The margin is small, so this is uncertain.")
    parts.append(
        f"Passages most like '{rules[best].type}': "
        f"{_passages(i, best, text, emb, chunk_scores, MAX_PASSAGES)}."
    )
    if emb.skipped[i]:
        parts.append(
            f"The opening passage alone was decisive, so the other {int(emb.skipped[i])} "
            f"passages were not scored."
        )
    if refined_used is not None and refined_used[best]:
        parts.append(
            f"Scores were refined with {int(refined_used[best])} confidently classified "
            f"documents of this batch as examples of '{rules[best].type}'."
        )
    return Classification(rules[best].type, round(conf, 4), " ".join(parts), "FAST", notes)


def _passages(
    i: int, k: int, text: str, emb: DocEmbeddings, chunk_scores: np.ndarray | None, n: int
) -> str:
    """Quoted snippets of the document's chunks most similar to rule k, with their scores."""
    if chunk_scores is None:
        return "(none)"
    idx = np.where(emb.owner == i)[0]
    ranked = idx[np.argsort(-chunk_scores[idx, k])][:n]
    quotes = []
    for c in ranked:
        start, end = emb.spans[c]
        snippet = " ".join(text[start:end].split())
        if len(snippet) > SNIPPET_CHARS:
            snippet = snippet[: SNIPPET_CHARS - 1].rstrip() + "…"
        quotes.append(f"\"{snippet}\" (chars {start}-{end}, score {chunk_scores[c, k]:.3f})")
    return "; ".join(quotes) if quotes else "(none)"
