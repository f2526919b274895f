"""Format-neutral page content: a list of blocks rendered to markdown, text and SDK items.

Every format reader produces blocks (plain dicts) so that table style, link annotation and
item typing are implemented once:
  {"type": "heading", "level": int, "value": str}
  {"type": "text", "value": str}
  {"type": "list", "ordered": bool, "items": [str]}
  {"type": "table", "rows": [[str]]}
  {"type": "code", "value": str}
  {"type": "image", "name": str}  (a figure; in the markdown only with inline_images_in_markdown)
Any block may carry "bbox": {"x","y","w","h"} (points, top-left origin) and "links":
[{"text","url"}] found inside it; a table may carry "spans": [[row, col, rowspan, colspan]]
for cells covering more than one grid cell (the covered cells hold "").
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any

Block = dict[str, Any]


def _cell(v: Any) -> str:
    s = "" if v is None else str(v)
    return " ".join(s.split())


def normalise_rows(rows: list[list[Any]]) -> list[list[str]]:
    rows = [[_cell(c) for c in r] for r in rows]
    rows = [r for r in rows if any(r)]
    width = max((len(r) for r in rows), default=0)
    return [r + [""] * (width - len(r)) for r in rows]


def table_md(rows: list[list[str]], compact: bool = False) -> str:
    if not rows:
        return ""

    def esc(c: str) -> str:
        return c.replace("|", "\\|")

    if compact:
        lines = ["|" + "|".join(esc(c) for c in r) + "|" for r in rows]
        lines.insert(1, "|" + "|".join("-" * 3 for _ in rows[0]) + "|")
        return "\n".join(lines)
    widths = [max(3, *(len(esc(r[i])) for r in rows)) for i in range(len(rows[0]))]

    def line(r: list[str]) -> str:
        return "| " + " | ".join(esc(c).ljust(w) for c, w in zip(r, widths, strict=False)) + " |"

    out = [line(rows[0]), "| " + " | ".join("-" * w for w in widths) + " |"]
    out += [line(r) for r in rows[1:]]
    return "\n".join(out)


def table_html(rows: list[list[str]], spans: list[list[int]] | None = None) -> str:
    if not rows:
        return "<table></table>"
    span_at = {(r, c): (rs, cs) for r, c, rs, cs in spans or []}
    covered = {(r0 + i, c0 + j) for r0, c0, rs, cs in spans or [] for i in range(rs)
               for j in range(cs)} - set(span_at)

    def row(r: int, tag: str) -> str:
        cells = []
        for c, text in enumerate(rows[r]):
            if (r, c) in covered:
                continue
            rs, cs = span_at.get((r, c), (1, 1))
            attrs = (f' rowspan="{rs}"' if rs > 1 else "") + (f' colspan="{cs}"' if cs > 1 else "")
            cells.append(f"<{tag}{attrs}>{html.escape(text)}</{tag}>")
        return "<tr>" + "".join(cells) + "</tr>"

    body = "".join(row(r, "td") for r in range(1, len(rows)))
    return f"<table><thead>{row(0, 'th')}</thead><tbody>{body}</tbody></table>"


def table_csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def _annotate(value: str, links: list[dict[str, str]], annotate: bool) -> str:
    if not annotate:
        return value
    for link in links:
        text, url = link.get("text", "").strip(), link.get("url", "")
        if not url:
            continue
        if text and text in value and f"[{text}]" not in value:
            value = value.replace(text, f"[{text}]({url})", 1)
        elif not text:
            value = f"{value} <{url}>"
    return value


def block_md(b: Block, opts: dict[str, Any], rows: list[list[str]] | None = None) -> str:
    annotate = bool(opts.get("annotate_links"))
    links = b.get("links") or []
    t = b["type"]
    if t == "heading":
        return "#" * max(1, min(6, int(b.get("level", 1)))) + " " + _annotate(
            b["value"], links, annotate)
    if t == "list":
        out = []
        for i, it in enumerate(b["items"], 1):
            mark = f"{i}." if b.get("ordered") else "-"
            out.append(f"{mark} {_annotate(it, links, annotate)}")
        return "\n".join(out)
    if t == "table":
        rows = normalise_rows(b["rows"]) if rows is None else rows
        if opts.get("output_tables_as_HTML"):
            return table_html(rows, b.get("spans"))
        return table_md(rows, compact=bool(opts.get("compact_markdown_table")))
    if t == "code":
        return "```\n" + b["value"] + "\n```"
    if t == "image":
        return f"![image]({b['name']})" if opts.get("inline_images_in_markdown") else ""
    return _annotate(b["value"], links, annotate)


def block_text(b: Block, rows: list[list[str]] | None = None) -> str:
    t = b["type"]
    if t == "list":
        return "\n".join(b["items"])
    if t == "table":
        rows = normalise_rows(b["rows"]) if rows is None else rows
        return "\n".join("\t".join(r) for r in rows)
    if t == "image":
        return ""
    return b["value"]


def _bbox(b: Block) -> list[dict[str, float]] | None:
    bb = b.get("bbox")
    if not bb:
        return None
    return [{"x": round(float(bb["x"]), 2), "y": round(float(bb["y"]), 2),
             "w": round(float(bb["w"]), 2), "h": round(float(bb["h"]), 2)}]


def block_items(b: Block, md: str, rows: list[list[str]] | None = None,
                table_markdown: str | None = None) -> list[dict[str, Any]]:
    """SDK items for one block; ``table_markdown`` reuses an already rendered pipe table."""
    t = b["type"]
    bbox = _bbox(b)
    if t == "heading":
        item: dict[str, Any] = {"type": "heading", "level": int(b.get("level", 1)),
                                "value": b["value"], "md": md}
    elif t == "list":
        item = {"type": "list", "ordered": bool(b.get("ordered")), "md": md,
                "items": [{"type": "text", "value": v, "md": v} for v in b["items"]]}
    elif t == "table":
        rows = normalise_rows(b["rows"]) if rows is None else rows
        item = {"type": "table", "rows": rows, "md": table_markdown or table_md(rows),
                "html": table_html(rows, b.get("spans")), "csv": table_csv(rows)}
        if b.get("merged_from_pages"):
            item["merged_from_pages"] = b["merged_from_pages"]
    elif t == "image":
        item = {"type": "image", "caption": "", "md": f"![image]({b['name']})",
                "url": b["name"]}
    elif t == "code":
        item = {"type": "code", "value": b["value"], "md": md}
    else:
        item = {"type": "text", "value": b["value"], "md": md}
    if bbox:
        item["bbox"] = bbox
    out = [item]
    for link in b.get("links") or []:
        if link.get("url"):
            text = link.get("text") or link["url"]
            out.append({"type": "link", "text": text, "url": link["url"],
                        "md": f"[{text}]({link['url']})"})
    return out


def merge_tables_across_pages(pages: list[dict[str, Any]]) -> None:
    """A table that ends a page and one with as many columns that opens the next become
    one table on the first page (LlamaParse's merge_tables_across_pages_in_markdown); a
    repeated header row is dropped. The later page keeps an empty table item saying where
    its rows went."""
    last: tuple[Block, int] | None = None  # the open table and its page number
    for p in pages:
        blocks = p.get("blocks") or []
        first = blocks[0] if blocks else None
        if (last is not None and first is not None and first["type"] == "table"
                and not first.get("spans") and first["rows"]
                and len(first["rows"][0]) == len(last[0]["rows"][0])):
            head, page_number = last
            rows = first["rows"]
            head["rows"] = head["rows"] + (rows[1:] if rows[0] == head["rows"][0] else rows)
            head.setdefault("merged_from_pages", [page_number]).append(p["index"] + 1)
            blocks[0] = {"type": "table", "rows": [], "bbox": first.get("bbox"),
                         "merged_into_page": page_number}
            if len(blocks) == 1:
                continue  # the table fills this page: it may go on to the next
        tail = blocks[-1] if blocks else None
        last = (tail, p["index"] + 1) if (tail is not None and tail["type"] == "table"
                                          and tail["rows"] and not tail.get("spans")) else None


def render_blocks(blocks: list[Block], opts: dict[str, Any]) -> tuple[str, str, list[dict]]:
    """Return (markdown, text, items) for one page's blocks."""
    mds, texts, items = [], [], []
    plain_tables = not (opts.get("output_tables_as_HTML") or opts.get("compact_markdown_table"))
    for b in blocks:
        rows = normalise_rows(b["rows"]) if b["type"] == "table" and not b.get("spans") else (
            b.get("rows"))
        if b.get("merged_into_page"):
            items.append({"type": "table", "rows": [], "md": "", "html": "", "csv": "",
                          "merged_into_page": b["merged_into_page"],
                          **({"bbox": _bbox(b)} if b.get("bbox") else {})})
            continue
        md = block_md(b, opts, rows)
        if b["type"] == "image":
            if md:
                mds.append(md)
            items.extend(block_items(b, md))
            continue
        if not md.strip():
            continue
        mds.append(md)
        texts.append(block_text(b, rows))
        items.extend(block_items(b, md, rows, md if rows is not None and plain_tables
                                 else None))
    return "\n\n".join(mds), "\n\n".join(texts), items
