"""Let the work item key index answer "the live item with this key" by itself.

The plan refresh resolves each commit's and pull request's link to the live
work item its key names (``pmsync.plan.mentions``): ``source_id``, ``key``
and ``deleted_at IS NULL``. With ``deleted_at`` outside the index, SQLite read
each candidate's row (a page of its JSON payload) to test it: 640 MB of pages
for the 37,800 links of a 100,000-item sync. With it, the index alone answers
(docs/plan.md, "Speed"). Lookups by source and key alone use it as before.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_index(
        "ix_work_item_source_id_key_deleted_at",
        "work_item",
        ["source_id", "key", "deleted_at"],
        unique=False,
    )
    op.drop_index("ix_work_item_source_id_key", table_name="work_item")


def downgrade() -> None:
    """Revert this revision."""
    op.create_index("ix_work_item_source_id_key", "work_item", ["source_id", "key"], unique=False)
    op.drop_index("ix_work_item_source_id_key_deleted_at", table_name="work_item")
