"""The Celery app as every process sees it: configured from the settings, the task names,
the queues, the message priorities. The API sends through it (after commit, see
batchsvc.uow); the ``tasks`` package registers the task bodies on it for workers.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from batchsvc import limits
from batchsvc.messaging import redis_close
from batchsvc.messaging.backend import backend_url
from batchsvc.settings import Settings, get_settings

# Task names: the one list senders, the router, logs and metrics read.
DISPATCH_JOB = "batchsvc.dispatch_job"
PAGE_DONE = "batchsvc.page_done"
PAGE_FAILED = "batchsvc.page_failed"
ADVANCE_JOB = "batchsvc.advance_job"
PARSE_ITEM = "batchsvc.parse_item"
CLASSIFY_ITEM = "batchsvc.classify_item"
DELIVER_WEBHOOK = "batchsvc.deliver_webhook"
SWEEP = "batchsvc.sweep"
REFINE_JOB = "batchsvc.refine_job"
IMPORT_PAGE = "batchsvc.import_page"
ITEM_TASKS = {"parse": PARSE_ITEM, "classify": CLASSIFY_ITEM}
# Tasks whose first argument is a job id (logs bind it to every line).
JOB_ARG_TASKS = frozenset({DISPATCH_JOB, PAGE_DONE, ADVANCE_JOB})
BEAT_SCHEDULER = "tasks.beat:SweepScheduler"

QUEUES = ("parse", "classify", "control", "webhooks")

# Message priorities, higher first: a job's priority option, and above them all an item the
# sweeper recovered from a dead worker, so it runs next instead of behind queued pages.
PRIORITY = {"low": 0, "medium": 1, "high": 2, "critical": 3}
RECOVERED_PRIORITY = 4
# On Redis, kombu keeps one list per priority step: the bare queue name for step 0, then
# ``<queue><sep><step>``.
REDIS_PRIORITY_SEP = ":"


def redis_priority_lists(queue: str) -> list[str]:
    """The Redis lists holding ``queue``'s waiting messages, one per priority step."""
    return [queue] + [f"{queue}{REDIS_PRIORITY_SEP}{step}"
                      for step in range(1, RECOVERED_PRIORITY + 1)]


def queue_name(kind: str, settings: Settings | None = None) -> str:
    """Queues carry the namespace so deployments (and test runs) can share one broker."""
    settings = settings or get_settings()
    return f"{settings.namespace}{kind}"


def message_priority(level: int, settings: Settings | None = None) -> int:
    """The broker's number for ``level``: Redis pops priority 0 first, RabbitMQ the highest."""
    settings = settings or get_settings()
    level = max(0, min(RECOVERED_PRIORITY, level))
    if settings.celery_broker_url.startswith("redis"):
        return RECOVERED_PRIORITY - level
    return level


def configure(app: Celery, settings: Settings) -> None:
    transport: dict[str, Any] = {}
    broker = settings.celery_broker_url
    if broker.startswith("redis"):
        redis_close.install()
        transport = {
            # Only the backstop: a dead worker's items are recovered by their lease (the
            # sweeper); Redis re-sends an unacked message after this, so it must exceed the
            # longest item, or a healthy long item would be sent twice.
            "visibility_timeout": settings.item_time_limit_seconds + limits.HARD_GRACE + 300,
            "unacked_restore_interval": settings.redis_unacked_restore_interval,
            "unacked_restore_throttle": 1,
            "priority_steps": list(range(RECOVERED_PRIORITY + 1)),
            "sep": REDIS_PRIORITY_SEP,
        }
    elif broker.startswith("filesystem"):
        queue_dir = settings.data_path / "broker"
        (queue_dir / "queue").mkdir(parents=True, exist_ok=True)
        (queue_dir / "processed").mkdir(parents=True, exist_ok=True)
        (queue_dir / "control").mkdir(parents=True, exist_ok=True)
        transport = {
            "data_folder_in": str(queue_dir / "queue"),
            "data_folder_out": str(queue_dir / "queue"),
            "processed_folder": str(queue_dir / "processed"),
            "store_processed": False,
            # kombu's default control folder is relative to the working directory.
            "control_folder": str(queue_dir / "control"),
        }
    q = {kind: queue_name(kind, settings) for kind in QUEUES}
    app.conf.update(
        broker_url=broker,
        result_backend=backend_url(settings.celery_result_backend),
        broker_transport_options=transport,
        broker_connection_retry_on_startup=True,
        task_default_queue=q["control"],
        task_routes={
            PARSE_ITEM: {"queue": q["parse"]},
            CLASSIFY_ITEM: {"queue": q["classify"]},
            # It needs the classifier's model, which classify workers hold.
            REFINE_JOB: {"queue": q["classify"]},
            DELIVER_WEBHOOK: {"queue": q["webhooks"]},
            "batchsvc.*": {"queue": q["control"]},
        },
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=6 * 3600,
        result_extended=False,
        # Task events cost a broker round trip each (sent, received, started, succeeded: four
        # per item); Flower switches the workers' events on while it watches them (its
        # --enable_events default), so they are spent only when someone looks.
        task_send_sent_event=False,
        worker_send_task_events=False,
        worker_hijack_root_logger=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        # Celery declares each worker's remote-control queue exclusive to its connection. A
        # worker host cut off and back finds RabbitMQ still holding its old connection (until
        # the broker's heartbeat check drops it) and exits on the locked queue
        # ("ResourceLocked ... celery.pidbox"). Not exclusive, the queue is still deleted with
        # its last consumer, and the returning worker declares it again (docs/liveness.md).
        control_queue_exclusive=False,
        # A pool child that grew past half the per-parse cap (fragmentation, caches) is
        # replaced after its task; KiB, as Celery counts it.
        worker_max_memory_per_child=settings.item_memory_limit_mb * 512 or None,
        beat_schedule={
            "sweep": {"task": SWEEP, "schedule": settings.sweep_interval_seconds},
        },
        # One periodic task, due every interval from start: nothing worth a schedule file.
        beat_scheduler=BEAT_SCHEDULER,
        # RabbitMQ declares each queue with this many priority levels.
        task_queue_max_priority=RECOVERED_PRIORITY,
        task_default_priority=message_priority(PRIORITY["medium"], settings),
        timezone="UTC",
    )
    if broker.startswith("amqp"):
        # RabbitMQ closes the channel of a task unacked past consumer_timeout (celery#6760).
        app.conf.broker_transport_options = {"confirm_publish": True}


def make_celery(settings: Settings | None = None) -> Celery:
    settings = settings or get_settings()
    app = Celery("batchsvc")
    configure(app, settings)
    return app


celery_app = make_celery()


def reconfigure(settings: Settings) -> None:
    """Point the process-wide app at new settings (tests and the CLI)."""
    configure(celery_app, settings)


def send(name: str, *args: Any, **options: Any) -> None:
    """Publish now. Inside a unit of work use ``uow.send``: it publishes after the commit."""
    celery_app.send_task(name, args=args, **options)
