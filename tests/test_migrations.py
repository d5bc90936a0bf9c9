"""The migrations are the schema: they build exactly what the ORM declares."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from pmsync.migrations import HEAD
from pmsync.model import Base
from pmsync.store import Store


def _differences(store: Store) -> list[object]:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_head_names_the_newest_migration(store: Store) -> None:
    # upgrade() trusts HEAD to skip Alembic; a migration added without moving it
    # would never be applied to a database at the old head.
    scripts = ScriptDirectory.from_config(store._alembic_config())
    assert scripts.get_heads() == [HEAD]
    with store.engine.connect() as conn:  # and Alembic reads the database as the store does
        assert set(MigrationContext.configure(conn).get_current_heads()) == {HEAD}


def test_migrations_produce_exactly_the_orm_schema(store: Store) -> None:
    assert _differences(store) == []


def test_each_revision_steps_down_and_up_again(store: Store) -> None:
    config = store._alembic_config()  # the one upgrade() uses
    with store.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
    assert store.current_revisions() == {"0001"}
    assert _differences(store)  # the newer revisions' changes are gone
    store.upgrade()
    assert store.is_current()
    assert _differences(store) == []


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
