"""The ``priority`` job option end to end on Redis and on RabbitMQ: a batch created with a
higher priority overtakes a long low-priority one already queued, on one item worker with
one process (so the order items start in is the order the broker hands them out)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from batchsvc.messaging import (
    PRIORITY,
    RECOVERED_PRIORITY,
    message_priority,
    queue_name,
    redis_priority_lists,
)
from tests.conformance.sdk_flow import read_bytes, wait_job
from tests.conftest import Stack, base_settings, running_stack
from tests.harness import AMQP_URL, REDIS_URL, port_open, wait_for

pytestmark = pytest.mark.integration
LOW_ITEMS, HIGH_ITEMS = 8, 2


@pytest.fixture(scope="module", params=["redis", "rabbitmq"])
def stack(request: pytest.FixtureRequest, module_pg_url: str,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    broker, port = (REDIS_URL, 6379) if request.param == "redis" else (AMQP_URL, 5672)
    if not port_open(port):
        pytest.skip(f"{request.param} is not running on 127.0.0.1:{port}")
    settings = base_settings(tmp_path_factory.mktemp(f"priority-{request.param}"),
                             database_url=module_pg_url, broker_url=broker)
    with running_stack(settings, workers=0) as live:
        # Control messages (dispatch, page callbacks) on a worker of their own, so the item
        # worker's order is the parse queue's alone.
        live.add_worker(queues=("control", "webhooks", "classify"), concurrency=1, beat=True)
        live.add_worker(queues=("parse",), concurrency=1)
        yield live


def upload(client: Any, name: str, count: int, tag: str) -> list[str]:
    data = read_bytes(name)
    return [client.files.create(file=(f"{tag}-{i}.pdf", data), purpose="parse").id
            for i in range(count)]


def started(client: Any, job_id: str) -> list[Any]:
    return sorted(i.started_at for i in client.beta.batch.job_items.list(job_id))


def test_higher_priority_batch_overtakes_a_queued_low_one(stack: Stack) -> None:
    client = stack.sdk()
    # About a second per item: the low batch is still queued when the high one arrives.
    low_ids = upload(client, "GeoTopo-komprimiert.pdf", LOW_ITEMS, "low")
    high_ids = upload(client, "multi_page.pdf", HIGH_ITEMS, "high")
    low = client.beta.batch.create(job_config={"parameters": {
        "priority": "low", "max_pages": 60, "invalidate_cache": True}}, item_ids=low_ids)
    wait_for(lambda: any(i.started_at for i in client.beta.batch.job_items.list(low.id)),
             timeout=60, interval=0.1, message="the low batch's first item")
    assert_broker_priorities(stack)
    high = client.beta.batch.create(job_config={"parameters": {
        "priority": "high", "invalidate_cache": True}}, item_ids=high_ids)
    assert wait_job(client, high.id).job.processed_items == HIGH_ITEMS
    assert wait_job(client, low.id).job.processed_items == LOW_ITEMS

    lows, highs = started(client, low.id), started(client, high.id)
    begun = sum(t <= high.created_at for t in lows)
    assert begun <= LOW_ITEMS - 3, "the low batch ran out before the high one arrived"
    # At most the one low item that started while the high batch was being dispatched runs
    # between them; first in, first out would run every queued low item first.
    before_high = sum(t < highs[-1] for t in lows)
    assert before_high <= begun + 1, (begun, lows, highs)


def assert_broker_priorities(stack: Stack) -> None:
    """What the broker holds while the low batch is queued: on Redis the low items wait in
    the list of their priority step; on RabbitMQ the queue was declared with x-max-priority
    (declaring it again with that argument succeeds only when the arguments match)."""
    import kombu

    settings = stack.settings
    parse = queue_name("parse", settings)
    with kombu.Connection(settings.broker_url) as conn:
        channel = conn.channel()
        if settings.broker_url.startswith("redis"):
            step = message_priority(PRIORITY["low"], settings)
            waiting = channel.client.llen(redis_priority_lists(parse)[step])
            assert waiting >= LOW_ITEMS - 3, (step, waiting)
        else:
            declared = channel.queue_declare(parse, durable=True, auto_delete=False,
                                             arguments={"x-max-priority": RECOVERED_PRIORITY})
            assert declared.message_count >= LOW_ITEMS - 3
        channel.close()
