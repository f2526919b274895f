"""Item tasks: thin adapters around services.items.process_item (see there)."""

from __future__ import annotations

import logging
from typing import Any

from billiard.exceptions import TimeLimitExceeded
from celery import Task

from batchsvc.db import is_transient_db_error
from batchsvc.messaging import CLASSIFY_ITEM, PARSE_ITEM
from batchsvc.services import recovery
from batchsvc.services.items.process import process_item
from batchsvc.uow import unit_of_work
from tasks.app import celery_app

log = logging.getLogger("batchsvc.items")


class ItemTask(Task):
    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any,
                   einfo: Any) -> None:
        # The hard time limit killed the pool child (code stuck in C ignores the soft one);
        # the worker's main process runs this, so the item still ends with a reason.
        if isinstance(exc, TimeLimitExceeded) and args:
            seconds = exc.args[0] if exc.args else "?"
            seqs = as_seqs(args[0])
            with unit_of_work() as session:
                recovery.fail_claim(session, seqs, task_id,
                                    error=f"timed out after {seconds} s")
                # The rest of a chunk never ran: out again, each on its own.
                recovery.resend(session, seqs)


def as_seqs(arg: int | list[int]) -> list[int]:
    """An item message's argument: a list of item seqs (one, or a chunk of light items); a
    single int from messages queued before chunks existed."""
    return [arg] if isinstance(arg, int) else list(arg)


def run_items(task: Task, arg: int | list[int]) -> list[dict[str, Any]]:
    outcomes = []
    for seq in as_seqs(arg):
        try:
            outcomes.append(process_item(seq, token=task.request.id))
        except Exception as exc:
            if not is_transient_db_error(exc):
                raise
            # The database is restarting or unreachable: the same message comes back (same
            # task id, so it re-claims the item it held; finished ones are no-ops) after
            # 1, 2, 4 ... 30 s.
            countdown = min(30, 2 ** task.request.retries)
            log.warning("item %s: database unavailable (%s); retry in %s s",
                        seq, type(exc).__name__, countdown)
            raise task.retry(exc=exc, countdown=countdown) from exc
    return outcomes


ITEM_OPTIONS: dict[str, Any] = {
    "base": ItemTask,
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    # Kept for chords on a polling result backend; dispatch drops them on Redis.
    "ignore_result": False,
    # Transient database errors only; a lost worker is bounded by item_max_attempts.
    "max_retries": 8,
}


@celery_app.task(name=PARSE_ITEM, **ITEM_OPTIONS)
def parse_item(self: Task, seqs: int | list[int]) -> list[dict[str, Any]]:
    return run_items(self, seqs)


@celery_app.task(name=CLASSIFY_ITEM, **ITEM_OPTIONS)
def classify_item(self: Task, seqs: int | list[int]) -> list[dict[str, Any]]:
    return run_items(self, seqs)
