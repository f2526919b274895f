import io
import json
import zipfile

import pytest
from conftest import read

from batchsvc.engines.parse import ParseError, ParseResult, parse_document


def words(s: str) -> set[str]:
    return {w.strip(".,;:()[]|#*").lower() for w in s.split()}


def test_pdf_text_layer_pages_and_roundtrip(corpus):
    r = parse_document(read(corpus, "pdflatex-4-pages.pdf"), "x.bin", {})
    assert [p.page_number for p in r.pages] == [1, 2, 3, 4]
    assert "Huardest gefburn" in r.pages[1].md
    assert "\ufffe" not in r.pages[0].text and "\r" not in r.pages[0].text
    assert r.job_metadata["detected_type"] == "pdf" and r.job_metadata["page_count"] == 4
    d = json.loads(json.dumps(r.to_dict()))
    assert ParseResult.from_dict(d).to_dict() == r.to_dict()


def test_pdf_headings_tables_and_items(corpus):
    r = parse_document(read(corpus, "2305.03393v1-pg9.pdf"), "p.pdf", {})
    md = r.pages[0].md
    assert "## 5.1 Hyper Parameter Optimization" in md
    assert "| OTSL" in md and "0.965" in md
    kinds = {i["type"] for i in r.pages[0].items}
    assert {"heading", "text", "table"} <= kinds
    table = next(i for i in r.pages[0].items if i["type"] == "table")
    assert any("0.965" in c for row in table["rows"] for c in row)
    assert table["bbox"][0]["w"] > 100


def test_pdf_two_columns_read_column_by_column(corpus):
    # normal_4pages is a two-column paper: a paragraph must not interleave with the other
    # column, so a sentence from the left column stays contiguous.
    r = parse_document(read(corpus, "normal_4pages.pdf"), "p.pdf", {})
    assert "|" not in r.pages[0].md.split("\n")[0]
    assert len(r.pages) == 4 and all(p.md for p in r.pages)


def test_pdf_text_runs_from_words_equal_runs_from_every_char(corpus):
    # The reader finds text runs (one per PDF text object) from two object lookups per
    # word; looking at every char is the reference. Runs may start on a word instead of the
    # space before it, nothing else. Pages here include RTL text, surrogate pairs and
    # space-only text objects (the fallback that also looks at spaces).
    import ctypes

    import pypdfium2 as pdfium

    from batchsvc.engines.parse import pdf as P

    f = P._fast()
    fallbacks = 0
    for name in ("normal_4pages.pdf", "right_to_left_01.pdf", "amt_handbook_sample.pdf",
                 "2305.03393v1-pg9.pdf", "markitdown_SPARSE-2024-INV-1234_borderless_table.pdf"):
        doc = pdfium.PdfDocument(read(corpus, name))
        for i in range(len(doc)):
            tp = doc[i].get_textpage()
            tpr = ctypes.cast(tp.raw, ctypes.c_void_p).value
            n = tp.count_chars()
            full, _ = P._page_chars(f, tpr, tp, n)
            assert len(full) == n
            exact_starts, exact_objs = P._runs_by_char(f, tpr, n)
            starts, objs = P._runs_by_word(f, tpr, full)
            if len(starts) != f.count_rects(tpr, 0, -1):
                fallbacks += 1
                starts, objs = P._runs_by_word(f, tpr, full, spaces=True)
            assert objs == exact_objs and len(starts) == f.count_rects(tpr, 0, -1)
            assert all(a == b or full[a:b].isspace() for a, b in zip(exact_starts, starts,
                                                                      strict=True))
            # rectangle k is run k's box: the same as asking for the run's own rectangles
            ends = [*exact_starts[1:], n]
            for k in range(0, len(exact_starts), 7):
                f.count_rects(tpr, 0, -1)
                assert tp.get_rect(k) == pytest.approx(P._run_box(
                    f, tpr, exact_starts[k], ends[k] - exact_starts[k]), abs=0.01)
    assert fallbacks >= 1


