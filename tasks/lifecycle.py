"""A worker's start and stop: wait for the schema, then a bounded graceful stop.

Stop: Celery's warm shutdown (SIGTERM) stops taking messages and waits for running tasks
without a bound. After ``worker_shutdown_grace_seconds`` this escalates to Celery's cold
shutdown (SIGQUIT), which cancels what still runs and leaves those messages unacknowledged,
so the broker hands them straight to another worker (Redis restores a closing consumer's
unacked messages; RabbitMQ requeues them with the channel), and their items, still claimed
under the same message id, are re-claimed at once instead of after a lease. A rolling
restart of every worker thus loses nothing and waits at most the grace per worker.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from celery.signals import worker_init, worker_shutting_down

from batchsvc.settings import get_settings

log = logging.getLogger("batchsvc.worker")


def _require_schema(**_: Any) -> None:
    from batchsvc.migrate import SchemaNotReady, wait_for_schema

    try:
        wait_for_schema(get_settings().schema_wait_seconds,
                        say=lambda line: print(line, file=sys.stderr, flush=True))
    except SchemaNotReady as exc:
        print(f"batchsvc worker: {exc}", file=sys.stderr, flush=True)
        # Celery catches SystemExit at this point; nothing is running yet.
        os._exit(2)


def _bounded_stop(sig: str = "", how: str = "", **_: Any) -> None:
    if how != "Warm":
        return
    grace = get_settings().worker_shutdown_grace_seconds
    pid = os.getpid()

    def escalate() -> None:
        log.warning("items still running %.0f s after %s: handing them back to the broker",
                    grace, sig or "the stop signal")
        os.kill(pid, signal.SIGQUIT)

    timer = threading.Timer(grace, escalate)
    timer.daemon = True
    timer.start()


def connect() -> None:
    worker_init.connect(_require_schema, weak=False)
    worker_shutting_down.connect(_bounded_stop, weak=False)
