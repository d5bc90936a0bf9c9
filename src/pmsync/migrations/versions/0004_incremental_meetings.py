"""Remember which calendar events meeting linking has seen, so it links only the rest.

``calendar_event.link_state`` holds the fingerprint of what linking read
besides the event itself (``pmsync.meetings.link``: the meeting rules, the
projects, the people and their identities) when it last classified the
event; the record upsert and deletion reset it to NULL, and the partial index
``ix_calendar_event_unlinked`` finds those rows without reading the table.
Existing events start unlinked: the first linking after the upgrade reads
every event once, as every linking did before.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNLINKED = sa.text("link_state IS NULL")


def upgrade() -> None:
    """Apply this revision."""
    op.add_column("calendar_event", sa.Column("link_state", sa.String(length=16), nullable=True))
    op.create_index(
        "ix_calendar_event_unlinked",
        "calendar_event",
        ["id"],
        unique=False,
        sqlite_where=UNLINKED,
        postgresql_where=UNLINKED,
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_calendar_event_unlinked", table_name="calendar_event")
    with op.batch_alter_table("calendar_event") as batch:
        batch.drop_column("link_state")
