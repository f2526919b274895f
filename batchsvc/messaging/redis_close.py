"""A worker survives a Redis restart: the close of a channel whose transport is gone raises
the transport's connection error, which the close ignores, instead of an AttributeError.

Celery 5.7's consumer, on losing the broker, first ``collect()``s the connection (which closes
its channels and then its transport, setting the transport's ``client`` to None) and then
``close()``s it. A channel whose first close failed midway (Redis still down) is closed again;
if Redis is back by then, that close restores the unacknowledged messages through a new
client pool built from ``transport.client``: ``AttributeError: 'NoneType' object has no
attribute 'hostname'``, which ``ignore_errors`` does not ignore. The worker logs
"Unrecoverable error" and exits (seen in tests/faults' Redis restart: both item workers of the
cluster exited and the batch waited for ever). With the guard the restore is skipped like any
restore that cannot reach Redis: the messages come back by the visibility timeout, and the
items sooner by their leases and the sweeper (docs/liveness.md).
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_connparams = kombu_redis.Channel._connparams


def _connparams_of_an_open_transport(self: Any, asynchronous: bool = False) -> Any:
    if self.connection is None or self.connection.client is None:
        raise RedisConnectionError("the broker connection of this channel was closed")
    return _connparams(self, asynchronous=asynchronous)


def install() -> None:
    """Guard kombu's Redis channels (idempotent)."""
    kombu_redis.Channel._connparams = _connparams_of_an_open_transport  # type: ignore[method-assign]
