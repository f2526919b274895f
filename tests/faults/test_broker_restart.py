"""A worker's broker connection, closed after Redis went away and came back, closes without
the AttributeError that made Celery 5.7 workers exit (batchsvc/messaging/redis_close.py)."""

from __future__ import annotations

import shutil

import pytest
from kombu import Connection, Consumer, Producer, Queue
from kombu.common import ignore_errors

import batchsvc.messaging  # noqa: F401 - installs the guard for Redis brokers, as workers do
from batchsvc.messaging import redis_close
from tests.faults.services import PrivateRedis

pytestmark = pytest.mark.faults


def test_a_consumer_connection_closes_after_redis_restarted_under_it() -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis_close.install()
    redis = PrivateRedis()
    try:
        conn = Connection(redis.url)
        channel = conn.default_channel
        queue = Queue("items", routing_key="items")
        Producer(channel).publish({"n": 1}, routing_key="items", declare=[queue])
        delivered: list[object] = []
        consumer = Consumer(channel, [queue], callbacks=[lambda _b, m: delivered.append(m)])
        consumer.consume()
        conn.drain_events(timeout=5)
        assert delivered and channel.qos._delivered  # one message held, unacknowledged
        # As in the worker's event loop: the channel waits in BRPOP when Redis goes away.
        channel._brpop_start()
        redis.stop()
        # Celery's consumer on the connection loss collects the connection: the close of
        # the channel fails midway (Redis is down), then the transport is closed. Here the
        # two steps one after the other (collect() itself may get further or not, by timing).
        ignore_errors(conn, channel.close)
        assert not channel.closed
        conn._do_close_transport()
        redis.start()
        # Then the consumer closes the connection, Redis being back: the channel's second
        # close restores the held message, through a transport that is gone.
        ignore_errors(conn, conn.close)
        assert channel.closed
    finally:
        redis.close()
