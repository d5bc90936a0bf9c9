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
    """A finding of the rules engine, identified by its fingerprint."""

    __tablename__ = "alert"
    __table_args__ = (Index(None, "state", "severity"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)
    rule: Mapped[str]
    labels: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    """``firing`` or ``resolved``."""
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]]
    starts_at: Mapped[datetime]
    last_evaluated_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]


class Notification(Base):
    """The outbox: one message for one receiver, sent and retried by the dispatcher."""

    __tablename__ = "notification"
    __table_args__ = (Index(None, "status", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(fk("alert.id"), index=True)
    receiver: Mapped[str]
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """``pending``, ``sent`` or ``failed``."""
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)


class Silence(Base):
    """Mutes alerts whose labels match, between two times."""

    __tablename__ = "silence"
    id: Mapped[int] = mapped_column(primary_key=True)
    matchers: Mapped[dict[str, Any]]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime] = mapped_column(index=True)
    comment: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None]
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
