"""Layout benchmark: reading order, tables and speed against docling's ground truth.

For every PDF with ground truth (the shared corpus's, plus ``--extra DIR`` laid out the same
way: ``DIR/NAME`` and ``DIR/groundtruth/NAME.md``), batchsvc, markitdown and plain pdfium
text are run in the same process, one after another:
- order: difflib ratio of the word sequences (1.0 = same words in the same order);
- table share: the fraction of words inside markdown or HTML tables, beside the truth's;
- cell F1: multiset F1 of the non-empty table cells (words normalised), where either side
  has a table;
- pages per CPU-second on the text-layer PDFs (median of ``--repeat`` passes).
Usage: .venv/bin/python bench/layout.py [--extra DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# this checkout's batchsvc, not whichever one the environment has installed
sys.path[:0] = [str(REPO), str(REPO / "bench")]
from parse import _cpu, _words, order_sim  # noqa: E402  (sibling bench script)

CORPUS = REPO / ".." / "shared" / "corpus"
RESULTS = REPO / "bench" / "RESULTS.md"
ENGINES = ("batchsvc", "markitdown", "pdfium")
PROSE = 0.01  # a truth with less than this share of words in tables is prose
_HTML_TABLE = re.compile(r"<table\b.*?</table>", re.S | re.I)
_HTML_CELL = re.compile(r"<t[dh]\b[^>]*>(.*?)</t[dh]>", re.S | re.I)
_SEPARATOR = re.compile(r"^\|?[\s:|-]+\|?$")


def split_tables(md: str) -> tuple[str, list[str]]:
    """(the text outside tables, the cells of every table) of a markdown page."""
    cells: list[str] = []

    def html(m: re.Match[str]) -> str:
        cells.extend(re.sub(r"<[^>]+>", " ", c) for c in _HTML_CELL.findall(m.group(0)))
        return "\n"

    md = _HTML_TABLE.sub(html, md)
    outside = []
    for line in md.splitlines():
        s = line.strip()
        if s.startswith("|") and s.endswith("|") and len(s) > 1:
            if not _SEPARATOR.match(s):
                cells.extend(re.split(r"(?<!\\)\|", s[1:-1]))
        else:
            outside.append(line)
    return "\n".join(outside), cells


def table_share(md: str) -> float:
    outside, cells = split_tables(md)
    inside = sum(len(_words(c)) for c in cells)
    total = inside + len(_words(outside))
    return inside / total if total else 0.0


def cell_f1(pred: str, ref: str) -> float | None:
    p = Counter(" ".join(_words(c)) for c in split_tables(pred)[1])
    r = Counter(" ".join(_words(c)) for c in split_tables(ref)[1])
    p.pop("", None)
    r.pop("", None)
    if not p and not r:
        return None
    common = sum((p & r).values())
    if not common:
        return 0.0
    prec, rec = common / sum(p.values()), common / sum(r.values())
    return 2 * prec * rec / (prec + rec)


def converters() -> dict[str, Callable[[Path], tuple[str, int]]]:
    """engine -> (path -> (markdown, pages)); imports and set-up happen here, untimed."""
    import pypdfium2 as pdfium
    from markitdown import MarkItDown

    from batchsvc.engines.parse import parse_document

    def ours(path: Path) -> tuple[str, int]:
        r = parse_document(path.read_bytes(), path.name, {})
        return "\n\n".join(p.md for p in r.pages), len(r.pages)

    mid = MarkItDown()

    def markitdown(path: Path) -> tuple[str, int]:
        return mid.convert(str(path)).text_content, 0

    def plain(path: Path) -> tuple[str, int]:
        doc = pdfium.PdfDocument(path.read_bytes())
        try:
            out = []
            for page in doc:
                tp = page.get_textpage()
                # U+FFFE marks a soft hyphen, with or without the line break after it.
                out.append(tp.get_text_range().replace("\ufffe\r\n", "").replace(
                    "\ufffe", "").replace("\r\n", "\n"))
                tp.close()
                page.close()
            return "\n\n".join(out), len(out)
        finally:
            doc.close()

    return {"batchsvc": ours, "markitdown": markitdown, "pdfium": plain}


def documents(corpus: Path, extra: Path | None) -> list[tuple[Path, str, bool]]:
    """(path, ground truth, has a text layer) for every PDF with ground truth."""
    manifest = list(csv.DictReader((corpus / "MANIFEST.tsv").open(), delimiter="\t"))
    out = []
    for m in manifest:
        gt = corpus / "groundtruth" / f"{m['file']}.md"
        if m["kind"] in ("pdf", "pdf-scanned") and gt.exists():
            out.append((corpus / m["file"], gt.read_text(), m["kind"] == "pdf"))
    if extra:
        for gt in sorted((extra / "groundtruth").glob("*.pdf.md")):
            pdf = extra / gt.name[:-3]
            if pdf.exists():
                out.append((pdf, gt.read_text(), True))
    return out


def run(docs: list[tuple[Path, str, bool]], repeat: int) -> dict[str, dict[str, Any]]:
    convs = converters()
    for conv in convs.values():  # warm lazy imports and caches alike; not timed
        with contextlib.suppress(Exception):
            conv(docs[0][0])
    out: dict[str, dict[str, Any]] = {e: {} for e in ENGINES}
    for path, _, text_layer in docs:
        for eng, conv in convs.items():
            times, md, pages = [], "", 0
            for _ in range(repeat if text_layer else 1):
                t = _cpu()
                try:
                    md, pages = conv(path)
                except Exception as exc:  # a failure is a data point here
                    md = ""
                    print(f"{eng} failed on {path.name}: {exc}", file=sys.stderr)
                times.append(_cpu() - t)
            out[eng][path.name] = {"md": md, "pages": pages, "cpu_s": statistics.median(times)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--extra", type=Path, help="more PDFs with groundtruth/NAME.md")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    args = ap.parse_args()
    docs = documents(args.corpus.resolve(), args.extra)
    res = run(docs, args.repeat)
    rows, per_file = [], []
    for path, gt, text_layer in docs:
        name = path.name
        ours = res["batchsvc"][name]["md"]
        f = {"file": name, "text_layer": text_layer, "gt_table": round(table_share(gt), 3),
             "pages": res["batchsvc"][name]["pages"] or res["pdfium"][name]["pages"]}
        for eng in ENGINES:
            md = res[eng][name]["md"]
            f[f"order_{eng}"] = round(order_sim(md, gt), 3)
            f[f"table_{eng}"] = round(table_share(md), 3)
            cf = cell_f1(md, gt)
            f[f"cells_{eng}"] = None if cf is None else round(cf, 3)
        f["table_error"] = round(abs(table_share(ours) - f["gt_table"]) * 100, 1)
        per_file.append(f)

        def cell(v: float | None) -> str:
            return "—" if v is None else f"{v:.3f}"

        rows.append(
            f"| {name}{'' if text_layer else ' (scan)'} | {f['pages']} | "
            + " | ".join(f"{f[f'order_{e}']:.3f}" for e in ENGINES)
            + f" | {f['gt_table']:.0%} | "
            + " | ".join(f"{f[f'table_{e}']:.0%}" for e in ENGINES)
            + " | " + " | ".join(cell(f[f"cells_{e}"]) for e in ENGINES) + " |")
    text = [f for f in per_file if f["text_layer"]]
    speed = {}
    for eng in ENGINES:
        cpu = sum(res[eng][f["file"]]["cpu_s"] for f in text)
        speed[eng] = round(sum(f["pages"] for f in text) / cpu, 1) if cpu else 0.0
    prose = [f for f in per_file if f["gt_table"] < PROSE]
    bench = {
        "layout_order": round(statistics.mean(f["order_batchsvc"] for f in text), 3),
        "layout_order_pdfium": round(statistics.mean(f["order_pdfium"] for f in text), 3),
        "layout_order_markitdown": round(statistics.mean(f["order_markitdown"] for f in text),
                                         3),
        "layout_order_min_margin": round(min(f["order_batchsvc"] - f["order_pdfium"]
                                             for f in text), 3),
        "prose_as_table": max((f["table_batchsvc"] for f in prose), default=0.0),
        "table_share_error": max(f["table_error"] for f in per_file),
        "table_share_error_mean": round(statistics.mean(f["table_error"] for f in per_file), 1),
        "table_cell_f1": round(statistics.mean(
            [f["cells_batchsvc"] for f in per_file if f["cells_batchsvc"] is not None] or [0]),
            3),
        "layout_pages_per_cpu_s": speed,
        "layout_speedup_vs_markitdown": round(speed["batchsvc"] / speed["markitdown"], 1)
        if speed["markitdown"] else None,
        "files": len(per_file), "extra": bool(args.extra),
    }
    head = ("| file | pages | order batchsvc | order markitdown | order pdfium | gt table share |"
            " table batchsvc | table markitdown | table pdfium | cell F1 batchsvc | "
            "cell F1 markitdown | cell F1 pdfium |")
    table = "\n".join([head, "|" + "---|" * 12, *rows])
    print(table)
    if not args.no_write:
        write_results(table, bench)
    print("BENCH " + json.dumps(bench))


def write_results(table: str, bench: dict[str, Any]) -> None:
    """Rewrite the 'Latest run' block of the Layout section; other blocks stay as written."""
    block = (
        f"### Latest run (`bench/layout.py{' --extra' if bench['extra'] else ''}`)\n\n"
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.\n\n{table}\n\n"
        f"Mean order on text-layer PDFs: batchsvc {bench['layout_order']}, pdfium "
        f"{bench['layout_order_pdfium']}, markitdown {bench['layout_order_markitdown']}; "
        f"worst margin over pdfium {bench['layout_order_min_margin']}. Largest table share on "
        f"prose files {bench['prose_as_table']:.1%}; table share error max "
        f"{bench['table_share_error']} points (mean {bench['table_share_error_mean']}); cell F1 "
        f"{bench['table_cell_f1']}. Pages per CPU-second "
        + ", ".join(f"{k} {v}" for k, v in bench["layout_pages_per_cpu_s"].items())
        + f" ({bench['layout_speedup_vs_markitdown']}x markitdown).\n")
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    if "## Layout\n" not in text:
        text = text.rstrip("\n") + "\n\n## Layout\n\n" + block
    else:
        start = text.index("## Layout\n")
        end = text.find("\n## ", start + 1)
        sect = text[start:end if end >= 0 else len(text)]
        pat = re.compile(r"### Latest run.*?(?=\n### |\Z)", re.S)
        sect = pat.sub(lambda _: block.rstrip("\n") + "\n", sect) if pat.search(sect) else (
            sect.rstrip("\n") + "\n\n" + block)
        text = text[:start] + sect.rstrip("\n") + "\n" + (text[end:] if end >= 0 else "")
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
