"""Alembic revisions, one module each (loaded by Alembic from this directory)."""
