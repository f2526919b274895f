"""One live deployment (gunicorn API, a real worker, Postgres, Redis) for the security tests,
with a second project whose key must never see the first project's rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from batchsvc.services.auth import create_api_key
from tests.conftest import Stack, base_settings, running_stack
from tests.harness import REDIS_URL, port_open


@pytest.fixture(scope="package")
def stack(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if not port_open(6379):
        pytest.skip("Redis is not running on 127.0.0.1:6379")
    settings = base_settings(tmp_path_factory.mktemp("security"), database_url=pg_url,
                             broker_url=REDIS_URL)
    with running_stack(settings) as running:
        yield running


@pytest.fixture(scope="package")
def other_key(stack: Stack) -> str:
    """An API key of another project."""
    with stack.session() as session:
        return create_api_key(session, f"other-{uuid.uuid4().hex[:8]}")
