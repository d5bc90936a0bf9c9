"""Alembic environment: run pmsync's migrations on a connection the store hands over.

``Store.upgrade()`` builds the Alembic ``Config`` in code and passes its own
connection in ``config.attributes["connection"]``, so no ``alembic.ini`` is
needed at run time. For developers writing a migration, ``sqlalchemy.url`` (or
``PMSYNC_DATABASE_URL``) is used instead; see ``docs/store.md``.

SQLite cannot ``ALTER`` most things, so migrations render as batch operations
there (copy-and-move), which Alembic does for us with ``render_as_batch``.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, create_engine

from pmsync.model import Base, UTCDateTime

config = context.config
target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render pmsync's UTCDateTime as a plain ``sa.DateTime(timezone=True)`` in revisions."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=render_item,
        **kwargs,
    )


def run_on(connection: Connection) -> None:
    """Run the migrations on ``connection`` in one transaction."""
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("PMSYNC_DATABASE_URL")
    if not url:
        raise SystemExit("set sqlalchemy.url (alembic -x ...) or PMSYNC_DATABASE_URL")
    return url


if context.is_offline_mode():
    _configure(url=_url(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    given = config.attributes.get("connection")
    if given is not None:
        run_on(given)
    else:
        engine = create_engine(_url())
        try:
            with engine.begin() as conn:
                run_on(conn)
        finally:
            engine.dispose()
