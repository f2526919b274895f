"""The state machines of jobs, items and webhook deliveries: one module, read by everyone.

The statuses are string enums (they compare equal to, and are stored as, their values), the
legal moves are listed once, and so is what each item status counts toward. Whoever changes a
status in SQL takes the statuses, the allowed sources and the counters from here.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class ItemStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    # Waits for an earlier event of the same job and configuration to be delivered first.
    WAITING = "waiting"
    DELIVERED = "delivered"
    FAILED = "failed"
    # The receiver answered 410 Gone: it hears nothing more of this job.
    GONE = "gone"


J, I = JobStatus, ItemStatus  # noqa: E741 - short names for the tables below

# Legal moves. A job is cancelled from any live status; it ends completed or failed only once
# every item is terminal (pipeline.advance). Cancelled jobs keep cancelled even while their
# running items finish.
JOB_MOVES: dict[JobStatus, frozenset[JobStatus]] = {
    # pending -> failed: the S3 prefix its directory was to be filled from could not be read.
    J.PENDING: frozenset({J.DISPATCHED, J.FAILED, J.CANCELLED}),
    J.DISPATCHED: frozenset({J.RUNNING, J.COMPLETED, J.FAILED, J.CANCELLED}),
    J.RUNNING: frozenset({J.COMPLETED, J.FAILED, J.CANCELLED}),
    J.COMPLETED: frozenset(),
    J.FAILED: frozenset(),
    J.CANCELLED: frozenset(),
}
# An item is claimed (pending -> processing), finished by its holder, handed back by the
# sweeper when its holder is gone (processing -> pending), or cancelled with its job.
ITEM_MOVES: dict[ItemStatus, frozenset[ItemStatus]] = {
    I.PENDING: frozenset({I.PROCESSING, I.CANCELLED}),
    I.PROCESSING: frozenset({I.COMPLETED, I.FAILED, I.SKIPPED, I.PENDING, I.CANCELLED}),
    I.COMPLETED: frozenset(),
    I.FAILED: frozenset(),
    I.SKIPPED: frozenset(),
    I.CANCELLED: frozenset(),
}

JOB_ACTIVE = (J.DISPATCHED, J.RUNNING)
JOB_TERMINAL = tuple(s for s, moves in JOB_MOVES.items() if not moves)
ITEM_OPEN = (I.PENDING, I.PROCESSING)
ITEM_TERMINAL = tuple(s for s, moves in ITEM_MOVES.items() if not moves)

# What each terminal item status counts toward: the job's cached counter columns (and the
# matching columns of a count mark).
ITEM_COUNTERS: dict[ItemStatus, str] = {
    I.COMPLETED: "processed_items",
    I.FAILED: "failed_items",
    I.SKIPPED: "skipped_items",
    I.CANCELLED: "cancelled_items",
}


def job_sources(target: JobStatus) -> tuple[JobStatus, ...]:
    """The statuses a job may move to ``target`` from (the WHERE of a conditional UPDATE)."""
    return tuple(s for s, moves in JOB_MOVES.items() if target in moves)


def item_sources(target: ItemStatus) -> tuple[ItemStatus, ...]:
    return tuple(s for s, moves in ITEM_MOVES.items() if target in moves)


def is_final(status: str) -> bool:
    """A job that can change no more."""
    return status in JOB_TERMINAL
