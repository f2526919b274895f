"""File bytes behind one small interface. Messages carry refs, never bytes.

A row keeps a *ref* to its object (``Storage.ref``): a bare key for the stores next to the
service (``file://``, ``db://``; local.py) or an ``s3://bucket/key`` URL (s3.py). New objects
go to the store ``BATCHSVC_STORAGE_URL`` names; every ref is read from the store it names,
so changing the storage setting never needs existing data moved to keep reading it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import IO, Any
from urllib.parse import urlparse

import sqlalchemy as sa

from batchsvc.storage.base import CHUNK, Storage, StorageError, TooLarge
from batchsvc.storage.local import DatabaseStorage, FileStorage
from batchsvc.storage.s3 import S3Storage, split_url

__all__ = ["CHUNK", "Storage", "StorageError", "TooLarge", "Stores", "get_storage",
           "storage_from_url", "is_s3"]


def is_s3(ref: str) -> bool:
    return ref.startswith("s3://")


def storage_from_url(url: str) -> Storage:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileStorage(parsed.path)
    if parsed.scheme == "db":
        from batchsvc.db import get_engine

        return DatabaseStorage(get_engine)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StorageError("BATCHSVC_STORAGE_URL s3:// needs a bucket: s3://bucket/prefix")
        return S3Storage(parsed.netloc, parsed.path)
    raise StorageError(f"unsupported BATCHSVC_STORAGE_URL scheme {parsed.scheme!r}")


@cache
def bucket(name: str, region: str | None = None) -> S3Storage:
    """A bucket's objects by their full key (a ref's, or a user's input/output path)."""
    return S3Storage(name, "", region)


class Stores:
    """The Storage interface over refs: writes of new keys go to ``writer`` (``ref(key)``
    says where); each ref is read, rewritten or deleted in the store it names: ``s3://``
    refs in their bucket, bare keys in ``local`` (the store next to the service)."""

    def __init__(self, writer: Storage, local: Storage) -> None:
        self.writer, self.local = writer, local

    def resolve(self, ref: str) -> tuple[Storage, str]:
        if is_s3(ref):
            name, key = split_url(ref)
            return bucket(name), key
        return self.local, ref

    def ref(self, key: str) -> str:
        return self.writer.ref(key)

    def put_stream(self, ref: str, stream: IO[bytes], limit: int | None = None
                   ) -> tuple[int, str]:
        store, key = self.resolve(ref)
        return store.put_stream(key, stream, limit)

    def put_bytes(self, ref: str, data: bytes, connection: sa.Connection | None = None) -> None:
        store, key = self.resolve(ref)
        store.put_bytes(key, data, connection)

    def get_bytes(self, ref: str, connection: sa.Connection | None = None,
                  etag: str | None = None) -> bytes:
        """``etag``: the object must still be that version (a file registered by reference
        is read as it was listed, never as whatever replaced it)."""
        if etag and is_s3(ref):
            name, key = split_url(ref)
            return bucket(name).get_bytes(key, if_match=etag)
        store, key = self.resolve(ref)
        return store.get_bytes(key, connection)

    def iter_chunks(self, ref: str) -> Iterator[bytes]:
        store, key = self.resolve(ref)
        return store.iter_chunks(key)

    def delete(self, ref: str, connection: sa.Connection | None = None) -> None:
        store, key = self.resolve(ref)
        store.delete(key, connection)

    def location(self, ref: str) -> str:
        store, key = self.resolve(ref)
        return store.location(key)

    def presigned_get(self, ref: str, ttl_seconds: int, filename: str | None = None
                      ) -> str | None:
        store, key = self.resolve(ref)
        return store.presigned_get(key, ttl_seconds, filename)

    def sql_reader(self, key: Any) -> Any | None:
        # The local store's reader: NULL for an s3:// ref, whose bytes are read afterwards.
        return self.local.sql_reader(key)

    def sql_writer(self, size: int) -> Any | None:
        return self.writer.sql_writer(size)


_storage: Stores | None = None
_storage_urls: tuple[str, str] | None = None


def get_storage() -> Stores:
    global _storage, _storage_urls
    from batchsvc.settings import get_settings

    settings = get_settings()
    urls = (settings.resolved_storage_url, settings.resolved_local_storage_url)
    if _storage is None or _storage_urls != urls:
        writer = storage_from_url(urls[0])
        local = writer if urls[0] == urls[1] else storage_from_url(urls[1])
        _storage, _storage_urls = Stores(writer, local), urls
    return _storage
