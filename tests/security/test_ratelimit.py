"""Per-key rate limiting: 429 with Retry-After past the limit, per key, shared through Redis
by every API process, in-process without Redis, and never an outage when Redis is away."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from batchsvc.app import create_app
from batchsvc.settings import Settings
from tests.conftest import new_key
from tests.harness import REDIS_URL, free_port, port_open

PATH = "/api/v1/beta/directories"


def _get(app: Any, key: str) -> Any:
    return app.test_client().get(PATH, headers={"Authorization": f"Bearer {key}"})


def _assert_limited(response: Any, per_minute: int) -> None:
    assert response.status_code == 429
    assert f"{per_minute} requests per minute" in response.get_json()["detail"]
    # One token comes back every 60/limit seconds.
    assert 1 <= int(response.headers["Retry-After"]) <= 60 // per_minute + 1


def test_in_process_bucket_per_key(sqlite_settings: Settings) -> None:
    app = create_app(replace(sqlite_settings, rate_limit_per_minute=3))
    key, other = new_key(), new_key("other")
    assert [_get(app, key).status_code for _ in range(3)] == [200, 200, 200]
    _assert_limited(_get(app, key), 3)
    assert _get(app, other).status_code == 200  # another key has its own bucket
    bad = app.test_client().get(PATH, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_limit_off_by_default(sqlite_settings: Settings) -> None:
    app = create_app(sqlite_settings)
    key = new_key()
    assert {_get(app, key).status_code for _ in range(30)} == {200}


@pytest.mark.skipif(not port_open(6379), reason="Redis is not running on 127.0.0.1:6379")
def test_redis_bucket_is_shared_by_api_processes(sqlite_settings: Settings) -> None:
    settings = replace(sqlite_settings, rate_limit_per_minute=4, broker_url=REDIS_URL)
    first, second = create_app(settings), create_app(settings)
    key = new_key()
    assert [_get(app, key).status_code for app in (first, second, first, second)] == [200] * 4
    _assert_limited(_get(first, key), 4)
    _assert_limited(_get(second, key), 4)


def test_unreachable_redis_lets_requests_through(sqlite_settings: Settings) -> None:
    settings = replace(sqlite_settings, rate_limit_per_minute=1,
                       broker_url=f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(settings)
    key = new_key()
    assert [_get(app, key).status_code for _ in range(3)] == [200, 200, 200]
