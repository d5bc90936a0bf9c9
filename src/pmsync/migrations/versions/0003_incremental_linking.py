"""Remember which work items the plan has placed, so a refresh places only the rest.

``work_item.link_state`` says whether the plan refresh has placed the item
since it was written (``pmsync.plan.linking``): the record upsert and deletion
reset it to NULL, and the partial index ``ix_work_item_unlinked`` finds those
rows without reading the table. ``plan_state`` keeps the fingerprint of the
plan the items were placed in: when config, the tool milestones' claims or the
milestones' projects change, it differs and every item is placed again. The
index on ``(source_id, parent_key, link_state)`` finds the sub-tasks of a
changed parent (their epic comes through it) and, without reading the rows
(whose JSON payload puts the state on overflow pages), the sub-tasks placed
with a parent that is gone. Existing items start unplaced: the first refresh
after the upgrade places every item once, as it did on every refresh before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNLINKED = sa.text("link_state IS NULL")


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "plan_state",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_plan_state")),
    )
    op.add_column("work_item", sa.Column("link_state", sa.String(length=1), nullable=True))
    op.create_index(
        op.f("ix_work_item_source_id_parent_key_link_state"),
        "work_item",
        ["source_id", "parent_key", "link_state"],
        unique=False,
    )
    op.create_index(
        "ix_work_item_unlinked",
        "work_item",
        ["id"],
        unique=False,
        sqlite_where=UNLINKED,
        postgresql_where=UNLINKED,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_work_item_unlinked", table_name="work_item")
    op.drop_index(op.f("ix_work_item_source_id_parent_key_link_state"), table_name="work_item")
    with op.batch_alter_table("work_item") as batch:
        batch.drop_column("link_state")
    op.drop_table("plan_state")
