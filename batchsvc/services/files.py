"""Files: stored bytes plus metadata; content is served through short-lived signed URLs."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc import storage as storage_mod
from batchsvc.engines.parse.detect import SNIFF_BYTES, sniff
from batchsvc.errors import Invalid, NotFound, TooLarge, Unavailable
from batchsvc.models import Project, StoredFile, new_id, utcnow
from batchsvc.secrets import derived_key
from batchsvc.services.paging import decode_token, encode_token
from batchsvc.settings import get_settings

# file_type as LlamaCloud names it: the usual extension of the sniffed format.
_EXTENSIONS = {"text": "txt", "markdown": "md", "ole": "doc"}


def file_type(head: bytes, name: str) -> str:
    """The file's type from its first bytes (engines.parse.detect.sniff; the name only tells
    apart formats the bytes cannot)."""
    kind = sniff(head, name)
    return _EXTENSIONS.get(kind, kind)


def upload_name(filename: str | None) -> str:
    """Keep the client's name for display, without path parts or control characters."""
    name = (filename or "upload").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip() or "upload"
    return name[:1024]


class _Sniffer:
    """Wrap an upload stream to remember its first bytes while it is copied to storage."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream, self.head = stream, b""

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        return chunk


def store_upload(
    session: Session, project_id: str, name: str, stream: IO[bytes], *,
    purpose: str | None = None, external_file_id: str | None = None,
) -> StoredFile:
    settings = get_settings()
    file_id = new_id()
    storage = storage_mod.get_storage()
    key = storage.ref(f"files/{project_id}/{file_id}")
    sniffer = _Sniffer(stream)
    try:
        size, digest = storage.put_stream(
            key, sniffer, limit=settings.max_upload_bytes)  # type: ignore[arg-type]  # duck-typed reader
    except storage_mod.TooLarge as exc:
        raise TooLarge(f"upload_file is larger than the limit of {exc.limit} bytes") from exc
    except storage_mod.StorageError as exc:
        raise Unavailable(f"the upload could not be stored: {exc}") from exc
    row = StoredFile(
        id=file_id, project_id=project_id, name=name, size=size, sha256=digest,
        storage_key=key, content_type=file_type(sniffer.head, name), purpose=purpose,
        external_file_id=external_file_id,
    )
    session.add(row)
    session.flush()
    return row


def get_file(session: Session, project_id: str, file_id: str) -> StoredFile:
    row = session.get(StoredFile, file_id)
    if row is None or row.project_id != project_id or row.deleted_at is not None:
        raise NotFound(f"file {file_id} not found")
    return row


def delete_file(session: Session, project_id: str, file_id: str) -> None:
    get_file(session, project_id, file_id).deleted_at = utcnow()


# files.list / files.query ``order_by``: "name, created_at desc" over these fields.
ORDERABLE = {"id": StoredFile.id, "name": StoredFile.name, "file_name": StoredFile.name,
             "created_at": StoredFile.created_at, "last_modified_at": StoredFile.created_at,
             "file_size": StoredFile.size, "file_type": StoredFile.content_type,
             "external_file_id": StoredFile.external_file_id, "purpose": StoredFile.purpose}


def order_by(spec: str | None, loc: list[Any]) -> list[Any]:
    """The ORDER BY of an ``order_by`` string (creation order when empty); 422 at ``loc``."""
    order: list[Any] = []
    for part in (spec or "").split(","):
        words = part.split()
        if not words:
            continue
        column = ORDERABLE.get(words[0])
        if column is None or len(words) > 2 or words[1:] not in ([], ["asc"], ["desc"]):
            raise Invalid(loc, f"cannot order by {part.strip()[:80]!r}: use fields of "
                          f"{', '.join(sorted(ORDERABLE))}, each optionally 'desc'")
        order.append(column.desc() if words[1:] == ["desc"] else column)
    return [*order, StoredFile.created_at, StoredFile.id]


def list_files(session: Session, project_id: str, query: dict[str, Any],
               base_url: str | None = None, loc: str = "query") -> dict[str, Any]:
    """files.list (query parameters) and files.query (the same filters in a body); links
    in ``download_url`` when ``base_url`` is given."""
    stmt = sa.select(StoredFile).where(
        StoredFile.project_id == project_id, StoredFile.deleted_at.is_(None))
    if query.get("file_name"):
        stmt = stmt.where(StoredFile.name == query["file_name"])
    if query.get("external_file_id"):
        stmt = stmt.where(StoredFile.external_file_id == query["external_file_id"])
    if query.get("file_ids") is not None:
        stmt = stmt.where(StoredFile.id.in_(query["file_ids"]))
    if query.get("data_source_id") or not _is_project(session, project_id,
                                                       query.get("in_project")):
        # Every file here was uploaded to this project: none comes from a data source.
        stmt = stmt.where(sa.false())
    offset = decode_token(query.get("page_token"))
    size = query.get("page_size") or 100
    total = session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
    rows = session.scalars(stmt.order_by(*order_by(query.get("order_by"), [loc, "order_by"]))
                           .offset(offset).limit(size + 1)).all()
    return {
        "items": [file_view(r, base_url) for r in rows[:size]], "total_size": total,
        "next_page_token": encode_token(offset + size) if len(rows) > size else None,
    }


def _is_project(session: Session, project_id: str, wanted: str | None) -> bool:
    """Whether ``wanted`` (a filter's project id, or the project's name) is the caller's."""
    if not wanted or wanted == project_id:
        return True
    return session.scalar(sa.select(Project.name).where(Project.id == project_id)) == wanted


def file_view(row: StoredFile, base_url: str | None = None) -> dict[str, Any]:
    """The file as the SDK types it; ``download_url`` signed when ``base_url`` is given."""
    view = {
        "id": row.id, "name": row.name, "project_id": row.project_id,
        "created_at": row.created_at, "updated_at": row.created_at,
        "last_modified_at": row.created_at, "external_file_id": row.external_file_id,
        "file_size": row.size, "file_type": row.content_type, "purpose": row.purpose,
    }
    if base_url is not None:
        view["download_url"] = presigned_url(base_url, row)
    return view


def _sign(file_id: str, expires: int) -> str:
    # Derive the URL key from the server key so a leaked URL cannot be re-signed.
    key = derived_key(b"download")
    return hmac.new(key, f"{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def presigned_url(base_url: str, row: StoredFile, ttl_seconds: int = 3600) -> dict[str, Any]:
    """The object store's own presigned GET when it has one (the bytes bypass the API),
    else a link to the API's download route signed with the server key."""
    expires = int(time.time()) + ttl_seconds
    url = storage_mod.get_storage().presigned_get(row.storage_key, ttl_seconds, row.name)
    return {
        "url": url or f"{base_url.rstrip('/')}/api/v1/beta/files/{row.id}/download"
                      f"?expires={expires}&signature={_sign(row.id, expires)}",
        "expires_at": datetime.fromtimestamp(expires, UTC),
    }


def check_download(file_id: str, expires: str | None, signature: str | None) -> bool:
    # ASCII digits only (str.isdigit also takes "²"), and few enough for int().
    if not expires or not signature or not re.fullmatch(r"[0-9]{1,20}", expires) \
            or int(expires) < time.time():
        return False
    return hmac.compare_digest(_sign(file_id, int(expires)), signature)
