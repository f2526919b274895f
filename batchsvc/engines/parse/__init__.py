"""Pure parse engine: file bytes + LlamaParse parameters -> per-page results.

No web, queue or database code lives here, so the engine can be imported and benchmarked
on its own.
"""

from .engine import parse_document
from .model import Page, ParseError, ParseResult
from .options import KNOWN_OPTIONS
from .render import render_v2

__all__ = ["KNOWN_OPTIONS", "Page", "ParseError", "ParseResult", "parse_document", "render_v2"]
