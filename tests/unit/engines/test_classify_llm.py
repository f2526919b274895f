"""MULTIMODAL mode against a real HTTP test double of an OpenAI-compatible provider."""

import base64
import io
import json

import pytest

from batchsvc.engines.classify import classify_text, classify_texts
from batchsvc.engines.llm import LLMConfig
from tests.llm_provider import FakeProvider, has_image

RULES = [
    {"type": "invoice", "description": "A bill from a supplier listing items and amounts due."},
    {"type": "receipt", "description": "Proof of a payment already made at a shop."},
]
INVOICE = ("INVOICE No. 77. Bill to: Harbour Cafe. 12 boxes of cups at 4.50 each, "
           "total due 54.00 EUR by 30 June. Pay by bank transfer.")


@pytest.fixture()
def provider():
    with FakeProvider() as fake:
        yield fake


@pytest.fixture()
def llm(provider):
    return LLMConfig(base_url=provider.url, api_key="sk-test", model="tiny-judge", timeout=5)


def answer(provider, **kw):
    provider.content = json.dumps(kw)


def test_provider_answer_becomes_the_result(llm, provider):
    answer(provider, type="invoice", confidence=0.87, reasoning="It lists items and a total due.")
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=llm)
    assert res.to_dict() == {
        "type": "invoice", "confidence": 0.87, "reasoning": "It lists items and a total due.",
        "mode_used": "MULTIMODAL", "notes": ["classified by model 'tiny-judge'"],
    }
    req = provider.seen[0]
    assert req["path"] == "/v1/chat/completions"
    assert req["auth"] == "Bearer sk-test"
    assert req["body"]["model"] == "tiny-judge"
    prompt = req["body"]["messages"][-1]["content"]
    assert "- invoice: A bill from a supplier" in prompt and "- receipt:" in prompt
    assert "INVOICE No. 77" in prompt


def test_answer_in_prose_and_fences_with_other_case_is_accepted(llm, provider):
    provider.content = ('Sure!\n```json\n{"type": "Receipt", "confidence": "0.6", '
                         '"reasoning": "Says PAID."}\n```')
    res = classify_text("PAID 12.00 thank you", RULES, mode="multimodal", llm=llm)
    assert (res.type, res.confidence, res.mode_used) == ("receipt", 0.6, "MULTIMODAL")


def test_null_type_means_no_rule_fits(llm, provider):
    answer(provider, type=None, confidence=0.9, reasoning="A poem, not a financial document.")
    res = classify_text("Roses are red.", RULES, mode="MULTIMODAL", llm=llm)
    assert res.type is None and res.mode_used == "MULTIMODAL"


def test_type_outside_the_rules_is_rejected_and_fast_used(llm, provider):
    answer(provider, type="contract", confidence=0.99, reasoning="Looks legal.")
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=llm)
    assert res.mode_used == "FAST"
    assert res.type in ("invoice", "receipt")
    assert res.notes == ["MULTIMODAL failed (provider answer rejected: answered type "
                         "'contract' is not one of the rules); FAST used"]


def test_unparseable_answer_falls_back(llm, provider):
    provider.content = "I think it is an invoice."
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=llm)
    assert res.mode_used == "FAST" and "answer contains no JSON object" in res.notes[0]


def test_provider_error_falls_back_per_document(llm, provider):
    provider.status = 503
    results = classify_texts([INVOICE, "PAID 12.00 thank you"], RULES, mode="MULTIMODAL",
                             llm=llm)
    assert len(provider.seen) == 2
    for res in results:
        assert res.mode_used == "FAST"
        assert res.notes[0].startswith("MULTIMODAL failed (provider error: LLM provider "
                                       "returned HTTP 503")
        assert "sk-test" not in res.notes[0]


def test_no_provider_configured_runs_fast_and_says_so():
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=None)
    assert res.mode_used == "FAST"
    assert res.type == "invoice"
    assert res.notes == ["MULTIMODAL requested but no model provider configured; FAST used"]


def test_fast_mode_never_calls_the_provider(llm, provider):
    res = classify_text(INVOICE, RULES, mode="FAST", llm=llm)
    assert res.mode_used == "FAST" and provider.seen == []


def png(width: int, height: int, shade: int) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("L", (width, height), shade).save(buf, format="PNG")
    return buf.getvalue()


def image_parts(body: dict) -> list[str]:
    content = body["messages"][-1]["content"]
    return [p["image_url"]["url"] for p in content if p.get("type") == "image_url"]


