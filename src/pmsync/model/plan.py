"""The plan: projects, milestones, the WBS, money, baselines, plan changes, risks."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pmsync.model.base import Base, fk

# --- the plan (from configuration) -----------------------------------------------------


class Project(Base):
    """An IT project as configured in ``projects/*.yaml``."""

    __tablename__ = "project"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(unique=True)
    name: Mapped[str]
    start_date: Mapped[date | None]
    finish_date: Mapped[date | None]
    budget: Mapped[Decimal | None]
    currency: Mapped[str | None] = mapped_column(String(3))
    settings: Mapped[dict[str, Any] | None]
    """The project's plan as configured, for what has no column of its own."""
    updated_at: Mapped[datetime]


class Milestone(Base):
    """A unified milestone of a project, gathering source milestones from several tools."""

    __tablename__ = "milestone"
    __table_args__ = (UniqueConstraint("project_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(fk("project.id"))
    name: Mapped[str]
    due_date: Mapped[date | None]
    """The planned date: the config's ``due``; for a milestone only the tools know, theirs."""
    description: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str] = mapped_column(String(8), default="plan")
    """``plan`` (configured) or ``tool`` (a fix version or GitHub milestone not configured)."""
    position: Mapped[int] = mapped_column(default=0)
    """Order in the project file (tool-only milestones after, by date)."""
    tool_due_date: Mapped[date | None]
    """The latest due date its source milestones carry in the tools (set by linking)."""
    scope_items: Mapped[int | None]
    """Items in scope at the last plan refresh (pull requests and epics not counted)."""
    scope_points: Mapped[float | None]
    updated_at: Mapped[datetime]


class Deliverable(Base):
    """A node of the project's work breakdown structure (code ``1.2.3``)."""

    __tablename__ = "deliverable"
    __table_args__ = (UniqueConstraint("project_id", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(fk("project.id"))
    code: Mapped[str]
    parent_id: Mapped[int | None] = mapped_column(fk("deliverable.id"), index=True)
    name: Mapped[str]
    owner: Mapped[str | None]
    planned_start: Mapped[date | None]
    planned_finish: Mapped[date | None]
    planned_cost: Mapped[Decimal | None]
    match: Mapped[dict[str, Any] | None]
    """The selectors (epics, labels, components, repositories) that gather its work."""
    position: Mapped[int] = mapped_column(default=0)
    """Order in the WBS, depth first (the order the project file lists it)."""
    updated_at: Mapped[datetime]


# --- money, plan versions, risks ----------------------------------------------------------


class CostEntry(Base):
    """Money spent (an invoice, a licence, a cost-sheet line) against a project."""

    __tablename__ = "cost_entry"
    __table_args__ = (UniqueConstraint("project_id", "reference"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(fk("project.id"))
    deliverable_id: Mapped[int | None] = mapped_column(fk("deliverable.id", "SET NULL"), index=True)
    entry_date: Mapped[date]
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    category: Mapped[str | None]
    vendor: Mapped[str | None]
    description: Mapped[str | None] = mapped_column(Text)
    reference: Mapped[str | None]
    """Where it came from (``costs.csv:14``, an invoice number): re-imports update, not add."""
    created_at: Mapped[datetime]


class Baseline(Base):
    """An approved version of a project's plan."""

    __tablename__ = "baseline"
    __table_args__ = (UniqueConstraint("project_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(fk("project.id"))
    version: Mapped[int]
    approved_at: Mapped[datetime]
    approved_by: Mapped[str | None]
    note: Mapped[str | None] = mapped_column(Text)
    snapshot: Mapped[dict[str, Any]]


class PlanChange(Base):
    """A change of the plan against the approved baseline, approved or not."""

    __tablename__ = "plan_change"
    __table_args__ = (Index(None, "project_id", "detected_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(fk("project.id"))
    baseline_id: Mapped[int | None] = mapped_column(fk("baseline.id", "SET NULL"))
    subject: Mapped[str]
    """What changed: ``milestone:Go-live``, ``deliverable:1.2``, ``budget``."""
    field: Mapped[str]
    from_value: Mapped[str | None] = mapped_column(Text)
    to_value: Mapped[str | None] = mapped_column(Text)
    detected_at: Mapped[datetime]
    approved: Mapped[bool] = mapped_column(default=False)
    approved_by: Mapped[str | None]
    approved_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)


class Risk(Base):
    """An entry of the project's risk register."""

    __tablename__ = "risk"
    __table_args__ = (UniqueConstraint("project_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(fk("project.id"))
    key: Mapped[str]
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    probability: Mapped[float | None]
    impact: Mapped[float | None]
    owner: Mapped[str | None]
    status: Mapped[str] = mapped_column(String(16), default="open")
    response: Mapped[str | None] = mapped_column(Text)
    review_date: Mapped[date | None]
    origin: Mapped[str] = mapped_column(String(8), default="config")
    """``config`` (the project file's register) or ``jira`` (an issue of a risk type)."""
    response_plan: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None]
    updated_at: Mapped[datetime]


# --- linking results (written by ``pmsync.plan``, never by the record upsert) -------------


class PlanState(Base):
    """What a plan refresh keeps between runs, by name (``link_fingerprint``: the
    fingerprint of the plan the work items were last placed in)."""

    __tablename__ = "plan_state"
    name: Mapped[str] = mapped_column(primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]


class MilestoneItem(Base):
    """A work item in a unified milestone (through any of the milestone's selectors)."""

    __tablename__ = "milestone_item"
    milestone_id: Mapped[int] = mapped_column(fk("milestone.id"), primary_key=True)
    work_item_id: Mapped[int] = mapped_column(fk("work_item.id"), primary_key=True, index=True)


class WorkItemLink(Base):
    """A commit or pull request that names a work item (``PAY-12``, ``fixes #3``)."""

    __tablename__ = "work_item_link"
    __table_args__ = (UniqueConstraint("from_kind", "from_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    from_kind: Mapped[str] = mapped_column(String(16))
    """``commit`` or ``pull_request``."""
    from_id: Mapped[int]
    """The id of the commit or pull request row."""
    source_id: Mapped[int] = mapped_column(fk("source.id"))
    key: Mapped[str]
    """The key as found: ``PAY-12`` or ``owner/repo#3``."""
    key_kind: Mapped[str] = mapped_column(String(8))
    """``jira`` or ``github``."""
    relation: Mapped[str] = mapped_column(String(16))
    """``mentions`` or ``fixes`` (a closing keyword)."""
    work_item_id: Mapped[int | None] = mapped_column(fk("work_item.id", "SET NULL"), index=True)
    """The work item the key resolves to now; None while it is not (yet) synced."""
