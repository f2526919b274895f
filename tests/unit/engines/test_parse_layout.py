"""Layout rules on generated PDFs: columns before tables, ruled and borderless tables, boxes,
images; and, with margin, reading order and table shape on the shared corpus."""

import difflib
import io
import json
import re
import zlib

import pytest
from conftest import read
from pdfgen import Image, PageSpec, Text, build_pdf, grid, wrap

from batchsvc.engines.parse import parse_document
from batchsvc.engines.parse.pdf_layout import ocr_blocks

PROSE = [
    "Municipal water rates will rise next spring after the council approved a budget that "
    "pays for the long delayed renovation of the treatment plant on the eastern shore.",
    "Residents who object may write to the clerk before the end of the month; letters will "
    "be read aloud at the public hearing, which starts at seven in the evening.",
    "The library extends its opening hours on weekends and adds a reading room for "
    "students, funded by a grant from the regional education office this year.",
]


def three_columns() -> bytes:
    """Three columns of prose whose lines share baselines, written row by row across the
    page (the order that fools a reader following the content stream)."""
    cols = [wrap(p, 30) for p in PROSE]
    texts = [Text(50 + 180 * c, 700 - 12 * k, line, 9)
             for k in range(max(map(len, cols))) for c, col in enumerate(cols)
             if k < len(col) for line in [col[k]]]
    return build_pdf([PageSpec(texts=texts)])


def items(data: bytes, **params):
    return parse_document(data, "x.pdf", params).pages[0].items


def test_three_columns_of_prose_read_column_by_column_without_tables():
    its = items(three_columns())
    assert not [i for i in its if i["type"] == "table"]
    texts = [i["value"] for i in its if i["type"] == "text"]
    assert texts == PROSE  # one paragraph per column, in column order, lines joined


def test_ruled_table_is_one_table_with_multiline_cells():
    rows = [["Part", "Qty", "Note"], ["bolt", "12", "zinc\nplated"], ["nut", "40", "steel"],
            ["washer", "7", "spare\nset"]]
    texts, lines = grid(72, 600, [120, 60, 150], 36, rows)
    intro = Text(72, 660, "Parts received this week are listed below.", 11)
    tables = [i for i in items(build_pdf([PageSpec(texts=[intro, *texts], lines=lines)]))
              if i["type"] == "table"]
    assert len(tables) == 1
    assert tables[0]["rows"] == [[c.replace("\n", " ") for c in r] for r in rows]


def test_ruled_table_spans_in_html():
    # "Item" spans two rows (no rule under it), "Size" two columns (no rule inside it).
    xs, ys = (72, 172, 252, 332), (600, 576, 552, 528)
    lines = [(72, 600, 332, 600), (172, 576, 332, 576), (72, 552, 332, 552),
             (72, 528, 332, 528), (72, 600, 72, 528), (172, 600, 172, 528),
             (252, 576, 252, 528), (332, 600, 332, 528)]
    cells = {(0, 0): "Item", (0, 1): "Size", (1, 1): "w", (1, 2): "h", (2, 0): "box",
             (2, 1): "10", (2, 2): "20"}
    texts = [Text(xs[c] + 4, ys[r] - 16, v, 10) for (r, c), v in cells.items()]
    md = parse_document(build_pdf([PageSpec(texts=texts, lines=lines)]), "x.pdf",
                        {"output_tables_as_HTML": True}).pages[0].md
    assert '<th colspan="2">Size</th>' in md and '<th rowspan="2">Item</th>' in md
    assert "<td>box</td><td>10</td><td>20</td>" in md


def test_borderless_numeric_table():
    rows = [("Region", "2021", "2022", "2023"), ("North", "1,204", "1,310", "1,402"),
            ("South", "987", "1,021", "1,113"), ("East", "2,450", "2,388", "2,519"),
            ("West", "640", "702", "755")]
    texts = [Text(72 + 110 * c, 640 - 16 * r, v, 10) for r, row in enumerate(rows)
             for c, v in enumerate(row)]
    texts.insert(0, Text(72, 690, "Sales by region, thousands of units.", 11))
    tables = [i for i in items(build_pdf([PageSpec(texts=texts)])) if i["type"] == "table"]
    assert len(tables) == 1 and tables[0]["rows"] == [list(r) for r in rows]


