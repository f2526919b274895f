"""What kind of file a document is, in words the classifier can weigh as evidence.

Only containers that say something about a document's type get a sentence: a PowerPoint
file is almost always a slide deck and an Excel file a table of data, whatever words are on
it; a PDF, a Word file, a web page or a scan can be anything, so they get none.
"""

from __future__ import annotations

# Keyed by the parse engine's `job_metadata["detected_type"]`.
_FORMS = {
    "pptx": ("A PowerPoint presentation of {n} slides.", "A PowerPoint presentation."),
    "xlsx": ("An Excel spreadsheet of {n} sheets.", "An Excel spreadsheet."),
    "csv": ("A CSV file: a table of data.", "A CSV file: a table of data."),
}


def form_of(detected_type: str | None, pages: int | None = None) -> str | None:
    """A sentence naming the file's kind (e.g. "A PowerPoint presentation of 6 slides."),
    or None when the kind says nothing about what the document is."""
    forms = _FORMS.get((detected_type or "").lower())
    if forms is None:
        return None
    with_count, without = forms
    return with_count.format(n=pages) if pages and pages > 1 else without
