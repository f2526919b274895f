"""Parse benchmark: batchsvc's engine vs markitdown and pypdf on the shared corpus.

Each engine runs in its own subprocess so peak memory (ru_maxrss) is its own.
Usage: .venv/bin/python bench/parse.py [--corpus DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import difflib
import json
import re
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / ".." / "shared" / "corpus"
ENGINES = ("batchsvc", "markitdown", "pypdf")


def _converter(engine: str) -> Callable[[Path], str]:
    """Import the engine and build its converter once, outside the timed region.

    A service (or a user's batch script) imports its library and builds its converter once,
    so neither import time nor per-call construction (markitdown's ``MarkItDown()`` loads a
    Magika ONNX model) is charged to the documents.
    """
    if engine == "batchsvc":
        from batchsvc.engines.parse import parse_document

        def conv(path: Path) -> str:
            r = parse_document(path.read_bytes(), path.name, {})
            return "\n\n".join(p.md for p in r.pages)

        return conv
    if engine == "markitdown":
        from markitdown import MarkItDown

        md = MarkItDown()
        return lambda path: md.convert(str(path)).text_content
    import io

    from pypdf import PdfReader

    return lambda path: "\n\n".join(
        (p.extract_text() or "") for p in PdfReader(io.BytesIO(path.read_bytes())).pages)


def _cpu() -> float:
    """CPU seconds of this process and of the children it waited for (tesseract runs as a
    subprocess, so OCR work would otherwise be invisible)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def worker(engine: str, corpus: Path, files: list[str], warmup: str, timed: set[str],
           repeat: int) -> None:
    """Convert every file once; the text-layer PDFs in ``timed`` ``repeat`` times, keeping
    the median CPU time (the machine is shared, so one pass is noisy)."""
    conv = _converter(engine)
    # Warm lazy imports and caches the same way for every engine; not timed. A failing
    # warm-up is measured again below like any document.
    with contextlib.suppress(Exception):
        conv(corpus / warmup)
    out: dict = {}
    for name in files:
        times = []
        for _ in range(repeat if name in timed else 1):
            t = _cpu()
            try:
                text, err = conv(corpus / name), None
            except Exception as exc:  # a failure is a data point here, not a crash
                text, err = "", f"{type(exc).__name__}: {str(exc)[:120]}"
            times.append(_cpu() - t)
            if err:
                break
        out[name] = {"cpu_s": statistics.median(times), "text": text, "error": err}
    out["_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _words(md: str) -> list[str]:
    md = re.sub(r"<[^>]+>", " ", md)
    md = re.sub(r"[|#*_`>\-=]+", " ", md)
    return [w for w in re.findall(r"\w+", md.lower()) if w]


def f1(pred: str, ref: str) -> float:
    p, r = Counter(_words(pred)), Counter(_words(ref))
    common = sum((p & r).values())
    if not common:
        return 0.0
    prec, rec = common / sum(p.values()), common / sum(r.values())
    return 2 * prec * rec / (prec + rec)


def order_sim(pred: str, ref: str) -> float:
    a, b = _words(pred)[:4000], _words(ref)[:4000]
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() if a and b else 0.0


# Scans whose page images hold no legible text (checked by rendering them to PNG and looking):
# for these an empty result is the right answer, so they are counted apart, not as misses.
NO_LEGIBLE_TEXT = {
    "cmyk-image.pdf": "a CMYK photo of clouds and an aircraft wing; no text",
    "imagemagick-CCITTFaxDecode.pdf": "a 16x16-pixel 1-bit smiley icon; no text",
}
SCAN_KINDS = ("pdf-scanned", "image-scan")


def _engine_files(engine: str, kinds: dict[str, str]) -> list[str]:
    return [f for f in kinds if engine != "pypdf" or kinds[f].startswith("pdf")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--worker")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed passes over each text-layer PDF (median kept)")
    args = ap.parse_args()
    corpus = args.corpus.resolve()
    manifest = list(csv.DictReader((corpus / "MANIFEST.tsv").open(), delimiter="\t"))
    kinds = {m["file"]: m["kind"] for m in manifest}
    pages = {m["file"]: int(m["pages"]) if m["pages"].isdigit() else 1 for m in manifest}
    warmup = next(f for f in kinds if kinds[f] == "pdf")
    if args.worker:
        worker(args.worker, corpus, _engine_files(args.worker, kinds), warmup,
               {f for f in kinds if kinds[f] == "pdf"}, args.repeat)
        return
    results = {}
    for eng in ENGINES:
        proc = subprocess.run([sys.executable, __file__, "--corpus", str(corpus),
                               "--worker", eng, "--repeat", str(args.repeat)],
                              capture_output=True, text=True, cwd=REPO,
                              env={"PYTHONPATH": str(REPO), "OMP_THREAD_LIMIT": "1",
                                   "PATH": "/usr/bin:/bin"}, check=True)
        results[eng] = json.loads(proc.stdout.strip().splitlines()[-1])
    # Speed on the same documents for every engine: the text-layer PDFs all of them read.
    speed_set = [f for f in kinds if kinds[f] == "pdf"
                 and all(f in d and not d[f]["error"] for d in results.values())]
    if not speed_set:
        # A baseline that reads no PDF (e.g. markitdown without its [pdf] extra) leaves
        # nothing to compare speed on: say so instead of printing 0 pages/s.
        broken = [eng for eng, d in results.items()
                  if all(d.get(f, {}).get("error") for f in kinds if kinds[f] == "pdf")]
        raise SystemExit(f"no text-layer PDF was read by every engine; failing on all PDFs: "
                         f"{', '.join(broken)} (is its PDF support installed?)")
    speed_pages = sum(pages[f] for f in speed_set)
    gt_dir = corpus / "groundtruth"
    rows, summary = [], {}
    for eng, data in results.items():
        docs = [f for f in data if not f.startswith("_")]
        pdf_cpu = sum(data[f]["cpu_s"] for f in speed_set)
        gts = [f for f in docs if (gt_dir / f"{f}.md").exists()]
        gt_pdf = [f for f in gts if kinds[f] == "pdf"]

        def mean(xs: list[float]) -> float:
            return round(sum(xs) / len(xs), 3) if xs else 0.0

        def gt(f: str) -> str:
            return (gt_dir / f"{f}.md").read_text()

        def has_text(f: str, data: dict = data) -> bool:
            return not data[f]["error"] and len(_words(data[f]["text"])) >= 5

        scans = [f for f in docs if kinds[f] in SCAN_KINDS]
        legible = [f for f in scans if f not in NO_LEGIBLE_TEXT]
        blank = [f for f in scans if f in NO_LEGIBLE_TEXT]
        scan_pages = sum(pages[f] for f in scans)
        s = {
            "files": len(docs),
            "failures": sorted(f for f in docs if data[f]["error"]),
            "pdf_pages_per_cpu_s": round(speed_pages / pdf_cpu, 1) if pdf_cpu else 0.0,
            "peak_rss_mb": round(data["_maxrss_mb"], 1),
            "f1_all_gt": mean([f1(data[f]["text"], gt(f)) for f in gts]),
            "f1_pdf_gt": mean([f1(data[f]["text"], gt(f)) for f in gt_pdf]),
            "order_pdf_gt": mean([order_sim(data[f]["text"], gt(f)) for f in gt_pdf]),
            "gt_docs": len(gts),
            "scans_with_text": f"{sum(1 for f in legible if has_text(f))}/{len(legible)}",
            "no_text_scans_empty": f"{sum(1 for f in blank if not has_text(f))}/{len(blank)}",
            "scan_cpu_s_per_page": round(sum(data[f]["cpu_s"] for f in scans) / scan_pages, 2)
            if scan_pages else None,
        }
        summary[eng] = s
        rows.append((eng, s))
    hdr = ("| engine | files | failures | PDF pages/CPU-s | peak RSS MB | F1 PDFs (gt) | "
           "order PDFs (gt) | F1 all gt | scans with text | no-text scans left empty | "
           "scan CPU-s/page |")
    lines = [hdr, "|" + "---|" * 11]
    for eng, s in rows:
        lines.append(f"| {eng} | {s['files']} | {len(s['failures'])} | "
                     f"{s['pdf_pages_per_cpu_s']} | {s['peak_rss_mb']} | {s['f1_pdf_gt']} | "
                     f"{s['order_pdf_gt']} | {s['f1_all_gt']} ({s['gt_docs']} docs) | "
                     f"{s['scans_with_text']} | {s['no_text_scans_empty']} | "
                     f"{s['scan_cpu_s_per_page']} |")
    table = "\n".join(lines)
    print(table)
    for eng, s in rows:
        if s["failures"]:
            print(f"{eng} failures: {', '.join(s['failures'])}")
    b, m = summary["batchsvc"], summary["markitdown"]
    bench = {
        "parse_pages_per_s": b["pdf_pages_per_cpu_s"],
        "markitdown_pages_per_s": m["pdf_pages_per_cpu_s"],
        "pypdf_pages_per_s": summary["pypdf"]["pdf_pages_per_cpu_s"],
        "speedup_vs_markitdown": round(b["pdf_pages_per_cpu_s"] / m["pdf_pages_per_cpu_s"], 1)
        if m["pdf_pages_per_cpu_s"] else None,
        "speed_pdfs": len(speed_set), "speed_pages": speed_pages, "repeat": args.repeat,
        "f1_batchsvc": b["f1_pdf_gt"], "f1_markitdown": m["f1_pdf_gt"],
        "f1_pypdf": summary["pypdf"]["f1_pdf_gt"],
        "f1_all_batchsvc": b["f1_all_gt"], "f1_all_markitdown": m["f1_all_gt"],
        "order_batchsvc": b["order_pdf_gt"], "order_markitdown": m["order_pdf_gt"],
        "scans_with_text_batchsvc": b["scans_with_text"],
        "no_text_scans_empty_batchsvc": b["no_text_scans_empty"],
        "peak_rss_mb": {e: s["peak_rss_mb"] for e, s in rows},
        "gt_pdfs": len([f for f in speed_set if (gt_dir / f"{f}.md").exists()]),
    }
    _write_results(table, bench, warmup)
    print("BENCH " + json.dumps(bench))


def _write_results(table: str, bench: dict, warmup: str) -> None:
    path = REPO / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    blank = "; ".join(f"`{k}`: {v}" for k, v in NO_LEGIBLE_TEXT.items())
    section = (
        "## Parse engine\n\n"
        "`bench/parse.py` on `../shared/corpus`, each engine in its own subprocess, in one run.\n"
        "- Speed: CPU seconds (process plus waited-for children) of the conversion call only, "
        f"on the same {bench['speed_pdfs']} text-layer PDFs ({bench['speed_pages']} pages) for "
        "every engine: the ones all three read without error; each PDF converted "
        f"{bench['repeat']} times, median kept (the machine is shared). Imports and converter "
        f"construction happen once, and one warm-up conversion (`{warmup}`) runs untimed, "
        "for every engine alike.\n"
        "- Fidelity: word F1 and reading-order similarity vs docling's ground truth.\n"
        "- Scans: \"with text\" counts scans whose pages show legible text and that came back "
        "with at least 5 words; scans with no legible text are counted apart (an empty "
        f"result is right for them): {blank}.\n\n"
        f"{table}\n\n"
        f"speed-up vs markitdown on PDFs: {bench['speedup_vs_markitdown']}x\n"
    )
    pat = re.compile(r"## Parse engine\n.*?(?=\n## |\Z)", re.S)
    # The section ends with one blank line before the next one (the pattern stops at "\n## ").
    text = pat.sub(lambda _: section.rstrip("\n") + "\n", text) if pat.search(text) else (
        text.rstrip("\n") + "\n\n" + section)
    path.write_text(text if text.endswith("\n") else text + "\n")


if __name__ == "__main__":
    main()
