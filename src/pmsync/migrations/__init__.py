"""Alembic migrations of the pmsync schema, shipped inside the package (see ``docs/store.md``)."""
