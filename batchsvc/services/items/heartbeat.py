"""Lease renewal for the items this process is working on (see docs/liveness.md).

A claimed item holds a short lease (``item_lease_seconds``). While the process holding it is
alive and inside the item's hard time limit, a daemon thread of that process renews the lease
every ``heartbeat_seconds``; when the process dies, is stopped (SIGSTOP, a frozen VM), is cut
off from the database, or runs past the limit, renewals stop and the sweeper re-sends the item
about one lease later. Recovery therefore waits for liveness, never for the longest item.

Each renewal is fenced by the claim's attempt number: a holder that lost its claim renews
nothing, and learns so (``Held.lost``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from batchsvc.services.items import get_store
from batchsvc.settings import get_settings

log = logging.getLogger("batchsvc.heartbeat")


@dataclass
class Held:
    seq: int
    attempt: int
    # time.monotonic() after which the lease is left to run out (the item's hard limit).
    renew_until: float
    # Set when a renewal found the claim gone: another holder has the item now.
    lost: bool = False


_lock = threading.Lock()
_held: dict[int, Held] = {}
_thread: tuple[int, threading.Thread] | None = None


@contextmanager
def holding(seq: int, attempt: int, seconds: float) -> Iterator[Held]:
    """Keep the claim ``attempt`` on item ``seq`` alive for at most ``seconds``."""
    held = Held(seq, attempt, time.monotonic() + seconds)
    _ensure_thread()
    with _lock:
        _held[seq] = held
    try:
        yield held
    finally:
        with _lock:
            if _held.get(seq) is held:
                del _held[seq]


def _ensure_thread() -> None:
    global _thread
    # Threads do not survive fork: a pool child starts its own at its first item.
    if _thread is not None and _thread[0] == os.getpid() and _thread[1].is_alive():
        return
    thread = threading.Thread(target=_run, name="batchsvc-heartbeat", daemon=True)
    _thread = (os.getpid(), thread)
    thread.start()


def _run() -> None:
    failing = False
    while True:
        settings = get_settings()
        time.sleep(settings.heartbeat_seconds)
        now = time.monotonic()
        with _lock:
            due = [h for h in _held.values() if not h.lost and now < h.renew_until]
        if not due:
            continue
        try:
            store = get_store()
            for held in due:
                if not store.renew(held.seq, held.attempt):
                    held.lost = True
                    log.warning("item %s: claim %s was taken over; its result will be "
                                "discarded", held.seq, held.attempt)
            if failing:
                log.info("lease renewals work again")
            failing = False
        except Exception as exc:  # noqa: BLE001 - the thread must outlive any outage
            if not failing:
                log.warning("cannot renew item leases (%s); they expire unless the database "
                            "answers again in time", type(exc).__name__)
            failing = True
