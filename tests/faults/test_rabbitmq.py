"""The worker faults again with RabbitMQ as the broker (a consumer's unacked messages return
the moment its connection dies, where Redis waits for its visibility timeout)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.scenarios import FaultEnv, fault_env, run_fault
from tests.faults.test_faults import assert_accounted, run_again
from tests.harness import port_open

pytestmark = pytest.mark.faults


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultEnv]:
    if not port_open(5672):
        pytest.skip("RabbitMQ is not running on 127.0.0.1:5672")
    with fault_env(tmp_path_factory.mktemp("faults-amqp"), broker="rabbitmq") as env:
        yield env


@pytest.mark.parametrize("fault", ["kill -9 worker", "kill -9 pool child"])
def test_worker_faults_on_rabbitmq(rabbit: FaultEnv, fault: str) -> None:
    run_again(rabbit, fault)


def test_rolling_restart_on_rabbitmq(rabbit: FaultEnv) -> None:
    results = run_fault(rabbit, "rolling restart")
    assert_accounted(results[0])
    assert results[1].accounted and results[1].status == "completed", results[1]
