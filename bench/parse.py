"""Parse benchmark: batchsvc's engine vs markitdown and pypdf on the shared corpus.

Each engine runs in its own subprocess so peak memory (ru_maxrss) is its own.
Usage: .venv/bin/python bench/parse.py [--corpus DIR]
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / ".." / "shared" / "corpus"
ENGINES = ("batchsvc", "markitdown", "pypdf")


def _convert(engine: str, path: Path) -> str:
    data = path.read_bytes()
    if engine == "batchsvc":
        from batchsvc.engines.parse import parse_document

        r = parse_document(data, path.name, {})
        return "\n\n".join(p.md for p in r.pages)
    if engine == "markitdown":
        from markitdown import MarkItDown

        return MarkItDown().convert(str(path)).text_content
    import io

    from pypdf import PdfReader

    return "\n\n".join((p.extract_text() or "") for p in PdfReader(io.BytesIO(data)).pages)


def worker(engine: str, corpus: Path, files: list[str]) -> None:
    out = {}
    for name in files:
        t = time.process_time()
        try:
            text, err = _convert(engine, corpus / name), None
        except Exception as exc:  # a failure is a data point here, not a crash
            text, err = "", f"{type(exc).__name__}: {str(exc)[:120]}"
        out[name] = {"cpu_s": time.process_time() - t, "text": text, "error": err}
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", type=Path, default=CORPUS)
    ap.add_argument("--worker")
    args = ap.parse_args()
    corpus = args.corpus.resolve()
    manifest = list(csv.DictReader((corpus / "MANIFEST.tsv").open(), delimiter="\t"))
    kinds = {m["file"]: m["kind"] for m in manifest}
    pages = {m["file"]: int(m["pages"]) if m["pages"].isdigit() else 1 for m in manifest}
    if args.worker:
        worker(args.worker, corpus, [m["file"] for m in manifest])
        return
    results = {}
    for eng in ENGINES:
        files = [f for f in kinds if eng != "pypdf" or kinds[f].startswith("pdf")]
        proc = subprocess.run([sys.executable, __file__, "--corpus", str(corpus),
                               "--worker", eng], capture_output=True, text=True, cwd=REPO,
                              env={"PYTHONPATH": str(REPO), "OMP_THREAD_LIMIT": "1",
                                   "PATH": "/usr/bin:/bin"}, check=True)
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        data = {k: v for k, v in data.items() if k in files or k.startswith("_")}
        results[eng] = data
    gt_dir = corpus / "groundtruth"
    rows, summary = [], {}
    for eng, data in results.items():
        pdfs = [f for f in data if kinds.get(f) == "pdf"]
        ok_pdf = [f for f in pdfs if not data[f]["error"]]
        pdf_pages = sum(pages[f] for f in ok_pdf)
        pdf_cpu = sum(data[f]["cpu_s"] for f in ok_pdf)
        gts = [f for f in data if not f.startswith("_") and (gt_dir / f"{f}.md").exists()]
        gt_pdf = [f for f in gts if kinds[f] == "pdf"]

        def mean(xs: list[float]) -> float:
            return round(sum(xs) / len(xs), 3) if xs else 0.0

        def gt(f: str) -> str:
            return (gt_dir / f"{f}.md").read_text()

        scans = [f for f in data if kinds.get(f) in ("pdf-scanned", "image-scan")]
        s = {
            "files": len([f for f in data if not f.startswith("_")]),
            "failures": sorted(f for f in data if not f.startswith("_") and data[f]["error"]),
            "pdf_pages_per_cpu_s": round(pdf_pages / pdf_cpu, 1) if pdf_cpu else 0.0,
            "peak_rss_mb": round(data["_maxrss_mb"], 1),
            "f1_all_gt": mean([f1(data[f]["text"], gt(f)) for f in gts]),
            "f1_pdf_gt": mean([f1(data[f]["text"], gt(f)) for f in gt_pdf]),
            "order_pdf_gt": mean([order_sim(data[f]["text"], gt(f)) for f in gt_pdf]),
            "gt_docs": len(gts),
            "scans_with_text": f"{sum(1 for f in scans if len(_words(data[f]['text'])) >= 5)}"
                               f"/{len(scans)}",
        }
        summary[eng] = s
        rows.append((eng, s))
    common = [f for f in results["batchsvc"] if kinds.get(f) == "pdf"
              and (gt_dir / f"{f}.md").exists()]
    hdr = ("| engine | files | failures | PDF pages/CPU-s | peak RSS MB | F1 PDFs (gt) | "
           "order PDFs (gt) | F1 all gt | scans with text |")
    lines = [hdr, "|" + "---|" * 9]
    for eng, s in rows:
        lines.append(f"| {eng} | {s['files']} | {len(s['failures'])} | "
                     f"{s['pdf_pages_per_cpu_s']} | {s['peak_rss_mb']} | {s['f1_pdf_gt']} | "
                     f"{s['order_pdf_gt']} | {s['f1_all_gt']} ({s['gt_docs']} docs) | "
                     f"{s['scans_with_text']} |")
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
        "f1_batchsvc": b["f1_pdf_gt"], "f1_markitdown": m["f1_pdf_gt"],
        "f1_pypdf": summary["pypdf"]["f1_pdf_gt"],
        "f1_all_batchsvc": b["f1_all_gt"], "f1_all_markitdown": m["f1_all_gt"],
        "order_batchsvc": b["order_pdf_gt"], "order_markitdown": m["order_pdf_gt"],
        "scans_with_text_batchsvc": b["scans_with_text"],
        "peak_rss_mb": {e: s["peak_rss_mb"] for e, s in rows}, "gt_pdfs": len(common),
    }
    _write_results(table, bench)
    print("BENCH " + json.dumps(bench))


def _write_results(table: str, bench: dict) -> None:
    path = REPO / "bench" / "RESULTS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = (
        "## Parse engine\n\n"
        "`bench/parse.py` on `../shared/corpus` (speed: CPU time on the text-layer PDFs; "
        "fidelity: word F1 and reading-order similarity vs docling ground truth; each engine "
        "in its own subprocess, OCR included for batchsvc).\n\n"
        f"{table}\n\n"
        f"speed-up vs markitdown on PDFs: {bench['speedup_vs_markitdown']}x\n"
    )
    pat = re.compile(r"## Parse engine\n.*?(?=\n## |\Z)", re.S)
    text = pat.sub(section.rstrip("\n"), text) if pat.search(text) else (
        text.rstrip("\n") + "\n\n" + section)
    path.write_text(text if text.endswith("\n") else text + "\n")


if __name__ == "__main__":
    main()
