"""Beat's scheduler: the sweeper's one entry, kept in memory.

Celery's default scheduler keeps its state in a shelve file, and beat died at start when that
file's directory did not exist yet. A schedule of one task due every interval from start has
nothing worth persisting. Each tick touches ``<data_dir>/beat-alive`` (creating the directory)
for container health checks; a failure to write it is reported once and changes nothing else.
"""

from __future__ import annotations

import logging
from typing import Any

from celery.beat import Scheduler

from batchsvc.settings import get_settings

log = logging.getLogger("batchsvc.beat")
ALIVE_FILE = "beat-alive"


class SweepScheduler(Scheduler):
    _touch_failed = False

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = super().tick(*args, **kwargs)
        self._touch()
        return interval

    def _touch(self) -> None:
        path = get_settings().data_path / ALIVE_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError as exc:
            if not self._touch_failed:
                log.warning("cannot write %s (%s); beat runs on without it", path, exc)
                self._touch_failed = True
