"""Sync bookkeeping, people and the record tables (keyed by source and external id)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from pmsync.model.base import Base, JSONType, fk

# --- sources and sync bookkeeping ---------------------------------------------------


class Source(Base):
    """A configured connection (``sources.yaml`` entry) by its name."""

    __tablename__ = "source"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(unique=True)
    kind: Mapped[str | None]
    """The connector name (``jira``, ``github``), when known."""
    created_at: Mapped[datetime]


class SyncCursor(Base):
    """The cursor a connector hands back on the next pull of a stream."""

    __tablename__ = "sync_cursor"
    source_id: Mapped[int] = mapped_column(fk("source.id"), primary_key=True)
    stream: Mapped[str] = mapped_column(primary_key=True)
    cursor: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class SyncRun(Base):
    """One pull of one stream: counts are updated page by page, in the page's transaction."""

    __tablename__ = "sync_run"
    __table_args__ = (Index(None, "source_id", "stream", "started_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(fk("source.id"))
    stream: Mapped[str]
    full: Mapped[bool] = mapped_column(default=False)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    """``running``, ``ok``, ``partial`` (some scope skipped: see ``error``) or ``failed``."""
    pages: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    quarantined: Mapped[int] = mapped_column(default=0)
    requests: Mapped[int] = mapped_column(default=0)
    not_modified: Mapped[int] = mapped_column(default=0)
    retries: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)


class Quarantine(Base):
    """A payload that could not be mapped, kept with the reason; one row per record."""

    __tablename__ = "quarantine"
    __table_args__ = (UniqueConstraint("source_id", "record_kind", "external_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(fk("source.id"))
    stream: Mapped[str]
    record_kind: Mapped[str]
    external_id: Mapped[str]
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[Any] = mapped_column(nullable=True)
    first_at: Mapped[datetime]
    at: Mapped[datetime]
    """The last time this record was quarantined."""
    times: Mapped[int] = mapped_column(default=1)


# --- people -------------------------------------------------------------------------


class Person(Base):
    """A human, matched across tools by linking."""

    __tablename__ = "person"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str | None] = mapped_column(unique=True)
    """The person's id in ``pmsync.yaml``; None for someone only the tools know."""
    name: Mapped[str]
    email: Mapped[str | None] = mapped_column(index=True)
    created_at: Mapped[datetime]


class Identity(Base):
    """An account in one tool (``source``, ``login``), upserted from the records."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("source_id", "login"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(fk("source.id"))
    login: Mapped[str]
    person_id: Mapped[int | None] = mapped_column(fk("person.id", "SET NULL"), index=True)
    display_name: Mapped[str | None]
    email: Mapped[str | None]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


# --- records (keyed by source and external id) ------------------------------------------


def _record_args(*extra: Any) -> tuple[Any, ...]:
    return (UniqueConstraint("source_id", "external_id"), *extra)


class RecordColumns:
    """Columns every record table shares."""

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(fk("source.id"))
    external_id: Mapped[str]
    payload_hash: Mapped[str] = mapped_column(String(64))
    deleted_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class WorkItem(RecordColumns, Base):
    """An issue, story, task, bug or pull request as a unit of work."""

    __tablename__ = "work_item"
    __table_args__ = _record_args(
        Index(None, "source_id", "container"),
        Index(None, "source_id", "key", "deleted_at"),  # links resolve from the index alone
        Index(None, "project_id", "source_id", "deleted_at"),
        Index(None, "source_id", "parent_key", "link_state"),
        Index(
            "ix_work_item_unlinked",  # pmsync.plan.linking.UNLINKED_INDEX
            "id",
            sqlite_where=text("link_state IS NULL"),
            postgresql_where=text("link_state IS NULL"),
        ),
        CheckConstraint("status_category IN ('todo', 'in_progress', 'done')", name="category"),
    )
    key: Mapped[str]
    title: Mapped[str] = mapped_column(Text)
    container: Mapped[str]
    item_type: Mapped[str]
    status: Mapped[str]
    status_category: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    due_date: Mapped[date | None]
    priority: Mapped[str | None]
    assignee_login: Mapped[str | None]
    reporter_login: Mapped[str | None]
    labels: Mapped[list[str]]
    components: Mapped[list[str]]
    parent_key: Mapped[str | None]
    epic_key: Mapped[str | None]
    milestones: Mapped[list[str]]
    story_points: Mapped[float | None]
    original_estimate_seconds: Mapped[int | None]
    remaining_estimate_seconds: Mapped[int | None]
    time_spent_seconds: Mapped[int | None]
    is_pull_request: Mapped[bool]
    custom: Mapped[dict[str, Any]]
    raw: Mapped[dict[str, Any] | None]
    url: Mapped[str | None]
    project_id: Mapped[int | None] = mapped_column(fk("project.id", "SET NULL"))
    """Set by linking, never by the record upsert. Indexed with the source and deletion,
    so which sources feed which projects is read from the index alone."""
    deliverable_id: Mapped[int | None] = mapped_column(fk("deliverable.id", "SET NULL"), index=True)
    """Set by linking, never by the record upsert."""
    link_state: Mapped[str | None] = mapped_column(String(1))
    """Whether the plan refresh has placed this row since it was written: NULL not
    yet (the record upsert and deletion set it), ``p`` placed while its parent was
    in the store, ``-`` placed without one (``pmsync.plan.linking``; the partial
    index ``ix_work_item_unlinked`` holds the NULL rows)."""


class WorkItemChange(RecordColumns, Base):
    """One field change in a work item's history."""

    __tablename__ = "work_item_change"
    __table_args__ = _record_args(Index(None, "source_id", "item_external_id"))
    item_external_id: Mapped[str]
    at: Mapped[datetime]
    field: Mapped[str]
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    author_login: Mapped[str | None]


class Worklog(RecordColumns, Base):
    """Time booked against a work item."""

    __tablename__ = "worklog"
    __table_args__ = _record_args(Index(None, "source_id", "item_external_id"))
    item_external_id: Mapped[str]
    author_login: Mapped[str]
    started_at: Mapped[datetime]
    seconds: Mapped[int]
    updated_at: Mapped[datetime]
    comment: Mapped[str | None] = mapped_column(Text)


class SourceMilestone(RecordColumns, Base):
    """A milestone as one tool knows it (Jira fix version, GitHub milestone)."""

    __tablename__ = "source_milestone"
    __table_args__ = _record_args()
    name: Mapped[str]
    container: Mapped[str]
    due_date: Mapped[date | None]
    state: Mapped[str] = mapped_column(String(16))
    closed_at: Mapped[datetime | None]
    archived: Mapped[bool]
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None]
    open_items: Mapped[int | None]
    closed_items: Mapped[int | None]
    raw: Mapped[dict[str, Any] | None]
    milestone_id: Mapped[int | None] = mapped_column(fk("milestone.id", "SET NULL"), index=True)
    """Set by linking, never by the record upsert."""


class Commit(RecordColumns, Base):
    """A commit on a tracked branch."""

    __tablename__ = "commit"
    __table_args__ = _record_args(Index(None, "source_id", "repository", "committed_at"))
    sha: Mapped[str] = mapped_column(String(64))
    repository: Mapped[str]
    message: Mapped[str] = mapped_column(Text)
    authored_at: Mapped[datetime]
    committed_at: Mapped[datetime]
    author_login: Mapped[str | None]
    branch: Mapped[str | None]
    """The tracked branch it was listed on; empty for the repository's default branch."""
    url: Mapped[str | None]
    link_fingerprint: Mapped[str | None]
    """The payload hash and key patterns it was last scanned for work item keys with."""


class PullRequest(RecordColumns, Base):
    """A pull request with its merge state."""

    __tablename__ = "pull_request"
    __table_args__ = _record_args(Index(None, "source_id", "repository", "number"))
    number: Mapped[int]
    repository: Mapped[str]
    title: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    merged: Mapped[bool]
    merged_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    draft: Mapped[bool]
    head_ref: Mapped[str | None]
    base_ref: Mapped[str | None]
    author_login: Mapped[str | None]
    milestone: Mapped[str | None]
    url: Mapped[str | None]
    body: Mapped[str | None] = mapped_column(Text)
    link_fingerprint: Mapped[str | None]
    """The payload hash and key patterns it was last scanned for work item keys with."""


class CalendarEvent(RecordColumns, Base):
    """One calendar event occurrence."""

    __tablename__ = "calendar_event"
    __table_args__ = _record_args(
        Index(None, "source_id", "calendar_id", "starts_at"),
        Index(None, "project_id", "source_id", "deleted_at"),
        Index(
            "ix_calendar_event_unlinked",  # events meeting linking has not seen
            "id",
            sqlite_where=text("link_state IS NULL"),
            postgresql_where=text("link_state IS NULL"),
        ),
    )
    calendar_id: Mapped[str]
    title: Mapped[str] = mapped_column(Text)
    event_type: Mapped[str] = mapped_column(String(32))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    all_day: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))
    organizer_login: Mapped[str | None]
    attendee_logins: Mapped[list[str]]
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    recurring_event_id: Mapped[str | None]
    url: Mapped[str | None]
    # Set by meeting linking (pmsync.meetings.link) after every sync. Nullable: a new
    # event, or one the upsert rewrote because it changed, waits for the next linking.
    meeting_kind: Mapped[str | None] = mapped_column(String(32))
    """``status_meeting``, ``milestone_review``, ``steering_committee``,
    ``customer_meeting``, ``leave``, ``public_holiday`` or ``other``."""
    meeting_rule: Mapped[str | None]
    """The name of the classification rule that decided (None: no rule matched)."""
    project_id: Mapped[int | None] = mapped_column(fk("project.id", "SET NULL"))
    project_link: Mapped[str | None] = mapped_column(String(16))
    """How the project was found: ``calendar``, ``title`` or ``attendees``."""
    person_ids: Mapped[list[int] | None] = mapped_column(JSONType)
    """``person.id`` of the organiser and attendees that linking matched."""
    away_person_ids: Mapped[list[int] | None] = mapped_column(JSONType)
    """For leave: ``person.id`` of who is away."""
    link_state: Mapped[str | None] = mapped_column(String(16))
    """The fingerprint linking classified the event with; NULL once the upsert rewrote it."""


RECORD_TABLES: dict[str, type[RecordColumns]] = {
    "work_item": WorkItem,
    "work_item_change": WorkItemChange,
    "worklog": Worklog,
    "source_milestone": SourceMilestone,
    "commit": Commit,
    "pull_request": PullRequest,
    "calendar_event": CalendarEvent,
}
"""The table of each record kind that is stored as rows (not deletions or quarantine)."""