def test_form_lines_stay_text():
    # Labels and values side by side, two rows: a form, not a table, read row by row.
    texts = [Text(72, 700, "Name:", 10), Text(200, 700, "Ada Lovelace", 10),
             Text(72, 684, "Born:", 10), Text(200, 684, "1815", 10)]
    its = items(build_pdf([PageSpec(texts=texts)]))
    assert not [i for i in its if i["type"] == "table"]
    assert " ".join(i["value"] for i in its) == "Name: Ada Lovelace Born: 1815"


def _sane(page) -> None:
    assert page.width > 0 and page.height > 0
    for it in page.items:
        if it["type"] == "link":
            continue
        (bb,) = it["bbox"]
        assert bb["w"] > 0 and bb["h"] > 0, it
        assert bb["x"] >= -1 and bb["x"] + bb["w"] <= page.width + 1, it
        assert bb["y"] >= -1 and bb["y"] + bb["h"] <= page.height + 1, it


def test_every_item_has_a_sane_bbox(corpus):
    texts, lines = grid(72, 400, [100, 100], 20, [["a", "1"], ["b", "2"], ["c", "3"]])
    for data in (three_columns(), build_pdf([PageSpec(texts=texts, lines=lines)]),
                 read(corpus, "2305.03393v1-pg9.pdf"), read(corpus, "amt_handbook_sample.pdf")):
        r = parse_document(data, "x.pdf", {})
        for page in r.pages:
            _sane(page)
    kinds = {i["type"] for i in r.pages[0].items}
    assert "image" in kinds  # the handbook's figures


def _rgb(w: int, h: int) -> bytes:
    return bytes(v for y in range(h) for x in range(w) for v in (x * 6 % 256, y * 12 % 256, 90))


def images_pdf() -> bytes:
    good = Image(72, 500, 200, 100, 40, 20, _rgb(40, 20))
    corrupt = Image(72, 300, 200, 100, 40, 20, b"not a jpeg at all", "DCTDecode")
    huge = Image(300, 300, 200, 100, 30000, 30000, zlib.compress(b"\0" * 1000),
                 "FlateDecode")
    return build_pdf([PageSpec(texts=[Text(72, 700, "Figures follow.", 11)],
                               images=[good, corrupt, huge])])


def test_images_produced_when_asked_and_a_bad_image_fails_alone():
    from PIL import Image as PILImage

    params = {"images_to_save": ["screenshot", "embedded"]}
    r = parse_document(images_pdf(), "x.pdf", params, keep_images=True)
    assert r.pages[0].success and "Figures follow." in r.pages[0].md
    names = {im.name: im for im in r.images}
    shot = names["page_1.jpg"]
    assert shot.category == "screenshot" and shot.mime == "image/jpeg"
    assert PILImage.open(io.BytesIO(shot.data)).size == (shot.width, shot.height)
    embedded = [im for im in r.images if im.category == "embedded"]
    assert len(embedded) == 1 and embedded[0].name == "img_p0_1.png"
    assert PILImage.open(io.BytesIO(embedded[0].data)).size == (40, 20)
    assert embedded[0].bbox == pytest.approx({"x": 72, "y": 192, "w": 200, "h": 100}, abs=1)
    warnings = " ".join(r.job_metadata["warnings"])
    assert "img_p0_2.png" in warnings and "img_p0_3.png" in warnings
    assert [m["name"] for m in r.pages[0].images] == ["page_1.jpg", "img_p0_1.png"]
    assert [m["index"] for m in r.pages[0].images] == [0, 1]
    assert not r.job_metadata["options_not_applied"]
    assert len([i for i in r.pages[0].items if i["type"] == "image"]) == 3
    blob = json.dumps(r.to_dict())  # bytes never reach the JSON result
    assert "images" not in json.loads(blob) and len(blob) < 20_000


def test_images_reach_the_sdk_types():
    from llama_cloud.types.parsing_get_response import ParsingGetResponse

    from batchsvc.engines.parse import render_v2

    r = parse_document(images_pdf(), "x.pdf", {"images_to_save": ["screenshot", "embedded"]},
                       keep_images=True)
    job = {"id": "pjb-1", "project_id": "prj-1", "status": "COMPLETED"}
    body = json.loads(json.dumps(render_v2(
        json.loads(json.dumps(r.to_dict())), job, ["items", "images_content_metadata"],
        image_url=lambda name: f"https://store.example/{name}",
        image_filenames=["img_p0_1.png"])))
    model = ParsingGetResponse.model_validate(body)
    (meta,) = model.images_content_metadata.images
    assert meta.filename == "img_p0_1.png" and meta.category == "embedded"
    assert meta.presigned_url == "https://store.example/img_p0_1.png" and meta.bbox.w == 200
    kinds = [type(i).__name__ for i in model.items.pages[0].items]
    assert "ImageItem" in kinds and "TextItem" in kinds


