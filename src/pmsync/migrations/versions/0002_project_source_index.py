"""Index work items and calendar events by project, source and deletion.

``pmsync check`` asks which sources feed each project (a DISTINCT over every
live item). With ``project_id`` alone indexed, SQLite looked each of a million
items up in the table and sorted the pairs (2 s, 6 s cold); with the source and
the deletion time in the index it reads the index alone (0.1 s). The new index
replaces the old one: it serves every query by ``project_id`` as well.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("work_item", "calendar_event")


def upgrade() -> None:
    """Apply this revision."""
    for table in TABLES:
        op.create_index(
            op.f(f"ix_{table}_project_id_source_id_deleted_at"),
            table,
            ["project_id", "source_id", "deleted_at"],
            unique=False,
        )
        op.drop_index(op.f(f"ix_{table}_project_id"), table_name=table)


def downgrade() -> None:
    """Revert this revision."""
    for table in TABLES:
        op.create_index(op.f(f"ix_{table}_project_id"), table, ["project_id"], unique=False)
        op.drop_index(op.f(f"ix_{table}_project_id_source_id_deleted_at"), table_name=table)
