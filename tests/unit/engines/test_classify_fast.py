"""FAST mode on the shared BBC sample and on hand-written texts."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from batchsvc.engines.classify import classify_text, classify_texts
from batchsvc.engines.classify.embed import MAX_CHUNKS, embed_documents
from batchsvc.engines.classify.fast import classify_fast
from batchsvc.engines.classify.model import get_encoder
from batchsvc.engines.classify.rules import parse_rules

# <repo>/tests/unit/engines/this.py -> <repo>/../shared/classify
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "classify"

# Written for these tests (not BBC text): prose on subjects no news rule describes.
OFF_TOPIC = [
    "Preheat the oven to 200 degrees. Rub the chicken with olive oil, garlic and thyme, then "
    "roast it for forty minutes until the skin is golden. Rest the meat before carving.",
    "This lease is governed by the laws of the state. The tenant shall pay the rent on the "
    "first day of each month and keep the premises in good repair. Either party may end it "
    "with ninety days written notice.",
    "To replace the filter, switch off the unit and unplug it. Open the front panel by "
    "pressing both tabs, slide out the old cartridge and insert the new one arrow up.",
]


def load_rules() -> list[dict]:
    return json.loads((SHARED / "rules.json").read_text())


def load_bbc() -> list[dict]:
    csv.field_size_limit(10**8)
    with open(SHARED / "bbc_500.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def sample(rows: list[dict], per_label: int, split: str | None = None) -> list[dict]:
    """Deterministic, class-balanced sample."""
    out: dict[str, list[dict]] = {}
    for r in rows:
        if split and r["split"] != split:
            continue
        bucket = out.setdefault(r["label"], [])
        if len(bucket) < per_label:
            bucket.append(r)
    return [r for label in sorted(out) for r in out[label]]


LABELS = ["business", "entertainment", "politics", "sport", "tech"]


@pytest.fixture(scope="module")
def rules():
    assert SHARED.is_dir(), f"shared classify data missing at {SHARED}"
    return load_rules()


@pytest.fixture(scope="module")
def bbc_sample():
    # 16 per class from the held-out splits' rows first would be too few; take train for size.
    return sample(load_bbc(), per_label=16)


@pytest.fixture(scope="module")
def batch_results(rules, bbc_sample):
    return classify_texts([r["text"] for r in bbc_sample], rules)


def test_batch_accuracy_on_bbc_sample(bbc_sample, batch_results):
    # Chance is 0.2 and a model with shuffled weights or broken pooling lands near it;
    # the engine measures ~0.95 on the full set (bench/RESULTS.md).
    correct = [res.type == r["label"] for r, res in zip(bbc_sample, batch_results, strict=True)]
    assert np.mean(correct) >= 0.85
    assert {res.type for res in batch_results} == set(LABELS)


def test_single_document_accuracy_without_batch_help(rules, bbc_sample):
    results = classify_fast([r["text"] for r in bbc_sample], parse_rules(rules), refine=False)
    correct = [res.type == r["label"] for r, res in zip(bbc_sample, results, strict=True)]
    assert np.mean(correct) >= 0.82
    assert not any("refined" in res.reasoning for res in results)


def test_confidence_separates_right_from_wrong(bbc_sample, batch_results):
    conf = np.array([res.confidence for res in batch_results])
    right = np.array([res.type == r["label"] for r, res in zip(bbc_sample, batch_results,
                                                                 strict=True)])
    assert ((conf >= 0) & (conf <= 1)).all()
    assert conf[right].mean() > 0.8
    if (~right).any():
        assert conf[~right].mean() < conf[right].mean()


def test_reasoning_names_rules_margin_and_quotes_the_document(bbc_sample, batch_results):
    for r, res in zip(bbc_sample, batch_results, strict=True):
        assert res.mode_used == "FAST"
        assert f"Closest rule: '{res.type}'" in res.reasoning
        assert "margin of" in res.reasoning
        # A quoted passage is a real stretch of this document (whitespace normalised).
        quoted = res.reasoning.split("Passages most like")[1].split('"')[1].rstrip("…")
        assert quoted and quoted[:60] in " ".join(r["text"].split())
    assert any("confidently classified documents of this batch" in res.reasoning
               for res in batch_results)


def test_document_matching_no_rule_gets_none(rules):
    results = classify_texts(OFF_TOPIC, rules)
    for res in results:
        d = res.to_dict()
        assert d["type"] is None
        assert d["reasoning"].startswith("No rule fits: the closest rule, '")
        assert "below the 0.07 needed" in d["reasoning"]
        assert 0.5 < d["confidence"] <= 1.0


def test_on_topic_text_matches_with_high_confidence(rules):
    res = classify_text(SPORT, rules)
    assert res.type == "sport"
    assert res.confidence > 0.9


SPORT = ("The striker scored twice in the second half as the home side won the cup final, and "
         "the manager praised his players after the match.")
PHONE = ("The new phone has a faster chip, a better camera and ships with the latest version of "
         "its mobile operating system and apps.")


def test_none_documents_do_not_break_a_batch(rules):
    results = classify_texts([SPORT, OFF_TOPIC[0], "", PHONE], rules)
    assert [r.type for r in results] == ["sport", None, None, "tech"]
    assert results[2].confidence == 0.0
    assert "no text" in results[2].reasoning


def test_a_decisive_opening_stops_the_reading(rules):
    # 30+ windows long; the opening window alone is a confident sport match.
    long_text = SPORT + " " + " ".join(
        f"In round {i} the visiting team defended well and the goalkeeper saved a penalty."
        for i in range(300))
    fast = classify_fast([long_text], parse_rules(rules))[0]
    assert fast.type == "sport"
    assert f"the other {MAX_CHUNKS - 1} passages were not scored" in fast.reasoning
    full = classify_fast([long_text], parse_rules(rules), early_exit=False)[0]
    assert full.type == "sport" and "not scored" not in full.reasoning


def test_single_rule_uses_fit_not_ranking():
    rules = [{"type": "recipe", "description": "Cooking instructions: ingredients, oven "
              "temperatures and steps to prepare a dish."}]
    hit, miss = classify_texts([OFF_TOPIC[0], OFF_TOPIC[2]], rules)
    assert hit.type == "recipe" and "Only one rule" in hit.reasoning and hit.confidence > 0.5
    assert miss.type is None


def test_hand_written_rules_beyond_news():
    rules = [
        {"type": "invoice", "description": "A bill from a supplier listing items, amounts "
         "due, a due date and payment details."},
        {"type": "lease", "description": "A rental contract between landlord and tenant "
         "with rent, term and obligations."},
        {"type": "manual", "description": "Instructions for operating or repairing a device."},
    ]
    invoice = ("INVOICE No. 2291. Bill to: Harbour Cafe. 12 boxes of paper cups at 4.50 each, "
               "total due 54.00 EUR by 30 June. Pay by bank transfer to the account below.")
    got = [r.type for r in classify_texts([invoice, OFF_TOPIC[1], OFF_TOPIC[2]], rules)]
    assert got == ["invoice", "lease", "manual"]


def test_long_documents_are_chunked_across_their_length():
    enc = get_encoder()
    text = " ".join(f"Paragraph {i} says the committee met and voted on item {i}."
                    for i in range(600))
    emb = embed_documents(enc, [text, "short one"])
    owned = emb.owner == 0
    assert owned.sum() == MAX_CHUNKS
    spans = [emb.spans[i] for i in np.where(owned)[0]]
    assert spans[0][0] == 0 and spans[-1][1] == len(text)  # first and last stretch are seen
    assert (emb.owner == 1).sum() == 1
    assert np.allclose(np.linalg.norm(emb.doc, axis=1), 1.0, atol=1e-5)


def test_to_dict_matches_the_documented_shape(rules):
    d = classify_text(OFF_TOPIC[0], rules).to_dict()
    assert set(d) == {"type", "confidence", "reasoning", "mode_used", "notes"}
    assert isinstance(d["confidence"], float) and isinstance(d["notes"], list)


DOC_RULES = [
    {"type": "invoice", "description": "A bill asking a customer to pay: the seller and the "
     "buyer, an invoice number, goods or services with their prices, tax, the total due."},
    {"type": "report", "description": "A report presenting findings on a subject: analysis, "
     "statistics or records, with tables of figures and conclusions."},
    {"type": "slide deck", "description": "A presentation made of slides: short titles and "
     "bullet points introducing a topic to an audience, with charts and pictures."},
]
# Written for these tests: the words of a short talk, which alone read like anything.
TALK = "Team offsite 2024\nWhere we are\nWhat we learned this year\nGoals for next year"


def test_file_form_is_evidence_where_a_rule_describes_it():
    from batchsvc.engines.classify import form_of

    plain = classify_text(TALK, DOC_RULES)
    as_pptx = classify_text(TALK, DOC_RULES, form=form_of("pptx", 4))
    assert plain.type != "slide deck"  # the words alone do not say it
    assert as_pptx.type == "slide deck" and as_pptx.confidence > 0.9
    assert ("The file's kind (\"A PowerPoint presentation of 4 slides.\") matches a rule"
            in as_pptx.reasoning)
    # A PDF or a Word file says nothing about its type: no form, same answer.
    assert form_of("pdf", 4) is None and form_of("docx", 1) is None
    assert classify_text(TALK, DOC_RULES, form=form_of("pdf", 4)).to_dict() == plain.to_dict()


def test_file_form_is_ignored_where_no_rule_describes_it(rules):
    from batchsvc.engines.classify import form_of

    # "A PowerPoint presentation" leans towards 'entertainment' among news topics; no news
    # rule describes a kind of file, so the form must not move anything.
    for text in (SPORT, PHONE, OFF_TOPIC[0]):
        plain = classify_text(text, rules).to_dict()
        for kind in ("pptx", "xlsx", "csv"):
            assert classify_text(text, rules, form=form_of(kind, 5)).to_dict() == plain


def test_forms_must_match_texts(rules):
    with pytest.raises(ValueError, match="forms: one entry per text"):
        classify_texts([SPORT, PHONE], rules, forms=["A CSV file: a table of data."])
