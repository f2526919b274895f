"""Projects and API keys. Keys are random 256-bit tokens, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.db import insert_ignoring_conflict
from batchsvc.models import ApiKey, Project, new_id

KEY_PREFIX = "llx-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def get_or_create_project(session: Session, name: str) -> Project:
    """The project called ``name``; any number of processes may ask at once on a fresh
    database (every API process bootstraps its key at start), so the row is inserted with
    ON CONFLICT DO NOTHING rather than checked for first."""
    project = session.scalar(sa.select(Project).where(Project.name == name))
    if project is None:
        insert_ignoring_conflict(session, Project, {"id": new_id(), "name": name}, ["name"])
        project = session.scalars(sa.select(Project).where(Project.name == name)).one()
    return project


def create_api_key(session: Session, project_name: str, key: str | None = None) -> str:
    """Create (or make sure of) a key for a project; return the plain key, shown once."""
    project = get_or_create_project(session, project_name)
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    insert_ignoring_conflict(session, ApiKey, {
        "id": new_id(), "project_id": project.id, "key_hash": hash_key(key),
        "prefix": key[:8]}, ["key_hash"])
    return key


def authenticate(session: Session, key: str) -> str | None:
    """Return the key's project id, or None."""
    return project_for_digest(session, hash_key(key))


def project_for_digest(session: Session, digest: str) -> str | None:
    """The project of the live key with this hash, or None: the dashboard's session keeps
    only the hash, and re-checks it on every request so a revoked key signs it out."""
    row = session.execute(
        sa.select(ApiKey.key_hash, ApiKey.project_id).where(
            ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)
        )
    ).first()
    # The lookup is by hash, so timing reveals nothing of the key; compare anyway so a
    # future lookup by prefix stays safe.
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return row.project_id


def project_name(session: Session, project_id: str) -> str | None:
    project = session.get(Project, project_id)
    return project.name if project else None