def test_encrypted_pdf_says_password_required(corpus):
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter(clone_from=PdfReader(io.BytesIO(read(corpus, "minimal-document.pdf"))))
    w.encrypt(user_password="s3cret", owner_password="owner")
    buf = io.BytesIO()
    w.write(buf)
    with pytest.raises(ParseError, match="password required"):
        parse_document(buf.getvalue(), "enc.pdf", {})


def test_corrupt_truncated_empty_and_unsupported(corpus):
    with pytest.raises(ParseError, match="corrupt"):
        parse_document(read(corpus, "unreadablemetadata.pdf"), "u.pdf", {})
    data = read(corpus, "pdflatex-4-pages.pdf")
    with pytest.raises(ParseError, match="corrupt|truncated"):
        parse_document(data[: len(data) // 3], "t.pdf", {})
    with pytest.raises(ParseError, match="empty"):
        parse_document(b"  \n", "e.txt", {})
    with pytest.raises(ParseError, match="unsupported"):
        parse_document(bytes(range(256)) * 10, "blob.bin", {})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(ParseError, match="unsupported"):
        parse_document(buf.getvalue(), "a.docx", {})


def test_zip_bomb_refused():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("word/document.xml", "<w/>")
        z.writestr("word/big.bin", b"\0" * (600 * 1024 * 1024))
    with pytest.raises(ParseError, match="zip bomb"):
        parse_document(buf.getvalue(), "bomb.docx", {})


def test_decompression_bomb_image_refused():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (12000, 9000)).save(buf, format="PNG")
    with pytest.raises(ParseError, match="too large"):
        parse_document(buf.getvalue(), "big.png", {})


def test_type_from_content_not_name(corpus):
    r = parse_document(read(corpus, "table_06.html"), "report.pdf", {})
    assert r.job_metadata["detected_type"] == "html"


def test_scanned_pdf_rotated_90_is_ocrd(corpus):
    r = parse_document(read(corpus, "ocr_test_rotated_90.pdf"), "s.pdf", {})
    assert r.job_metadata["ocr_used"] is True
    assert r.pages[0].metadata["original_orientation_angle"] in (90, 270)
    assert {"docling", "pdf"} & words(r.pages[0].text)


def test_upside_down_scan_page(corpus):
    # Page 3 of nemotron_multipage is turned; OCR must still read real words.
    r = parse_document(read(corpus, "nemotron_multipage.pdf"), "s.pdf", {"target_pages": "2"})
    assert r.pages[0].page_number == 3
    assert r.pages[0].metadata["original_orientation_angle"] != 0
    assert "docling" in words(r.pages[0].text)


def test_multipage_tiff_and_disable_ocr(corpus):
    data = read(corpus, "2206.01062.tif")
    r = parse_document(data, "x", {"disable_ocr": True})
    assert len(r.pages) == 2 and not r.job_metadata["ocr_used"]
    assert r.pages[0].text == "" and r.job_metadata["warnings"]
    r = parse_document(data, "x", {"target_pages": "1", "disable_ocr": True})
    assert [p.page_number for p in r.pages] == [2]
    # The whole document in one call: every frame is OCR'd and reads as text.
    r = parse_document(data, "x", {})
    assert [p.page_number for p in r.pages] == [1, 2] and r.job_metadata["ocr_pages"] == [1, 2]
    assert all(p.success and len(p.text.split()) > 50 for p in r.pages)
    assert "DocLayNet" in r.pages[0].text


def test_docx_headings_lists_tables_headers(tmp_path):
    import docx

    d = docx.Document()
    d.sections[0].header.paragraphs[0].text = "Running head ACME"
    d.sections[0].footer.paragraphs[0].text = "Footer line 42"
    d.add_heading("Quarterly plan", level=1)
    d.add_paragraph("Intro paragraph.")
    d.add_paragraph("first bullet", style="List Bullet")
    d.add_paragraph("second bullet", style="List Bullet")
    t = d.add_table(rows=2, cols=2)
    t.cell(0, 0).text, t.cell(0, 1).text = "Name", "Qty"
    t.cell(1, 0).text, t.cell(1, 1).text = "bolt", "7"
    buf = io.BytesIO()
    d.save(buf)
    r = parse_document(buf.getvalue(), "x", {})
    p = r.pages[0]
    assert p.md.startswith("# Quarterly plan")
    assert "- first bullet\n- second bullet" in p.md
    assert "| Name | Qty |" in p.md and "| bolt | 7   |" in p.md
    assert p.header == "Running head ACME" and p.footer == "Footer line 42"


def test_docx_corpus(corpus):
    r = parse_document(read(corpus, "word_sample.docx"), "x", {})
    assert r.job_metadata["detected_type"] == "docx" and "#" in r.pages[0].md


def test_pptx_slides_tables_notes(corpus):
    r = parse_document(read(corpus, "markitdown_test.pptx"), "x", {})
    assert len(r.pages) == 6
    assert any(i["type"] == "table" for p in r.pages for i in p.items)


def test_pptx_speaker_notes_and_bullets():
    from pptx import Presentation

    prs = Presentation()
    for k in (1, 2):
        s = prs.slides.add_slide(prs.slide_layouts[1])
        s.shapes.title.text = f"Slide title {k}"
        s.placeholders[1].text_frame.text = f"point {k}"
        s.notes_slide.notes_text_frame.text = f"say hello {k}"
    buf = io.BytesIO()
    prs.save(buf)
    r = parse_document(buf.getvalue(), "x", {})
    assert [p.page_number for p in r.pages] == [1, 2]
    assert r.pages[1].md.startswith("# Slide title 2") and "point 2" in r.pages[1].md
    assert r.pages[0].metadata["speaker_notes"] == "say hello 1"
    assert "say hello" not in r.pages[0].md


def test_xlsx_hidden_sheets(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "Visible"
    wb.active.append(["a", "b"])
    wb.active.append([1, 2.5])
    hidden = wb.create_sheet("Secret")
    hidden.append(["classified", 9])
    hidden.sheet_state = "hidden"
    buf = io.BytesIO()
    wb.save(buf)
    r = parse_document(buf.getvalue(), "x", {})
    assert [p.metadata["sheet_name"] for p in r.pages] == ["Visible"]
    assert "| 1 " in r.pages[0].md and "2.5" in r.pages[0].md
    assert r.job_metadata["hidden_sheets_skipped"] == ["Secret"]
    r = parse_document(buf.getvalue(), "x", {"spreadsheet_include_hidden_sheets": True})
    assert [p.metadata["sheet_name"] for p in r.pages] == ["Visible", "Secret"]
    assert "classified" in r.pages[1].md


def test_csv_json_xml_text():
    r = parse_document(b"name,qty\nbolt,7\nnut,9\n", "data", {})
    assert r.job_metadata["detected_type"] == "csv" and "| nut  | 9   |" in r.pages[0].md
    r = parse_document(b'{"a": [1, 2]}', "x", {})
    assert r.job_metadata["detected_type"] == "json" and '"a": [1, 2]' in r.pages[0].text
    r = parse_document(b"<?xml version='1.0'?><root><v>7</v></root>", "x", {})
    assert r.job_metadata["detected_type"] == "xml" and "<v>7</v>" in r.pages[0].text
    r = parse_document(b"First para.\n\nSecond para.", "x", {})
    assert [i["value"] for i in r.pages[0].items] == ["First para.", "Second para."]


def test_html_main_content_and_navigation(corpus):
    html = (b"<html><head><title>T</title><script>var x=1</script></head><body>"
            b"<nav><a href='/home'>Home</a> <a href='/about'>About us</a></nav>"
            b"<main><h1>Article title</h1><p>Body with <a href='https://ex.org'>a link</a>."
            b"</p><ul><li>one</li><li>two</li></ul></main><footer>Copyright 2024</footer>"
            b"</body></html>")
    r = parse_document(html, "x", {})
    assert "# Article title" in r.pages[0].md and "About us" in r.pages[0].md
    assert "var x" not in r.pages[0].md and "- one\n- two" in r.pages[0].md
    r = parse_document(html, "x", {"html_remove_navigation_elements": True})
    assert "About us" not in r.pages[0].md and "Copyright" not in r.pages[0].md
    assert "Body with a link." in r.pages[0].md
    r = parse_document(read(corpus, "table_06.html"), "x", {})
    assert any(i["type"] == "table" for i in r.pages[0].items)
