"""The migrations build exactly the schema the models describe, on SQLite and Postgres."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from batchsvc.db import get_engine
from batchsvc.models import Base


def ours(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
    # The test database is shared: Celery's database result backend keeps its own tables
    # (celery_taskmeta ...) there, which no migration of ours creates.
    return not (kind == "table" and reflected and compare_to is None)


@pytest.mark.parametrize("mode", ["sqlite_settings", "pg_settings"])
def test_head_matches_the_models(mode: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(mode)  # migrates the database to head
    with get_engine().connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": ours})
        assert compare_metadata(context, Base.metadata) == []
