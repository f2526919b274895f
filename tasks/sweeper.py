"""The periodic sweeper (beat): a thin adapter around services.recovery.sweep."""

from __future__ import annotations

from typing import Any

from batchsvc.messaging import ITEM_TASKS, SWEEP, queue_name
from batchsvc.messaging.broker import queue_sizes
from batchsvc.services import recovery
from tasks.app import celery_app


def empty_item_queues() -> tuple[str, ...]:
    """Job types whose item queue the broker reports empty (none while it is unreachable)."""
    names = {kind: queue_name(kind) for kind in ITEM_TASKS}
    sizes = queue_sizes(list(names.values()))
    if sizes is None:
        return ()
    return tuple(kind for kind, name in names.items() if sizes[name] == 0)


@celery_app.task(name=SWEEP, ignore_result=True)
def sweep() -> dict[str, Any]:
    return recovery.sweep(empty_item_queues)
