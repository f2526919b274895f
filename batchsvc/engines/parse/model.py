"""Result types of the parse engine: plain dataclasses that round-trip through JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .images import ParsedImage


class ParseError(Exception):
    """Document-level failure; ``str(exc)`` is safe to show to the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# How a failure starts when the page selection holds none of the document's pages (the
# llama-parse client reads past the end of a document in partitions and expects to be told).
NO_PAGES_SELECTED = "no pages selected"


class PageError(Exception):
    """A single page could not be parsed; handled under ``page_error_tolerance``."""


@dataclass
class Page:
    page_number: int  # 1-based, as in the source document
    text: str = ""
    md: str = ""
    header: str | None = None
    footer: str | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    width: float = 0.0
    height: float = 0.0
    success: bool = True
    error: str | None = None
    # Unfiltered text kept for replace_failed_page_mode=raw_text and header detection.
    raw_text: str = ""
    # ParsedImage.metadata() of this page's images in ParseResult.images (no bytes)
    images: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ParseResult:
    pages: list[Page]
    job_metadata: dict[str, Any]
    # Rendering settings (separators, prefixes, hide flags) resolved from the parameters, so
    # render_v2 can build the full outputs later without the original parameters.
    render_options: dict[str, Any] = field(default_factory=dict)
    # Screenshots and embedded images when the caller asked to keep them. Their bytes never
    # go into to_dict(): the caller stores each under its name; pages list their metadata.
    images: list[ParsedImage] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            # Shallow (asdict deep-copies every item and metadata dict): the result is
            # serialized, not mutated, and this runs once per item on the hot path.
            "pages": [dict(vars(p)) for p in self.pages],
            "job_metadata": self.job_metadata,
            "render_options": self.render_options,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ParseResult:
        return cls(
            pages=[Page(**p) for p in d.get("pages", [])],
            job_metadata=dict(d.get("job_metadata", {})),
            render_options=dict(d.get("render_options", {})),
        )

    @property
    def markdown_full(self) -> str:
        from .render import full_markdown

        return full_markdown(self.to_dict())

    @property
    def text_full(self) -> str:
        from .render import full_text

        return full_text(self.to_dict())
