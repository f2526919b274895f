"""The worker side of the Celery app (configured in batchsvc.messaging): what every pool
process does when it starts."""

from __future__ import annotations

from typing import Any

from celery.signals import worker_process_init

from batchsvc.messaging import celery_app
from batchsvc.settings import get_settings

__all__ = ["celery_app"]


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked pool child must not share the parent's database connections.
    from batchsvc.db import reset_engine
    from batchsvc.limits import cap_memory

    reset_engine()
    # Each parse runs under this cap: a bomb raises MemoryError in the child, not the OOM killer.
    cap_memory(get_settings().item_memory_limit_mb)
    _preload_classifier()


def _preload_classifier() -> None:
    """A pool child that will classify loads the model now, not on its first item (which
    would then take a second more than the rest). After the fork: ONNX Runtime's thread pools
    do not survive one."""
    from batchsvc.messaging import queue_name

    consuming = celery_app.amqp.queues.consume_from
    if consuming is not None and queue_name("classify") not in consuming:
        return
    from batchsvc.engines.classify.model import get_encoder
    from batchsvc.services.items.engines import configure_model

    configure_model()
    get_encoder()