def test_images_not_kept_are_reported_not_applied():
    r = parse_document(images_pdf(), "x.pdf", {"take_screenshot": True})
    assert r.images == [] and r.pages[0].images == []
    assert [o["option"] for o in r.job_metadata["options_not_applied"]] == ["take_screenshot"]


def test_tables_merged_across_pages():
    head = ["Name", "Qty"]
    pages = []
    for k in range(2):
        texts, lines = grid(72, 300, [120, 60], 20, [head, [f"item{k}a", "1"],
                                                       [f"item{k}b", "2"]])
        pages.append(PageSpec(texts=texts, lines=lines))
    data = build_pdf(pages)
    r = parse_document(data, "x.pdf", {"merge_tables_across_pages_in_markdown": True})
    first = [i for i in r.pages[0].items if i["type"] == "table"][0]
    assert first["rows"] == [head, ["item0a", "1"], ["item0b", "2"], ["item1a", "1"],
                             ["item1b", "2"]] and first["merged_from_pages"] == [1, 2]
    later = [i for i in r.pages[1].items if i["type"] == "table"][0]
    assert later["rows"] == [] and later["merged_into_page"] == 1 and "item1a" not in (
        r.pages[1].md)
    plain = parse_document(data, "x.pdf", {})
    assert "item1a" in plain.pages[1].md


def test_ocr_words_get_the_same_layout_pass():
    # Two columns of prose as OCR words (pixels, top-left origin) on aligned lines.
    words = []
    for c, para in enumerate(PROSE[:2]):
        for k, line in enumerate(wrap(para, 30)):
            x = 100 + 700 * c
            for w in line.split():
                words.append({"text": w, "x": x, "y": 200 + 40 * k, "w": 16 * len(w),
                              "h": 28, "line_h": 30})
                x += 16 * len(w) + 14
    blocks = ocr_blocks(words, 0.5, 0.5, 700, 1000)
    assert [b["value"] for b in blocks] == PROSE[:2]


# ---------------------------------------------------------------- shared corpus, with margin


def _words(s: str) -> list[str]:
    s = re.sub(r"<[^>]+>", " ", s)
    return re.findall(r"\w+", re.sub(r"[|#*_`>\-=]+", " ", s.lower()))


def _order(pred: str, ref: str) -> float:
    return difflib.SequenceMatcher(None, _words(pred)[:4000], _words(ref)[:4000],
                                   autojunk=False).ratio()


def _table_share(md: str) -> float:
    lines = md.splitlines()
    inside = sum(len(_words(ln)) for ln in lines if ln.strip().startswith("|"))
    return inside / max(1, len(_words(md)))


GROUND_TRUTH_PDFS = ["2305.03393v1-pg9.pdf", "amt_handbook_sample.pdf", "normal_4pages.pdf",
                     "multi_page.pdf", "right_to_left_01.pdf", "code_and_formula.pdf"]


@pytest.mark.parametrize("name", GROUND_TRUTH_PDFS)
def test_corpus_order_at_least_plain_text_and_tables_near_truth(corpus, name):
    import pypdfium2 as pdfium

    data = read(corpus, name)
    truth = (corpus / "groundtruth" / f"{name}.md").read_text()
    md = "\n\n".join(p.md for p in parse_document(data, name, {}).pages)
    doc = pdfium.PdfDocument(data)
    plain = "\n".join(doc[i].get_textpage().get_text_range().replace("\ufffe", "")
                      for i in range(len(doc)))
    assert _order(md, truth) >= _order(plain, truth) - 0.02
    assert abs(_table_share(md) - _table_share(truth)) <= 0.10
    if _table_share(truth) == 0:
        assert _table_share(md) <= 0.05  # prose is never chopped into cells


def test_corpus_paper_table_shape(corpus):
    r = parse_document(read(corpus, "2305.03393v1-pg9.pdf"), "x.pdf", {})
    tables = [i for i in r.pages[0].items if i["type"] == "table"]
    assert len(tables) == 1
    rows = tables[0]["rows"]
    assert len(rows) >= 5 and len(rows[0]) >= 6
    assert any("0.965" in c for row in rows for c in row)
