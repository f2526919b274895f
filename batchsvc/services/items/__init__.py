"""The item path: claim an item, run its engine, store its result (process.py), behind one
store interface (store.py) with a SQLite and a Postgres implementation."""

from __future__ import annotations

from batchsvc.services.items.store import ItemStore
from batchsvc.settings import get_settings

_stores: dict[bool, ItemStore] = {}


def get_store() -> ItemStore:
    """The store for the configured database."""
    postgres = get_settings().is_postgres
    if postgres not in _stores:
        from batchsvc.services.items import postgres as pg
        from batchsvc.services.items import sqlite

        _stores[postgres] = pg.PostgresItemStore() if postgres else sqlite.SqliteItemStore()
    return _stores[postgres]
