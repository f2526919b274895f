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
