"""Apply Alembic migrations (``batchsvc db upgrade``) and check the schema at start-up.

Any number of processes may start at once: ``upgrade`` holds a lock while it migrates (a
Postgres advisory lock, or a file lock beside the SQLite database), so a second one waits and
then finds nothing to do; services that do not migrate wait for the schema instead.
"""

from __future__ import annotations

import fcntl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from batchsvc.db import get_engine, is_transient_db_error
from batchsvc.settings import get_settings

MIGRATIONS = Path(__file__).parent / "migrations"
# An arbitrary constant: the advisory lock every migrating process takes.
MIGRATION_LOCK = 0x62617463  # "batc"


class SchemaNotReady(Exception):
    """The database is unreachable or not at the latest revision; ``str`` is one line."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


@contextmanager
def _migration_lock(connection: sa.Connection) -> Iterator[None]:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            connection.commit()
        return
    path = get_settings().data_path / "migrate.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade(revision: str = "head") -> None:
    config = alembic_config()
    with get_engine().connect() as connection, _migration_lock(connection):
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        connection.commit()


def revision(message: str) -> None:
    command.revision(alembic_config(), message=message, autogenerate=True)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision() -> str | None:
    with get_engine().connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_problem() -> str | None:
    """None when the database is reachable and migrated; else what is wrong, in one line."""
    try:
        current = current_revision()
    except sa.exc.SQLAlchemyError as exc:
        if not is_transient_db_error(exc):
            raise
        return f"the database is unreachable ({type(getattr(exc, 'orig', exc)).__name__})"
    head = head_revision()
    if current == head:
        return None
    state = "not migrated" if current is None else f"at revision {current}, not {head}"
    return f"the database is {state}: run `batchsvc db upgrade`"


def wait_for_schema(timeout: float, say: object = print) -> None:
    """Return once the schema is at head; after ``timeout`` seconds raise SchemaNotReady.

    Says once what it waits for, so a service started before the migration (compose, a
    script starting everything at once) neither crashes nor floods its log."""
    deadline = time.monotonic() + timeout
    announced = False
    while True:
        problem = schema_problem()
        if problem is None:
            return
        if time.monotonic() >= deadline:
            raise SchemaNotReady(problem)
        if not announced and callable(say):
            say(f"batchsvc: waiting up to {timeout:.0f} s: {problem}")
            announced = True
        time.sleep(1.0)
