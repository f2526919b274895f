"""Per-item time and memory caps, so one hostile or slow document cannot sink a worker.

- Time: ``job_timeout_in_seconds`` plus ``job_timeout_extra_time_per_page_in_seconds`` x pages,
  capped by ``BATCHSVC_ITEM_TIME_LIMIT_SECONDS``. The page count is only known once the file
  is read, so the item task arms :func:`deadline` itself; Celery's soft/hard limits (from
  :func:`celery_time_limits`) stay as a backstop for code stuck in C.
- Memory: :func:`cap_memory` sets ``RLIMIT_AS`` in each pool child, so an allocation past the
  cap raises ``MemoryError`` in that child (the item fails) instead of waking the OOM killer.
"""

from __future__ import annotations

import resource
import signal
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import FrameType
from typing import Any

# Seconds between the per-item deadline and Celery's soft / hard limits: the deadline knows
# the page count and reports it, so it should be the one that fires.
SOFT_GRACE = 5.0
HARD_GRACE = 20.0


class ItemTimeout(BaseException):
    """The item ran past its time limit; the message is the item's error_message.

    A BaseException, so an engine's ``except Exception`` (one bad page must not sink a
    document) cannot swallow it."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"timed out after {_fmt(seconds)} s")
        self.seconds = seconds


def _fmt(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


def _number(params: Mapping[str, Any], key: str) -> float | None:
    value = params.get(key)
    try:
        number = float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
    return number if number is not None and number > 0 else None


def item_seconds(params: Mapping[str, Any], pages: int, cap: float) -> float:
    """The limit for one item of ``pages`` pages, never above the server's ``cap``."""
    base = _number(params, "job_timeout_in_seconds") or cap
    extra = _number(params, "job_timeout_extra_time_per_page_in_seconds") or 0.0
    return min(cap, base + extra * max(1, pages))


def celery_time_limits(params: Mapping[str, Any], cap: float) -> tuple[float, float]:
    """(soft, hard) Celery limits: above any deadline :func:`item_seconds` can give."""
    if _number(params, "job_timeout_extra_time_per_page_in_seconds"):
        upper = cap  # pages unknown before the file is read
    else:
        upper = item_seconds(params, 1, cap)
    return upper + SOFT_GRACE, upper + HARD_GRACE


def page_count(data: bytes) -> int:
    """A cheap page count for the time limit: PDF pages, TIFF frames, else 1."""
    if data[:1024].find(b"%PDF-") >= 0:
        import pypdfium2 as pdfium

        try:
            doc = pdfium.PdfDocument(data)
        except Exception:  # noqa: BLE001 - the engine reports a corrupt PDF properly
            return 1
        try:
            return max(1, len(doc))
        finally:
            doc.close()
    return 1


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Raise :class:`ItemTimeout` in the calling code once ``seconds`` have passed.

    Uses SIGALRM, so it works in the main thread of a process (prefork children and the solo
    pool); elsewhere Celery's own limits are the only guard.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(_signum: int, _frame: FrameType | None) -> None:
        raise ItemTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, _expired)
    # Re-fire every second after expiry, in case a handler somewhere still swallowed it.
    signal.setitimer(signal.ITIMER_REAL, seconds, 1.0)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def cap_memory(megabytes: int) -> None:
    """Limit this process's address space; 0 leaves it unlimited."""
    if megabytes <= 0:
        return
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def memory_message(megabytes: int) -> str:
    return f"ran out of memory parsing this document (limit {megabytes} MB)"
