import json

import pytest
from conftest import read
from pdfgen import Link, PageSpec, Text, build_pdf, report_pages

from batchsvc.engines.parse import KNOWN_OPTIONS, ParseError, parse_document, render_v2
from batchsvc.engines.parse import engine as engine_mod


def full_md(r, expand=("markdown_full",)):
    return render_v2(r.to_dict(), {"id": "j", "project_id": "p", "status": "COMPLETED"},
                     expand)


def test_target_pages_and_max_pages():
    pdf = report_pages(6)
    r = parse_document(pdf, "r.pdf", {"target_pages": "0, 2-3,5"})
    assert [p.page_number for p in r.pages] == [1, 3, 4, 6]
    assert "widgets number 21" in r.pages[1].md  # page 3 content
    r = parse_document(pdf, "r.pdf", {"max_pages": 2})
    assert [p.page_number for p in r.pages] == [1, 2]
    r = parse_document(pdf, "r.pdf", {"target_pages": "1-5", "max_pages": 2})
    assert [p.page_number for p in r.pages] == [2, 3]
    with pytest.raises(ParseError, match="target_pages"):
        parse_document(pdf, "r.pdf", {"target_pages": "a-b"})


def test_page_separator_prefix_suffix():
    r = parse_document(report_pages(2), "r.pdf", {
        "page_separator": "\n<<{pageNumber}>>\n", "page_prefix": "[start {pageNumber}]",
        "page_suffix": "[end {page_number}]"})
    body = full_md(r, ("markdown_full", "markdown", "text_full"))
    md = body["markdown_full"]
    # the separator carries the number of the page after it, as LlamaParse documents
    assert md.startswith("[start 1]") and "[end 1]\n<<2>>\n[start 2]" in md
    assert md.endswith("[end 2]") and md.count("<<") == 1
    assert body["text_full"].startswith("[start 1]") and "\n<<2>>\n" in body["text_full"]
    # per-page markdown is the page alone: no separator, prefix or suffix
    pages = [p["markdown"] for p in body["markdown"]["pages"]]
    assert all("<<" not in m and "[start" not in m and "[end" not in m for m in pages)
    assert full_md(parse_document(report_pages(2), "r.pdf", {}))["markdown_full"].count(
        "\n\n---\n\n") == 1


def test_headers_footers_detected_hidden_and_wrapped():
    params = {"page_header_prefix": "<H>", "page_header_suffix": "</H>",
              "page_footer_prefix": "<F>", "page_footer_suffix": "</F>"}
    r = parse_document(report_pages(3), "r.pdf", params)
    p = r.pages[1]
    assert p.header == "ACME Quarterly Report - Confidential" and p.footer == "Page 12"
    assert "ACME" not in p.md and "Page 12" not in p.md  # moved out of the body
    body = full_md(r, ("markdown",))["markdown"]["pages"][1]
    assert body["markdown"].startswith("<H>ACME Quarterly Report - Confidential</H>")
    assert body["markdown"].endswith("<F>Page 12</F>") and body["header"] == p.header
    r = parse_document(report_pages(3), "r.pdf", {"hide_headers": True, "hide_footers": True})
    body = full_md(r, ("markdown", "markdown_full"))
    assert "ACME" not in body["markdown_full"] and "Page 1" not in body["markdown_full"]
    assert body["markdown"]["pages"][0]["header"] == "ACME Quarterly Report - Confidential"


