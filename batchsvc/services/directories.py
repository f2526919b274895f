"""Directories and the files in them (soft delete throughout)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.errors import Conflict, Invalid, NotFound
from batchsvc.models import BatchJob, Directory, DirectoryFile, JobItem, StoredFile, utcnow
from batchsvc.services import files as file_service
from batchsvc.services.paging import decode_token, encode_token
from batchsvc.settings import get_settings
from batchsvc.states import ITEM_OPEN, JOB_ACTIVE, JobStatus


def directory_view(row: Directory) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "project_id": row.project_id,
        "description": row.description, "created_at": row.created_at,
        "updated_at": row.updated_at, "deleted_at": row.deleted_at, "type": row.type,
        "expires_at": row.expires_at, "system_metadata": row.system_metadata,
    }


def create_directory(session: Session, project_id: str, data: dict[str, Any]) -> Directory:
    kind = data.get("type") or "user"
    expires = None
    if kind == "ephemeral":
        expires = utcnow() + timedelta(seconds=get_settings().ephemeral_directory_ttl_seconds)
    row = Directory(project_id=project_id, name=data["name"], description=data.get("description"),
                    type=kind, expires_at=expires, system_metadata=data.get("system_metadata"))
    session.add(row)
    session.flush()
    return row


def get_directory(
    session: Session, project_id: str, directory_id: str, include_deleted: bool = False
) -> Directory:
    row = session.get(Directory, directory_id)
    if row is None or row.project_id != project_id or (
        row.deleted_at is not None and not include_deleted
    ):
        raise NotFound(f"directory {directory_id} not found")
    return row


def list_directories(session: Session, project_id: str, query: dict[str, Any]) -> dict[str, Any]:
    stmt = sa.select(Directory).where(Directory.project_id == project_id)
    if not query.get("include_deleted"):
        stmt = stmt.where(Directory.deleted_at.is_(None))
    if query.get("name"):
        stmt = stmt.where(Directory.name == query["name"])
    kinds = [*([query["type"]] if query.get("type") else []), *(query.get("types") or [])]
    if kinds:
        stmt = stmt.where(Directory.type.in_(kinds))
    offset, size = decode_token(query.get("page_token")), query.get("page_size") or 100
    rows = session.scalars(
        stmt.order_by(Directory.created_at, Directory.id).offset(offset).limit(size + 1)).all()
    return {
        "items": [directory_view(r) for r in rows[:size]],
        "next_page_token": encode_token(offset + size) if len(rows) > size else None,
    }


def update_directory(
    session: Session, project_id: str, directory_id: str, data: dict[str, Any]
) -> Directory:
    row = get_directory(session, project_id, directory_id)
    for key in ("name", "description"):
        if data.get(key) is not None:
            setattr(row, key, data[key])
    row.updated_at = utcnow()
    return row


def delete_directory(session: Session, project_id: str, directory_id: str) -> None:
    _delete(session, get_directory(session, project_id, directory_id), utcnow())


def _delete(session: Session, row: Directory, now: datetime) -> None:
    row.deleted_at = now
    session.execute(
        sa.update(DirectoryFile)
        .where(DirectoryFile.directory_id == row.id, DirectoryFile.deleted_at.is_(None))
        .values(deleted_at=now)
    )


def expire_directories(session: Session, now: datetime, limit: int = 100) -> list[str]:
    """Delete ephemeral directories past ``expires_at`` with the files no other live
    directory holds; returns those files' storage keys, to delete once this commits. A
    directory an open item still reads waits until that item has ended."""
    live_dir_file = sa.and_(DirectoryFile.directory_id == Directory.id,
                            DirectoryFile.deleted_at.is_(None))
    in_use = sa.exists().where(
        JobItem.status.in_(ITEM_OPEN), JobItem.file_id.in_(
            sa.select(DirectoryFile.file_id).where(live_dir_file)))
    directing = sa.exists().where(BatchJob.directory_id == Directory.id,
                                  BatchJob.status.in_((JobStatus.PENDING, *JOB_ACTIVE)))
    due = session.scalars(sa.select(Directory).where(
        Directory.expires_at.is_not(None), Directory.deleted_at.is_(None),
        Directory.expires_at < now, ~in_use, ~directing).limit(limit)).all()
    keys: list[str] = []
    for row in due:
        held = list(session.scalars(sa.select(DirectoryFile.file_id).where(
            DirectoryFile.directory_id == row.id, DirectoryFile.deleted_at.is_(None))))
        _delete(session, row, now)
        elsewhere = sa.select(DirectoryFile.file_id).where(DirectoryFile.deleted_at.is_(None),
                                                           DirectoryFile.file_id.in_(held))
        files = session.scalars(sa.select(StoredFile).where(
            StoredFile.id.in_(held), StoredFile.deleted_at.is_(None),
            StoredFile.id.not_in(elsewhere))).all()
        for stored in files:
            stored.deleted_at = now
            keys.append(stored.storage_key)
    return keys


def directory_file_view(row: DirectoryFile, stored: StoredFile | None = None,
                        base_url: str | None = None) -> dict[str, Any]:
    """The directory file; with ``base_url``, ``download_url`` links ``stored`` (its file)."""
    view = {
        "id": row.id, "directory_id": row.directory_id, "display_name": row.display_name,
        "project_id": row.project_id, "unique_id": row.unique_id, "file_id": row.file_id,
        "metadata": row.metadata_ or {}, "created_at": row.created_at,
        "updated_at": row.updated_at, "deleted_at": row.deleted_at,
    }
    if base_url is not None and stored is not None and stored.deleted_at is None:
        view["download_url"] = file_service.presigned_url(base_url, stored)
    return view


def directory_file_views(session: Session, rows: list[DirectoryFile],
                         base_url: str | None) -> list[dict[str, Any]]:
    """Views of ``rows``, their files read in one query when links are wanted."""
    stored: dict[str, StoredFile] = {}
    if base_url is not None and rows:
        stored = {f.id: f for f in session.scalars(sa.select(StoredFile).where(
            StoredFile.id.in_({r.file_id for r in rows})))}
    return [directory_file_view(r, stored.get(r.file_id), base_url) for r in rows]


def _unique_id_taken(session: Session, directory_id: str, unique_id: str) -> bool:
    found = session.scalar(
        sa.select(DirectoryFile.seq).where(
            DirectoryFile.directory_id == directory_id, DirectoryFile.unique_id == unique_id,
            DirectoryFile.deleted_at.is_(None)).limit(1))
    return found is not None


def add_file(
    session: Session, project_id: str, directory_id: str, data: dict[str, Any]
) -> DirectoryFile:
    get_directory(session, project_id, directory_id)
    try:
        stored = file_service.get_file(session, project_id, data["file_id"])
    except NotFound as exc:
        raise Invalid(["body", "file_id"], f"no file {data['file_id']} in this project") from exc
    unique_id = data.get("unique_id") or stored.id
    if _unique_id_taken(session, directory_id, unique_id):
        raise Conflict(f"unique_id {unique_id!r} already exists in directory {directory_id}")
    row = DirectoryFile(
        directory_id=directory_id, project_id=project_id, file_id=stored.id,
        display_name=data.get("display_name") or stored.name, unique_id=unique_id,
        metadata_=data.get("metadata") or {},
    )
    session.add(row)
    session.flush()
    return row


def upload_file(
    session: Session, project_id: str, directory_id: str, filename: str, stream: IO[bytes],
    form: dict[str, Any],
) -> DirectoryFile:
    get_directory(session, project_id, directory_id)
    metadata: dict[str, Any] = {}
    if form.get("metadata"):
        try:
            metadata = json.loads(form["metadata"])
        except ValueError as exc:
            raise Invalid(["body", "metadata"], "must be a JSON object") from exc
        if not isinstance(metadata, dict):
            raise Invalid(["body", "metadata"], "must be a JSON object")
    unique_id = form.get("unique_id") or form.get("external_file_id")
    if unique_id and _unique_id_taken(session, directory_id, unique_id):
        raise Conflict(f"unique_id {unique_id!r} already exists in directory {directory_id}")
    stored = file_service.store_upload(
        session, project_id, filename, stream, purpose="user_data",
        external_file_id=form.get("external_file_id"))
    row = DirectoryFile(
        directory_id=directory_id, project_id=project_id, file_id=stored.id,
        display_name=form.get("display_name") or filename, unique_id=unique_id or stored.id,
        metadata_=metadata,
    )
    session.add(row)
    session.flush()
    return row


def get_directory_file(
    session: Session, project_id: str, directory_id: str, directory_file_id: str
) -> DirectoryFile:
    get_directory(session, project_id, directory_id)
    row = session.scalar(sa.select(DirectoryFile).where(DirectoryFile.id == directory_file_id))
    if (row is None or row.directory_id != directory_id or row.project_id != project_id
            or row.deleted_at is not None):
        raise NotFound(f"directory file {directory_file_id} not found")
    return row


def list_directory_files(
    session: Session, project_id: str, directory_id: str, query: dict[str, Any],
    base_url: str | None = None,
) -> dict[str, Any]:
    get_directory(session, project_id, directory_id)
    after, size = decode_token(query.get("page_token")), query.get("page_size") or 100
    stmt = sa.select(DirectoryFile).where(
        DirectoryFile.directory_id == directory_id, DirectoryFile.seq > after)
    if not query.get("include_deleted"):
        stmt = stmt.where(DirectoryFile.deleted_at.is_(None))
    for key in ("display_name", "unique_id", "file_id"):
        if query.get(key):
            stmt = stmt.where(getattr(DirectoryFile, key) == query[key])
    if query.get("display_name_contains"):
        stmt = stmt.where(DirectoryFile.display_name.contains(query["display_name_contains"],
                                                              autoescape=True))
    rows = session.scalars(stmt.order_by(DirectoryFile.seq).limit(size + 1)).all()
    return {
        "items": directory_file_views(session, list(rows[:size]), base_url),
        # Keyset paging on seq: stable while files are added or removed mid-listing.
        "next_page_token": encode_token(rows[size - 1].seq) if len(rows) > size else None,
    }


def update_directory_file(
    session: Session, project_id: str, directory_id: str, directory_file_id: str,
    data: dict[str, Any],
) -> DirectoryFile:
    row = get_directory_file(session, project_id, directory_id, directory_file_id)
    if data.get("target_directory_id"):
        get_directory(session, project_id, data["target_directory_id"])
        row.directory_id = data["target_directory_id"]
    if data.get("unique_id") and data["unique_id"] != row.unique_id:
        if _unique_id_taken(session, row.directory_id, data["unique_id"]):
            raise Conflict(f"unique_id {data['unique_id']!r} already exists")
        row.unique_id = data["unique_id"]
    if data.get("display_name"):
        row.display_name = data["display_name"]
    if data.get("metadata") is not None:
        row.metadata_ = data["metadata"]
    row.updated_at = utcnow()
    return row


def delete_directory_file(
    session: Session, project_id: str, directory_id: str, directory_file_id: str
) -> None:
    get_directory_file(session, project_id, directory_id, directory_file_id).deleted_at = utcnow()
