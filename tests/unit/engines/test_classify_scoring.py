"""Scoring arithmetic on synthetic vectors (no model needed)."""

import numpy as np

from batchsvc.engines.classify import scoring
from batchsvc.engines.classify.scoring import (
    RuleSpace,
    fit_scores,
    probabilities,
    refine_with_batch,
)

RNG = np.random.default_rng(7)
DIM = 16


def unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def space(n_rules=3):
    views = unit(np.stack([np.eye(DIM)[:n_rules] + 0.05 * RNG.standard_normal((n_rules, DIM))
                           for _ in range(2)], axis=1))
    return RuleSpace.from_views(views)


def batch(per_rule, n_rules=3, noise=0.6):
    docs = [unit(np.eye(DIM)[k] + noise * RNG.standard_normal(DIM))
            for k in range(n_rules) for _ in range(per_rule)]
    return np.array(docs)


def test_probabilities_are_a_distribution_sharpened_by_temperature():
    s = np.array([[0.30, 0.20, 0.10]])
    p = probabilities(s, 0.05)
    assert np.isclose(p.sum(), 1.0) and p.argmax() == 0
    assert probabilities(s, 0.02)[0, 0] > p[0, 0] > probabilities(s, 0.2)[0, 0]


def test_fit_takes_the_best_matching_passage():
    sp = space()
    doc = unit(np.ones((1, DIM)))  # resembles no rule as a whole
    chunk = sp.views[1, 0][None, :]  # but one passage is rule 1's own phrasing
    assert fit_scores(doc, sp)[0, 1] < 0.5
    assert np.isclose(fit_scores(doc, sp, chunk, np.array([0]))[0, 1], 1.0, atol=1e-6)


def test_small_batches_and_thin_rules_are_not_refined():
    sp = space()
    docs = batch(per_rule=4)  # 12 documents: below REFINE_MIN_DOCS
    s = docs @ sp.centred.T
    assert refine_with_batch(docs, s, np.ones(len(docs), bool), sp) is None
    docs = batch(per_rule=30)
    s = docs @ sp.centred.T
    eligible = np.ones(len(docs), bool)
    eligible[30:] = False  # only rule 0's documents may teach
    ref = refine_with_batch(docs, s, eligible, sp)
    assert ref is not None and ref.used[0] > 0 and (ref.used[1:] == 0).all()


def test_no_document_is_scored_against_a_centroid_containing_itself():
    sp = space()
    docs = batch(per_rule=12)
    s = docs @ sp.centred.T
    ref = refine_with_batch(docs, s, np.ones(len(docs), bool), sp)
    assert ref is not None
    base = unit(sp.centred)
    pred = s.argmax(1)
    top2 = np.sort(s, 1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    for k in range(3):
        idx = np.where(pred == k)[0]
        keep = idx[np.argsort(-margin[idx])][: int(np.ceil(scoring.REFINE_KEEP * len(idx)))]
        n = len(keep)
        w = (1 - scoring.REFINE_ALPHA) * n / (n + scoring.REFINE_SHRINK)
        for i in range(len(docs)):
            members = [j for j in keep if j != i]
            rule = unit((1 - w) * base[k] + w * unit(docs[members].sum(0)))
            assert np.isclose(ref.scores[i, k], docs[i] @ rule, atol=1e-5), (i, k)
