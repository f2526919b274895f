"""Publishing a chord on Redis subscribes to no header result (batchsvc/messaging/backend.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, chord

from batchsvc.messaging import configure
from batchsvc.messaging.backend import ChordHeaderQuietRedisBackend, backend_url
from batchsvc.settings import Settings
from tests.harness import REDIS_URL, port_open


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[Celery]:
    if not port_open(6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    app = Celery("chord-backend-test")
    configure(app, Settings(broker_url=REDIS_URL, data_dir=str(tmp_path),
                            namespace=f"t{uuid.uuid4().hex[:8]}-"))
    app.conf.task_routes = {"*": {"queue": f"q-{uuid.uuid4().hex}"}}  # nobody consumes it
    yield app
    app.close()


def subscribed(app: Celery) -> set[Any]:
    return set(app.backend.result_consumer.subscribed_to)


def test_redis_urls_get_the_quiet_backend(app: Celery) -> None:
    assert isinstance(app.backend, ChordHeaderQuietRedisBackend)
    assert backend_url("db+sqlite:///x.db") == "db+sqlite:///x.db"


def test_a_published_chord_subscribes_to_no_header_result(app: Celery) -> None:
    @app.task(name="t.item")
    def item(i: int) -> int:
        return i

    @app.task(name="t.done")
    def done(results: list[int]) -> int:
        return len(results)

    # Held, as a caller may: without the fix each live header result keeps a subscription.
    body = chord(item.s(i) for i in range(20))(done.s())
    assert len(body.parent.results) == 20
    assert subscribed(app) == set()


def test_an_explicit_wait_still_subscribes(app: Celery) -> None:
    result = app.AsyncResult(str(uuid.uuid4()))
    app.backend.add_pending_result(result)
    assert subscribed(app) == {app.backend.get_key_for_task(result.id)}
    app.backend.remove_pending_result(result)
