"""Alembic migrations of the pmsync schema, shipped inside the package (see ``docs/store.md``)."""

HEAD = "0005"
"""The newest revision in ``versions/``. A new migration moves it (a test checks the two agree),
so that opening a store already at head needs no Alembic import."""
