"""Projects and API keys. Keys are random 256-bit tokens, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from sqlalchemy.orm import Session

from batchsvc.models import ApiKey, Project

KEY_PREFIX = "llx-"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def get_or_create_project(session: Session, name: str) -> Project:
    project = session.scalar(sa.select(Project).where(Project.name == name))
    if project is None:
        project = Project(name=name)
        session.add(project)
        session.flush()
    return project


def create_api_key(session: Session, project_name: str, key: str | None = None) -> str:
    """Create (or make sure of) a key for a project; return the plain key, shown once."""
    project = get_or_create_project(session, project_name)
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    digest = hash_key(key)
    existing = session.scalar(sa.select(ApiKey).where(ApiKey.key_hash == digest))
    if existing is None:
        session.add(ApiKey(project_id=project.id, key_hash=digest, prefix=key[:8]))
    return key


def authenticate(session: Session, key: str) -> str | None:
    """Return the key's project id, or None."""
    digest = hash_key(key)
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
