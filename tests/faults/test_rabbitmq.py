"""The worker faults again with RabbitMQ as the broker (a consumer's unacked messages return
the moment its connection dies, where Redis waits for its visibility timeout)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection

from batchsvc.messaging import make_celery
from tests.faults.scenarios import FaultEnv, fault_env, run_fault
from tests.faults.test_faults import assert_accounted, run_again
from tests.harness import AMQP_URL, Worker, port_open

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


def test_a_worker_returns_while_rabbitmq_still_holds_its_old_connection(rabbit: FaultEnv
                                                                          ) -> None:
    """A worker host cut off and back (tests/faults/test_hosts.py) may find RabbitMQ still
    holding its old connection, whose remote-control queue an exclusive declaration would
    lock against the returning worker ("ResourceLocked ... celery.pidbox", and the worker
    exits). Here the old connection is one that declared and consumes that queue as the
    worker does."""
    name = f"w{uuid.uuid4().hex[:8]}@test"
    # The worker's own configuration (the suite's process-wide app may point elsewhere).
    app = make_celery(rabbit.stack.settings)
    old = Connection(AMQP_URL)
    queue = app.control.mailbox.get_queue(name)(old.default_channel)
    queue.declare()
    old.default_channel.basic_consume(queue.name, no_ack=True, callback=lambda *_: None)
    try:
        worker = Worker(rabbit.stack.settings, queues=("control",), concurrency=1, name=name)
        time.sleep(3)
        assert worker.proc.poll() is None, worker.log_path.read_text()[-3000:]
    finally:
        old.release()
    try:
        # Asked until it answers (a busy machine may take a while): it must, once.
        replies: list[dict[str, object]] = []
        for _ in range(6):
            replies = app.control.ping(destination=[name], timeout=5)
            if replies:
                break
        assert replies and name in replies[0], replies
    finally:
        worker.stop()
