"""The worker side of the Celery app (configured in batchsvc.messaging): what every pool
process does when it starts."""

from __future__ import annotations

from typing import Any

from celery.signals import celeryd_after_setup, worker_process_init

from batchsvc.messaging import celery_app
from batchsvc.settings import get_settings

__all__ = ["celery_app"]


# This worker's pool size, recorded in the main process before its pool forks the children.
_pool_processes: int | None = None


@celeryd_after_setup.connect
def _record_pool_size(instance: Any = None, **_: Any) -> None:
    global _pool_processes
    _pool_processes = getattr(instance, "concurrency", None) or None


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    # A forked pool child must not share the parent's database connections.
    from batchsvc.db import reset_engine
    from batchsvc.limits import cap_memory

    reset_engine()
    # Each parse runs under this cap: a bomb raises MemoryError in the child, not the OOM killer.
    cap_memory(get_settings().item_memory_limit_mb)
    _preload_engines()


def _consumes(kind: str) -> bool:
    from batchsvc.messaging import queue_name

    consuming = celery_app.amqp.queues.consume_from
    return consuming is None or queue_name(kind) in consuming


def _preload_engines() -> None:
    """A pool child that will parse or classify pays its one-time costs now, not on its first
    item (which would then take up to a second more than the rest): the OCR languages
    installed (every parse asks; tesseract is run once to list them) and the classifier's
    model. After the fork: ONNX Runtime's thread pools do not survive one."""
    if not (_consumes("parse") or _consumes("classify")):
        return
    from batchsvc.engines.parse.ocr import installed_languages

    installed_languages()
    if not _consumes("classify"):
        return
    from batchsvc.engines.classify.model import get_encoder
    from batchsvc.services.items.engines import configure_model

    configure_model(_pool_processes)
    get_encoder()
