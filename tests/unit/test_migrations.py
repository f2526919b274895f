"""The migrations build exactly the schema the models describe, on SQLite and Postgres."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from batchsvc.db import get_engine
from batchsvc.models import Base


@pytest.mark.parametrize("mode", ["sqlite_settings", "pg_settings"])
def test_head_matches_the_models(mode: str, request: pytest.FixtureRequest) -> None:
    request.getfixturevalue(mode)  # migrates a fresh database to head
    with get_engine().connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
