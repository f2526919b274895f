"""HTML to blocks with BeautifulSoup/lxml; plain text formats as one page."""

from __future__ import annotations

import re
from typing import Any, cast

from .model import ParseError

_DROP = ("script", "style", "noscript", "template", "head", "svg", "iframe", "object", "form")
_NAV = ("nav", "header", "footer", "aside", "menu")
_NAV_HINT = re.compile(r"(^|[-_ ])(nav|navbar|navigation|menu|breadcrumbs?|sidebar|footer|"
                       r"header|skip-?link|cookie)([-_ ]|$)", re.I)
_BLOCK = {"p", "div", "section", "article", "main", "body", "blockquote", "li", "dd", "dt",
          "figure", "figcaption", "address", "details", "summary", "center", "fieldset"}


def _text(el: Any) -> str:
    return " ".join(el.get_text(" ", strip=True).split())


def _links(el: Any) -> list[dict[str, str]]:
    out = []
    for a in el.find_all("a", href=True):
        t = _text(a)
        href = a["href"].strip()
        if t and href and not href.startswith(("javascript:", "#")):
            out.append({"text": t, "url": href})
    return out


def _walk(el: Any, blocks: list[dict[str, Any]]) -> None:
    from bs4 import NavigableString, Tag

    buf: list[Any] = []

    def flush() -> None:
        if not buf:
            return
        # Inline pieces are concatenated as written so "<a>link</a>." keeps its spacing.
        text = " ".join("".join(str(x) if isinstance(x, NavigableString) else x.get_text()
                                for x in buf).split())
        links = [lk for x in buf if isinstance(x, Tag) for lk in (
            [{"text": _text(x), "url": x["href"]}] if x.name == "a" and x.get("href") else
            _links(x))]
        if text:
            blocks.append({"type": "text", "value": text, "links": links})
        buf.clear()

    for child in el.children:
        if isinstance(child, NavigableString):
            if child.__class__.__name__ in ("Comment", "Doctype", "ProcessingInstruction"):
                continue
            buf.append(child)
            continue
        if not isinstance(child, Tag):
            continue
        name = child.name
        if re.fullmatch(r"h[1-6]", name):
            flush()
            t = _text(child)
            if t:
                blocks.append({"type": "heading", "level": int(name[1]), "value": t,
                               "links": _links(child)})
        elif name in ("ul", "ol"):
            flush()
            items = [_text(li) for li in child.find_all("li", recursive=False)]
            items = [i for i in items if i]
            if items:
                blocks.append({"type": "list", "ordered": name == "ol", "items": items,
                               "links": _links(child)})
        elif name == "table":
            flush()
            rows = [[_text(c) for c in tr.find_all(["td", "th"], recursive=False)]
                    for tr in child.find_all("tr")]
            rows = [r for r in rows if any(r)]
            if rows:
                blocks.append({"type": "table", "rows": rows, "links": _links(child)})
        elif name == "pre":
            flush()
            blocks.append({"type": "code", "value": child.get_text().strip("\n")})
        elif name == "br":
            flush()
        elif name in _BLOCK or name in _NAV or name in ("dl", "hr"):
            flush()
            _walk(child, blocks)
        else:
            buf.append(child)
    flush()


def read_html(text: str, remove_navigation: bool) -> list[dict[str, Any]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(text, "lxml")
    title = soup.title.get_text(strip=True) if soup.title else None
    for tag in soup.find_all(_DROP):
        tag.decompose()
    if remove_navigation:
        for tag in soup.find_all(_NAV):
            tag.decompose()
        # bs4 stub: its attrs overload wrongly requires `name`
        for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo"]}):  # type: ignore[call-overload]
            tag.decompose()
        for tag in soup.find_all(True):
            if tag.attrs is None:
                continue  # already removed with an ancestor
            hint = " ".join([*(tag.get("class") or []), cast(str, tag.get("id") or "")])
            if hint and _NAV_HINT.search(hint) and tag.name not in ("html", "body", "main"):
                tag.decompose()
    for tag in soup.find_all(style=re.compile(r"display\s*:\s*none", re.I)):
        tag.decompose()
    root = soup.body or soup
    blocks: list[dict[str, Any]] = []
    _walk(root, blocks)
    if not blocks:
        raise ParseError("empty document: the HTML has no visible text")
    return [{"blocks": blocks, "metadata": {"title": title} if title else {}}]


def read_text(text: str, kind: str) -> list[dict[str, Any]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not text.strip():
        raise ParseError("empty document")
    if kind == "markdown":
        return [{"blocks": [{"type": "text", "value": text}]}]
    if kind in ("json", "xml"):
        return [{"blocks": [{"type": "code", "value": text}], "plain": True}]
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    return [{"blocks": [{"type": "text", "value": p} for p in paras]}]
