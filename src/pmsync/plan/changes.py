"""The plan-change log: what moved in the plan between two refreshes.

A PM approves a plan (a baseline); afterwards dates move, budgets change and
scope grows, in the config or in the tools. Each such change is written once,
when a refresh first sees it, as (when, what, field, old, new), against the
latest baseline of the project and not yet approved; ``pmsync baseline set``
approves everything pending. Changes seen before any baseline are kept as
history but cannot be *unapproved*: there was no approved plan to depart from.

Values are stored as text in one spelling so that reports and rules can read
them back: dates ISO, money with two decimals, numbers without trailing zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, func, insert, select

from pmsync import model

FIELDS = (
    "start",
    "finish",
    "budget",
    "annual_budget",
    "milestone",
    "due",
    "tool_due",
    "scope_items",
    "scope_points",
    "deliverable",
    "planned_start",
    "planned_finish",
    "planned_cost",
)
"""Every ``plan_change.field`` pmsync writes (``annual_budget:2026`` carries its year)."""


def as_text(value: Any) -> str | None:
    """Return ``value`` as the plan-change log spells it."""
    if value is None:
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, float):
        return f"{value:g}" if value == value else None
    return str(value)


@dataclass(frozen=True, slots=True)
class Change:
    """One detected change of the plan."""

    project_id: int
    subject: str
    """``project``, ``milestone:<name>`` or ``deliverable:<code>``."""
    field: str
    from_value: str | None
    to_value: str | None


@dataclass
class ChangeLog:
    """The changes one refresh detected, written together at its end."""

    changes: list[Change] = field(default_factory=list)

    def note(self, project_id: int, subject: str, name: str, old: Any, new: Any) -> None:
        """Record that ``name`` of ``subject`` went from ``old`` to ``new`` (if it did)."""
        before, after = as_text(old), as_text(new)
        if before != after:
            self.changes.append(Change(project_id, subject, name, before, after))

    def write(self, conn: Connection, now: datetime) -> int:
        """Insert the changes against each project's latest baseline; return how many."""
        if not self.changes:
            return 0
        baseline = model.table_of(model.Baseline)
        latest: dict[int, int] = dict(
            conn.execute(
                select(baseline.c.project_id, func.max(baseline.c.id)).group_by(
                    baseline.c.project_id
                )
            ).all()
        )
        rows = [
            {
                "project_id": c.project_id,
                "baseline_id": latest.get(c.project_id),
                "subject": c.subject,
                "field": c.field,
                "from_value": c.from_value,
                "to_value": c.to_value,
                "detected_at": now,
                "approved": False,
            }
            for c in self.changes
        ]
        conn.execute(insert(model.table_of(model.PlanChange)), rows)
        return len(rows)
