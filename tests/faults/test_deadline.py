"""The per-item limit arithmetic and the in-process deadline (no services needed)."""

from __future__ import annotations

import time

import pytest

from batchsvc.limits import ItemTimeout, celery_time_limits, deadline, item_seconds


def test_limit_is_base_plus_pages_capped_by_the_server() -> None:
    params = {"job_timeout_in_seconds": 10, "job_timeout_extra_time_per_page_in_seconds": 2}
    assert item_seconds(params, 1, cap=600) == 12
    assert item_seconds(params, 50, cap=600) == 110
    assert item_seconds(params, 10_000, cap=600) == 600
    assert item_seconds({}, 3, cap=600) == 600
    # Nonsense values are ignored rather than turned into a zero or negative limit.
    assert item_seconds({"job_timeout_in_seconds": "soon"}, 1, cap=30) == 30
    assert item_seconds({"job_timeout_in_seconds": -5}, 1, cap=30) == 30


def test_celery_backstop_lies_above_every_deadline() -> None:
    assert celery_time_limits({"job_timeout_in_seconds": 10}, cap=600) == (15, 30)
    # With a per-page allowance the page count is unknown at dispatch: the server cap.
    soft, hard = celery_time_limits({"job_timeout_in_seconds": 10,
                                     "job_timeout_extra_time_per_page_in_seconds": 1}, 600)
    assert 600 < soft < hard


def test_deadline_interrupts_and_is_not_swallowed() -> None:
    # The loop never ends by itself, and swallows every Exception like an engine's page loop.
    with pytest.raises(ItemTimeout, match=r"^timed out after 0.3 s$"), deadline(0.3):
        while True:
            try:
                time.sleep(0.05)
            except Exception:  # noqa: BLE001
                continue


def test_deadline_is_disarmed_after_the_block() -> None:
    with deadline(0.2):
        pass
    time.sleep(0.4)  # would raise here if the timer were still armed
