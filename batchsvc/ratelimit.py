"""Per-API-key rate limiting: a token bucket of ``BATCHSVC_RATE_LIMIT_PER_MINUTE`` requests.

With a Redis broker the bucket lives in Redis, so every API process and host shares it;
otherwise (embedded, RabbitMQ) each API process keeps its own. The bucket holds a minute's
worth of tokens, so a burst up to the limit passes and then requests are spaced evenly.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Protocol

from batchsvc.settings import Settings

log = logging.getLogger("batchsvc.ratelimit")

# KEYS[1] bucket; ARGV: tokens per second, capacity. Returns {allowed, seconds to wait}.
# Redis's own clock keeps every API host on one time line.
_TAKE = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed, wait = 0, 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
return {allowed, tostring(wait)}
"""


class Limiter(Protocol):
    per_minute: int

    def wait_seconds(self, key: str) -> float:
        """0 if a request with this API key may proceed now, else seconds until it may."""


def _bucket_id(key: str) -> str:
    # Never keep the key itself, not even in Redis.
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class LocalLimiter:
    """One bucket per key in this process."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, key: str) -> float:
        bucket, now = _bucket_id(key), time.monotonic()
        with self._lock:
            tokens, ts = self._buckets.get(bucket, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - ts) * self._rate)
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            if tokens >= 1:
                self._buckets[bucket] = (tokens - 1, now)
                return 0.0
            self._buckets[bucket] = (tokens, now)
            return (1 - tokens) / self._rate


class RedisLimiter:
    """One bucket per key in Redis, shared by every API process."""

    def __init__(self, per_minute: int, url: str, namespace: str) -> None:
        import redis

        self.per_minute = per_minute
        self._prefix = f"{namespace}ratelimit:"
        self._client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._take = self._client.register_script(_TAKE)

    def wait_seconds(self, key: str) -> float:
        import redis

        try:
            allowed, wait = self._take(keys=[self._prefix + _bucket_id(key)],
                                       args=[self.per_minute / 60.0, self.per_minute])
        except redis.RedisError as exc:
            # Limiting is protection, not correctness: with Redis away, serve rather than fail.
            log.warning("rate limiter unavailable, request allowed: %s", type(exc).__name__)
            return 0.0
        return 0.0 if int(allowed) else float(wait)


def limiter_for(settings: Settings) -> Limiter | None:
    if settings.rate_limit_per_minute <= 0:
        return None
    if settings.celery_broker_url.startswith(("redis://", "rediss://")):
        return RedisLimiter(settings.rate_limit_per_minute, settings.celery_broker_url,
                            settings.namespace)
    return LocalLimiter(settings.rate_limit_per_minute)
