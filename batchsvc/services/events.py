"""Following a job's progress as server-sent events."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from batchsvc.services.batches import fresh_view, get_job
from batchsvc.states import JOB_TERMINAL
from batchsvc.uow import read_only

HEARTBEAT_SECONDS = 15.0
# An events stream holds a server thread; clients (EventSource) reconnect after this.
STREAM_MAX_SECONDS = 600.0


def _sse(event: str, data: dict[str, Any], event_id: int) -> bytes:
    return f"id: {event_id}\nevent: {event}\ndata: {json.dumps(data)}\n\n".encode()


def progress_events(project_id: str, job_id: str, interval: float,
                    render: Callable[[dict[str, Any]], dict[str, Any]]) -> Iterator[bytes]:
    """Server-sent events: ``progress`` whenever the counts change, ``end`` once the job has
    ended, a comment line as heartbeat, and a reconnect hint after STREAM_MAX_SECONDS.
    ``render``: the status body for a job view (the API's schema)."""
    started = last_sent = time.monotonic()
    previous: dict[str, Any] | None = None
    event_id = 0
    yield b"retry: 2000\n\n"
    while True:
        with read_only() as session:
            job = get_job(session, project_id, job_id)
            view = fresh_view(session, job)
            ended = job.status in JOB_TERMINAL and job.completed_at is not None
        data = render(view)
        now = time.monotonic()
        if data != previous:
            event_id += 1
            yield _sse("progress", data, event_id)
            previous, last_sent = data, now
        if ended:
            yield _sse("end", data, event_id + 1)
            return
        if now - started > STREAM_MAX_SECONDS:
            return
        if now - last_sent > HEARTBEAT_SECONDS:
            yield b": keep-alive\n\n"
            last_sent = now
        time.sleep(interval)
