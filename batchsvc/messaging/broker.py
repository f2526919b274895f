"""What the broker can tell about its queues."""

from __future__ import annotations

import contextlib
from typing import Any

from amqp.exceptions import NotFound
from kombu.exceptions import ChannelError, NotBoundError

from batchsvc.messaging import celery_app

_MISSING = (ChannelError, NotBoundError, NotFound)


def queue_size(conn: Any, name: str) -> int:
    """Messages waiting in queue ``name`` (0 for a queue nobody declared yet)."""
    # A fresh channel per queue: on AMQP a passive declare of a missing queue closes it.
    channel = conn.channel()
    try:
        return int(channel.queue_declare(name, passive=True).message_count)
    except _MISSING:
        return 0
    finally:
        # The broker may have closed it already (AMQP, after a missing queue).
        with contextlib.suppress(Exception):
            channel.close()


def queue_sizes(names: list[str]) -> dict[str, int] | None:
    """Messages waiting in each queue, or None while the broker cannot be reached (then
    nothing can be concluded about lost messages)."""
    try:
        with celery_app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
            return {name: queue_size(conn, name) for name in names}
    except Exception:  # noqa: BLE001 - any transport's connection error
        return None