def _sectioned_report(n: int = 10) -> bytes:
    """LaTeX-like pages: page number and the current section title share the top line;
    sections change every 3 pages; some pages open with an "Exercises" heading."""
    sections = ["1.1 FIRST STEPS", "1.2 METRIC SPACES", "1.3 CONTINUITY", "1.4 COMPACTNESS"]
    pages = []
    for k in range(1, n + 1):
        texts = [Text(72, 760, str(k), 9), Text(400, 760, sections[(k - 1) // 3], 9)]
        if k % 3 == 2:
            texts.append(Text(72, 726, "Exercises", 12))
        texts += [Text(72, 690, f"Body paragraph number {k} about open sets.", 11),
                  Text(72, 676, "A second line of the same body paragraph.", 11)]
        pages.append(PageSpec(texts=texts))
    return build_pdf(pages)


def test_running_heads_that_change_by_section_are_headers():
    r = parse_document(_sectioned_report(), "r.pdf", {})
    assert [p.header for p in r.pages[:4]] == [
        "1\n1.1 FIRST STEPS", "2\n1.1 FIRST STEPS", "3\n1.1 FIRST STEPS",
        "4\n1.2 METRIC SPACES"]
    assert r.pages[9].header == "10\n1.4 COMPACTNESS"  # a one-page section, beside the number
    # A heading opening several pages at the same place stays in the body.
    assert r.pages[1].md.startswith("Exercises") or "# Exercises" in r.pages[1].md
    assert all("FIRST STEPS" not in p.md and "METRIC" not in p.md for p in r.pages)


def test_hide_headers_and_footers_per_page_and_full():
    job = {"id": "j", "project_id": "p", "status": "COMPLETED"}
    expand = ("text", "markdown", "markdown_full", "text_full", "items")
    shown = render_v2(parse_document(report_pages(3), "r.pdf", {}).to_dict(), job, expand)
    assert shown["markdown"]["pages"][1]["markdown"].startswith("ACME Quarterly Report")
    assert shown["text"]["pages"][1]["text"].endswith("Page 12")
    for params in ({"hide_headers": True}, {"hide_footers": True},
                   {"hide_headers": True, "hide_footers": True}):
        body = render_v2(parse_document(report_pages(3), "r.pdf", params).to_dict(), job, expand)
        heads, feet = params.get("hide_headers", False), params.get("hide_footers", False)
        for k, (md, tx) in enumerate(zip(body["markdown"]["pages"], body["text"]["pages"],
                                         strict=True)):
            # the fields keep what was detected; the page bodies leave out what is hidden
            assert md["header"] == "ACME Quarterly Report - Confidential"
            assert md["footer"] == f"Page {k + 11}"
            assert ("ACME" in md["markdown"]) is not heads and ("ACME" in tx["text"]) is not heads
            assert (f"Page {k + 11}" in md["markdown"]) is not feet
            assert (f"Page {k + 11}" in tx["text"]) is not feet
            assert "widgets number" in md["markdown"]
        assert ("ACME" in body["markdown_full"]) is not heads
        assert ("Page 12" in body["text_full"]) is not feet
        item_types = [i["type"] for i in body["items"]["pages"][0]["items"]]
        assert item_types[0] == "header" and item_types[-1] == "footer"


def test_extract_printed_page_number():
    r = parse_document(report_pages(2), "r.pdf", {})
    assert "printed_page_number" not in r.pages[0].metadata
    r = parse_document(report_pages(2), "r.pdf", {"extract_printed_page_number": True})
    assert [p.metadata["printed_page_number"] for p in r.pages] == ["11", "12"]


def _feature_pdf() -> bytes:
    return build_pdf([PageSpec(texts=[
        Text(72, 700, "Visible words here", 11),
        Text(72, 650, "Secret hidden words", 11, render_mode=3),
        Text(200, 400, "Diagonal stamp text", 20, angle_matrix=(0.7071, 0.7071, -0.7071, 0.7071)),
        Text(72, 600, "tiny print", 2),
        Text(72, 550, "Visit our site today", 11),
    ], links=[Link((72, 545, 200, 565), "https://example.com/x")])])


def test_remove_hidden_text():
    assert "Secret hidden" in parse_document(_feature_pdf(), "a.pdf", {}).pages[0].md
    r = parse_document(_feature_pdf(), "a.pdf", {"remove_hidden_text": True})
    assert "Secret" not in r.pages[0].md and "Visible words here" in r.pages[0].md


def test_skip_diagonal_text():
    r = parse_document(_feature_pdf(), "a.pdf", {"skip_diagonal_text": True})
    assert "stamp" not in r.pages[0].md and "Visible words here" in r.pages[0].md
    assert r.job_metadata["text_segments_dropped"]["diagonal"] >= 1


def test_preserve_very_small_text():
    assert "tiny print" not in parse_document(_feature_pdf(), "a.pdf", {}).pages[0].md
    r = parse_document(_feature_pdf(), "a.pdf", {"preserve_very_small_text": True})
    assert "tiny print" in r.pages[0].md


def test_annotate_links_pdf_and_html():
    assert "](https" not in parse_document(_feature_pdf(), "a.pdf", {}).pages[0].md
    r = parse_document(_feature_pdf(), "a.pdf", {"annotate_links": True})
    assert "[Visit our site today](https://example.com/x)" in r.pages[0].md
    assert any(i["type"] == "link" and i["url"] == "https://example.com/x"
               for i in r.pages[0].items)
    html = b"<html><body><p>See <a href='https://ex.org/doc'>the docs</a> now</p></body></html>"
    assert "[the docs](https://ex.org/doc)" in parse_document(
        html, "x", {"annotate_links": True}).pages[0].md


def test_output_tables_as_html_and_compact(corpus):
    data = read(corpus, "2305.03393v1-pg9.pdf")
    md = parse_document(data, "p.pdf", {"output_tables_as_HTML": True}).pages[0].md
    # The table is ruled: a cell holds both rows of its two-line cell, "TEDs" spans 3 columns.
    assert "<table><thead><tr><th" in md and "<td>0.965 0.969</td>" in md
    assert '<th colspan="3">TEDs</th>' in md
    csv = b"name,qty\nbolt,7\nnut,9\n"
    assert "|name|qty|\n|---|---|\n|bolt|7|" in parse_document(
        csv, "x", {"compact_markdown_table": True}).pages[0].md
    assert "| name | qty |" in parse_document(csv, "x", {}).pages[0].md


def test_disable_ocr_on_scanned_pdf(corpus):
    r = parse_document(read(corpus, "cmyk-image.pdf"), "s.pdf", {"disable_ocr": True})
    assert not r.job_metadata["ocr_used"] and r.pages[0].text == ""
    assert any("OCR is disabled" in w for w in r.job_metadata["warnings"])


def test_languages_not_installed_reported(corpus, monkeypatch):
    monkeypatch.setattr(engine_mod, "_read", lambda *a, **k: (1, [
        {"index": 0, "blocks": [{"type": "text", "value": "x"}]}]))
    r = parse_document(read(corpus, "cmyk-image.pdf"), "s.pdf", {"languages": ["en", "xx"]})
    reasons = {o["option"]: o["reason"] for o in r.job_metadata["options_not_applied"]}
    assert "xx" in reasons["languages"] and "eng" in reasons["languages"]


def _failing_pages(monkeypatch, bad: set[int]):
    real = engine_mod._read

    def fake(*args):
        count, pages = real(*args)
        for p in pages:
            if p["index"] in bad:
                p["error"], p["blocks"] = "simulated renderer crash", []
        return count, pages
    monkeypatch.setattr(engine_mod, "_read", fake)


def test_replace_failed_page_modes_and_tolerance(monkeypatch):
    _failing_pages(monkeypatch, {1})
    pdf = report_pages(3)
    with pytest.raises(ParseError, match="1 of 3 pages failed"):
        parse_document(pdf, "r.pdf", {})  # default tolerance 0.05
    params = {"page_error_tolerance": 0.5, "replace_failed_page_mode": "error_message",
              "replace_failed_page_with_error_message_prefix": "ERR[",
              "replace_failed_page_with_error_message_suffix": "]"}
    r = parse_document(pdf, "r.pdf", params)
    p = r.pages[1]
    assert not p.success and p.md == "ERR[simulated renderer crash]"
    body = full_md(r, ("markdown", "markdown_full"))
    assert body["markdown"]["pages"][1] == {"page_number": 2, "success": False,
                                            "error": "simulated renderer crash"}
    assert "ERR[simulated renderer crash]" in body["markdown_full"]
    r = parse_document(pdf, "r.pdf", {**params, "replace_failed_page_mode": "blank_page"})
    assert r.pages[1].md == ""
    r = parse_document(pdf, "r.pdf", {**params, "replace_failed_page_mode": "raw_text"})
    assert "widgets number 14" in r.pages[1].md


def test_custom_metadata_and_cache_flags():
    r = parse_document(b"hello", "x", {"custom_metadata": {"team": "ops", "n": 3}})
    assert r.job_metadata["custom_metadata"] == {"team": "ops", "n": 3}
    assert r.job_metadata["cache"] == {"read": True, "write": True}
    r = parse_document(b"hello", "x", {"invalidate_cache": True})
    assert r.job_metadata["cache"] == {"read": False, "write": True}
    r = parse_document(b"hello", "x", {"do_not_cache": True})
    assert r.job_metadata["cache"] == {"read": False, "write": False}


def test_unhonoured_options_reported_without_secrets():
    params = {"extract_charts": True, "gpt4o_api_key": "sk-SECRET-1", "premium_mode": True,
              "parse_mode": "parse_page_with_lvm", "azure_openai_key": "AZ-SECRET",
              "bogus_option": 1, "webhook_url": "https://hook", "save_images": False}
    r = parse_document(b"hello", "x", params)
    na = {o["option"]: o["reason"] for o in r.job_metadata["options_not_applied"]}
    assert set(na) == {"extract_charts", "gpt4o_api_key", "premium_mode", "parse_mode",
                       "azure_openai_key", "bogus_option"}
    assert "no LLM provider" in na["premium_mode"] and na["bogus_option"] == "unknown option"
    assert r.job_metadata["options_for_service"] == ["webhook_url"]
    dumped = json.dumps(r.to_dict())
    assert "SECRET" not in dumped
    assert any("local engine" in w for w in r.job_metadata["warnings"])


def test_known_options_cover_sdk():
    from llama_cloud.types.beta import batch_create_params as b

    sdk = set(b.JobConfigBatchParseJobRecordCreateParameters.__annotations__)
    sdk = {"output_tables_as_HTML" if n == "output_tables_as_html" else
           "outputBucket" if n == "output_bucket" else n for n in sdk}
    assert sdk == set(KNOWN_OPTIONS)
