"""The migrations are the schema: they build exactly what the ORM declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from pmsync.model import Base
from pmsync.store import Store


def test_migrations_produce_exactly_the_orm_schema(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_is_idempotent_and_reports_current(store: Store) -> None:
    assert store.is_current()
    before = store.current_revisions()
    store.upgrade()
    assert store.current_revisions() == before
    assert store.is_current()


def test_an_empty_database_is_not_current_until_upgraded(db_url: str, tmp_path) -> None:
    store = Store.open(db_url, var_dir=tmp_path)
    try:
        assert store.current_revisions() == set()
        assert not store.is_current()
        store.upgrade()
        assert store.is_current()
    finally:
        store.close()
