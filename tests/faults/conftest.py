"""One private PostgreSQL + Redis + stack for the fault tests: stopping them harms nothing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.faults.scenarios import FaultEnv, fault_env


@pytest.fixture(scope="package")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultEnv]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with fault_env(tmp_path_factory.mktemp("faults")) as fault:
        yield fault
