"""The Redis result backend, without a pub/sub subscription per chord header task.

Celery's ``group.apply_async`` registers every header task's result with the group's ready
barrier (``res.then(barrier, weak=True)``); on Redis that is a SUBSCRIBE to the task's
result channel on the publisher's pub/sub connection, and an UNSUBSCRIBE when the result
object is collected. Nobody reads the replies: measured in the control worker that publishes
pages (tracemalloc over 8 pages of 1,000 items), redis-py's channel sets grew by ~0.3 MB per
1,000 items and stayed, and Redis held the unread replies (+13 MB over a 100,000-item batch).
Nothing in batchsvc waits on a group's barrier: a page's callback is its chord body and the
rows are the results. So weak registrations are dropped here; an explicit wait
(``AsyncResult.get``) still subscribes as usual.
"""

from __future__ import annotations

from typing import Any

from celery.backends.redis import RedisBackend


class ChordHeaderQuietRedisBackend(RedisBackend):
    def add_pending_result(self, result: Any, weak: bool = False,
                           start_drainer: bool = True) -> Any:
        if weak:
            return result
        return super().add_pending_result(result, weak=weak, start_drainer=start_drainer)


def backend_url(url: str) -> str:
    """``url`` as Celery's ``result_backend`` setting, with this class for Redis URLs."""
    if url.startswith(("redis://", "rediss://")):
        return f"{__name__}:{ChordHeaderQuietRedisBackend.__name__}+{url}"
    return url
