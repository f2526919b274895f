"""The stores that keep bytes next to the service.

- ``file:///path``: a directory (the embedded default; a shared mount works for a fleet).
- ``db://``: chunks in the ``blobs`` table of the service database, so a fleet needs no
  service beyond Postgres and the broker (the default when the database is Postgres).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import IO, Any, cast

import sqlalchemy as sa

from batchsvc.storage.base import CHUNK, StorageError
from batchsvc.storage.base import read_limited as _read_limited


class FileStorage:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise StorageError(f"invalid storage key {key!r}")
        return path

    def put_stream(self, key: str, stream: IO[bytes], limit: int | None = None) -> tuple[int, str]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        # Write to a temporary name and rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in _read_limited(stream, limit):
                    digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size, digest.hexdigest()

    def put_bytes(self, key: str, data: bytes, connection: sa.Connection | None = None) -> None:
        import io

        self.put_stream(key, io.BytesIO(data))

    def get_bytes(self, key: str, connection: sa.Connection | None = None) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"stored object {key!r} is missing") from exc

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        try:
            fh = self._path(key).open("rb")
        except FileNotFoundError as exc:
            raise StorageError(f"stored object {key!r} is missing") from exc
        with fh:
            while chunk := fh.read(CHUNK):
                yield chunk

    def delete(self, key: str, connection: sa.Connection | None = None) -> None:
        self._path(key).unlink(missing_ok=True)

    def location(self, key: str) -> str:
        return self._path(key).as_uri()

    def ref(self, key: str) -> str:
        return key

    def presigned_get(self, key: str, ttl_seconds: int, filename: str | None = None
                      ) -> str | None:
        return None

    def sql_reader(self, key: Any) -> Any | None:
        return None

    def sql_writer(self, size: int) -> Any | None:
        return None


@cache
def _blob_statements() -> tuple[Any, Any, Any, Any]:
    """(delete, insert, select all chunks, insert a whole object as chunk 0) for one key,
    built once: the item path runs them per item, and building a statement costs more CPU
    than executing it."""
    from batchsvc.models import Blob

    table = cast(sa.Table, Blob.__table__)
    key: sa.BindParameter[Any] = sa.bindparam("b_key")
    return (table.delete().where(table.c.key == key), table.insert(),
            sa.select(table.c.data).where(table.c.key == key).order_by(table.c.chunk),
            table.insert().values(key=sa.bindparam("blob_key"), chunk=0,
                                  data=sa.bindparam("blob_data", type_=sa.LargeBinary)))


class DatabaseStorage:
    def __init__(self, engine_getter) -> None:  # type: ignore[no-untyped-def]
        self._engine_getter = engine_getter

    @property
    def _engine(self) -> sa.Engine:
        return self._engine_getter()

    def put_stream(self, key: str, stream: IO[bytes], limit: int | None = None) -> tuple[int, str]:
        with self._engine.begin() as conn:
            return self._write(conn, key, stream, limit)

    @staticmethod
    def _write(conn: sa.Connection, key: str, stream: IO[bytes],
               limit: int | None) -> tuple[int, str]:
        delete, insert, _, _ = _blob_statements()
        digest, size = hashlib.sha256(), 0
        conn.execute(delete, {"b_key": key})
        index = -1
        for index, chunk in enumerate(_read_limited(stream, limit)):
            digest.update(chunk)
            size += len(chunk)
            conn.execute(insert, {"key": key, "chunk": index, "data": chunk})
        if index < 0:
            # An empty file is one empty chunk, so "empty" is never read as "missing".
            conn.execute(insert, {"key": key, "chunk": 0, "data": b""})
        return size, digest.hexdigest()

    def put_bytes(self, key: str, data: bytes, connection: sa.Connection | None = None) -> None:
        import io

        if connection is None:
            self.put_stream(key, io.BytesIO(data))
        else:
            self._write(connection, key, io.BytesIO(data), None)

    def iter_chunks(self, key: str) -> Iterator[bytes]:
        from batchsvc.models import Blob

        table = cast(sa.Table, Blob.__table__)
        index, found = 0, False
        # One chunk per query keeps memory flat however large the object is.
        while True:
            with self._engine.connect() as conn:
                row = conn.execute(
                    sa.select(table.c.data).where(table.c.key == key, table.c.chunk == index)
                ).first()
            if row is None:
                break
            found = True
            yield bytes(row[0])
            index += 1
        if not found:
            raise StorageError(f"stored object {key!r} is missing")

    def get_bytes(self, key: str, connection: sa.Connection | None = None) -> bytes:
        if connection is None:
            return b"".join(self.iter_chunks(key))
        # The whole object is wanted in memory anyway: one query on the caller's connection.
        chunks = connection.execute(_blob_statements()[2], {"b_key": key}).scalars().all()
        if not chunks:
            raise StorageError(f"stored object {key!r} is missing")
        return b"".join(chunks)

    def delete(self, key: str, connection: sa.Connection | None = None) -> None:
        from batchsvc.models import Blob

        table = cast(sa.Table, Blob.__table__)
        if connection is not None:
            connection.execute(table.delete().where(table.c.key == key))
            return
        with self._engine.begin() as conn:
            conn.execute(table.delete().where(table.c.key == key))

    def location(self, key: str) -> str:
        return f"db://blobs/{key}"

    def ref(self, key: str) -> str:
        return key

    def presigned_get(self, key: str, ttl_seconds: int, filename: str | None = None
                      ) -> str | None:
        return None

    def sql_reader(self, key: Any) -> Any | None:
        from sqlalchemy.dialects.postgresql import aggregate_order_by

        from batchsvc.models import Blob

        table = cast(sa.Table, Blob.__table__)
        return sa.select(sa.func.string_agg(
            table.c.data, aggregate_order_by(sa.literal(b"", sa.LargeBinary), table.c.chunk),
            type_=sa.LargeBinary)).where(table.c.key == key).scalar_subquery()

    def sql_writer(self, size: int) -> Any | None:
        # One chunk only: a larger object is written in chunks by put_bytes.
        return _blob_statements()[3] if size <= CHUNK else None