def test_page_images_travel_as_png_data_urls_beside_the_text(llm, provider):
    answer(provider, type="invoice", confidence=0.9,
           reasoning="The scan shows a bill with a total due.")
    pages = [png(40, 60, 10), png(40, 60, 200)]
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=llm, images=pages)
    assert (res.type, res.mode_used) == ("invoice", "MULTIMODAL")
    assert "2 page image(s) sent to the model with the text" in res.notes
    (req,) = provider.seen
    content = req["body"]["messages"][-1]["content"]
    assert content[0]["type"] == "text" and "INVOICE No. 77" in content[0]["text"]
    assert "page image(s) of the document are attached" in content[0]["text"]
    urls = image_parts(req["body"])
    assert [u.split(",")[0] for u in urls] == ["data:image/png;base64"] * 2
    assert [base64.b64decode(u.split(",", 1)[1]) for u in urls] == pages  # in page order


def test_at_most_three_page_images_and_only_png(llm, provider):
    answer(provider, type="receipt", confidence=0.7, reasoning="Says PAID.")
    pages = [png(8, 8, k) for k in range(5)]
    res = classify_text("PAID", RULES, mode="MULTIMODAL", llm=llm,
                        images=[b"GIF89a not a png", *pages])
    urls = image_parts(provider.seen[0]["body"])
    assert [base64.b64decode(u.split(",", 1)[1]) for u in urls] == pages[:3]
    assert "1 page image(s) were not PNG data and were not sent" in res.notes
    assert "only the first 3 of 5 page images were sent" in res.notes


def test_provider_refusing_images_is_asked_again_with_the_text_only(llm, provider):
    provider.refuse_images = True
    answer(provider, type="invoice", confidence=0.8, reasoning="It lists a total due.")
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=llm, images=[png(20, 20, 0)])
    assert (res.type, res.mode_used, res.confidence) == ("invoice", "MULTIMODAL", 0.8)
    first, second = provider.seen
    assert has_image(first["body"]) and not has_image(second["body"])
    assert isinstance(second["body"]["messages"][-1]["content"], str)
    assert "INVOICE No. 77" in second["body"]["messages"][-1]["content"]
    refusal = [n for n in res.notes if n.startswith("the provider refused the page images")]
    assert len(refusal) == 1 and "HTTP 400" in refusal[0] and "text only" in refusal[0]
    assert not any("sent to the model" in n for n in res.notes)


def test_failed_image_request_is_retried_text_only_and_worded_as_a_failure(llm, provider):
    provider.status = 503
    res = classify_text(INVOICE, RULES, mode="MULTIMODAL", llm=llm, images=[png(20, 20, 0)])
    # Both calls fail: FAST answers and the note says why.
    assert len(provider.seen) == 2 and res.mode_used == "FAST"
    assert res.notes[0].startswith("MULTIMODAL failed (provider error: LLM provider returned "
                                   "HTTP 503")


def test_scan_without_text_and_refused_images_falls_back_to_fast_with_no_type(llm, provider):
    provider.refuse_images = True
    answer(provider, type="invoice", confidence=0.8, reasoning="unused")
    res = classify_text("", RULES, mode="MULTIMODAL", llm=llm, images=[png(20, 20, 0)])
    assert len(provider.seen) == 1  # no text to retry with
    assert (res.type, res.mode_used) == (None, "FAST")
    assert "HTTP 400" in res.notes[0] and "no text" in res.reasoning


def test_images_length_must_match_texts(llm):
    with pytest.raises(ValueError, match="one entry per text"):
        classify_texts([INVOICE, INVOICE], RULES, mode="MULTIMODAL", llm=llm,
                       images=[[png(4, 4, 0)]])


def test_fast_mode_ignores_images(llm, provider):
    res = classify_text(INVOICE, RULES, mode="FAST", llm=llm, images=[png(4, 4, 0)])
    assert res.mode_used == "FAST" and res.type == "invoice" and provider.seen == []


def test_the_model_is_told_what_kind_of_file_it_is(llm, provider):
    answer(provider, type="receipt", confidence=0.6, reasoning="Says PAID.")
    classify_text("PAID 12.00", RULES, mode="MULTIMODAL", llm=llm,
                  form="An Excel spreadsheet of 2 sheets.")
    prompt = provider.seen[0]["body"]["messages"][-1]["content"]
    assert "The file: An Excel spreadsheet of 2 sheets.\n" in prompt
