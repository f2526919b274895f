"""Start-up chores shared by every entry point."""

from __future__ import annotations

from batchsvc.services.auth import create_api_key
from batchsvc.settings import get_settings
from batchsvc.uow import unit_of_work


def ensure_bootstrap_key() -> str | None:
    """Make sure BATCHSVC_BOOTSTRAP_API_KEY exists for the default project."""
    settings = get_settings()
    if not settings.bootstrap_api_key:
        return None
    with unit_of_work() as session:
        return create_api_key(session, settings.default_project, settings.bootstrap_api_key)


def embedded_key() -> str:
    """The embedded mode's key: the bootstrap key, or one generated once and kept on disk."""
    settings = get_settings()
    if settings.bootstrap_api_key:
        ensure_bootstrap_key()
        return settings.bootstrap_api_key
    path = settings.data_path / "api_key"
    if path.exists():
        key = path.read_text().strip()
    else:
        with unit_of_work() as session:
            key = create_api_key(session, settings.default_project)
        path.write_text(key + "\n")
        path.chmod(0o600)
    with unit_of_work() as session:
        create_api_key(session, settings.default_project, key)
    return key
