"""What pmsync produces: metric snapshots, alerts, the outbox, silences, reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pmsync.model.base import Base, fk

# --- metrics, alerts, reports ---------------------------------------------------------


class MetricSnapshot(Base):
    """The metrics of one scope on one day, for trends (one row per scope and day)."""

    __tablename__ = "metric_snapshot"
    __table_args__ = (UniqueConstraint("scope_kind", "scope_id", "day"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    scope_kind: Mapped[str] = mapped_column(String(32))
    """``project``, ``milestone``, ``deliverable``, ``portfolio``, ``person``."""
    scope_id: Mapped[str]
    day: Mapped[date]
    metrics: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime]


class Alert(Base):
    """A finding of the rules engine over time, identified by the fingerprint of its labels."""

    __tablename__ = "alert"
    __table_args__ = (Index(None, "state", "severity"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    rule: Mapped[str]
    labels: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    """``pending``, ``firing``, ``resolved`` or ``inactive`` (vanished while pending)."""
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    action: Mapped[str | None] = mapped_column(Text)
    """The suggested action."""
    report_url: Mapped[str | None] = mapped_column(Text)
    pending_since: Mapped[datetime]
    """When the finding appeared in this episode (the start of the pending period)."""
    starts_at: Mapped[datetime | None]
    """When it began firing (None while pending)."""
    last_seen_at: Mapped[datetime]
    """The last evaluation that still produced the finding."""
    resolved_at: Mapped[datetime | None]
    last_evaluated_at: Mapped[datetime]
    muted_by: Mapped[str | None] = mapped_column(Text)
    """Why it is not notified, as of the last evaluation (a silence, an inhibiting alert)."""


class AlertGroup(Base):
    """The notification log of one aggregation group: what its receiver was last told."""

    __tablename__ = "alert_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    """Hash of route, receiver and group labels."""
    route: Mapped[str] = mapped_column(Text)
    receiver: Mapped[str]
    labels: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    next_flush_at: Mapped[datetime]
    last_notified_at: Mapped[datetime | None]
    notified_firing: Mapped[dict[str, Any]]
    """Fingerprint → severity of the firing alerts in the last notification."""
    notified_resolved: Mapped[list[str]]


class Notification(Base):
    """The outbox: one message for one receiver, sent and retried by the dispatcher."""

    __tablename__ = "notification"
    __table_args__ = (
        Index(None, "status", "next_attempt_at"),
        Index(None, "receiver", "status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(36), unique=True)
    """The idempotency key receivers can deduplicate on (also the e-mail Message-ID)."""
    receiver: Mapped[str]
    group_key: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``sent`` or ``failed``."""
    payload: Mapped[dict[str, Any]]
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    last_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class Silence(Base):
    """Mutes alerts whose labels match every matcher, between two times."""

    __tablename__ = "silence"
    id: Mapped[int] = mapped_column(primary_key=True)
    matchers: Mapped[list[str]]
    """Matchers as text: ``project=PAY``, ``severity!=critical``, ``rule=~milestone_.*``."""
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str]
    created_at: Mapped[datetime]


class Report(Base):
    """A report that was written (the report history)."""

    __tablename__ = "report"
    __table_args__ = (Index(None, "project_id", "generated_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int | None] = mapped_column(fk("project.id", "SET NULL"))
    """None for a portfolio report."""
    kind: Mapped[str] = mapped_column(String(32))
    format: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    generated_at: Mapped[datetime]
    as_of: Mapped[date]
