"""What every store offers: the Storage protocol, its errors and the chunk size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any, Protocol

import sqlalchemy as sa

CHUNK = 1024 * 1024


class StorageError(Exception):
    pass


class TooLarge(StorageError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"file is larger than the limit of {limit} bytes")
        self.limit = limit


class Storage(Protocol):
    # Hashable: callers cache statements built for a store.
    def __hash__(self) -> int: ...

    def put_stream(self, key: str, stream: IO[bytes], limit: int | None = None) -> tuple[int, str]:
        """Store a stream; return (size, sha256 hex). Raise TooLarge past ``limit`` bytes."""

    def put_bytes(self, key: str, data: bytes, connection: sa.Connection | None = None) -> None:
        """``connection``: a database store writes inside the caller's transaction."""

    def get_bytes(self, key: str, connection: sa.Connection | None = None) -> bytes: ...

    def iter_chunks(self, key: str) -> Iterator[bytes]: ...

    def delete(self, key: str, connection: sa.Connection | None = None) -> None: ...

    def location(self, key: str) -> str:
        """Where the object is, as a URL naming its store (lineage's ``output_s3_path``)."""

    def ref(self, key: str) -> str:
        """What a row keeps to find the object again: the bare key for the stores next to the
        service (rows written before object storage hold bare keys too), the ``s3://`` URL
        for an object store, so a row read after a storage change still names its store."""

    def presigned_get(self, key: str, ttl_seconds: int, filename: str | None = None
                      ) -> str | None:
        """A URL that downloads the object without the API (an object store's presigned GET),
        valid ``ttl_seconds``; None when the store has none (the API then signs a link to its
        own download route)."""

    def sql_reader(self, key: Any) -> Any | None:
        """Postgres: an expression reading the bytes stored under ``key`` (a column) inside
        the caller's own query (the item claim), or None when the bytes live elsewhere."""

    def sql_writer(self, size: int) -> Any | None:
        """Postgres: an INSERT storing a new object of ``size`` bytes (parameters
        ``blob_key``, ``blob_data``) inside the caller's own statement, or None."""


def read_limited(stream: IO[bytes], limit: int | None, size: int = CHUNK) -> Iterator[bytes]:
    """``stream`` in pieces of ``size`` bytes; TooLarge past ``limit``."""
    total = 0
    while True:
        chunk = stream.read(size)
        if not chunk:
            return
        total += len(chunk)
        if limit is not None and total > limit:
            raise TooLarge(limit)
        yield chunk
