"""Alerts as people list them: ``pmsync alerts list``, ``pmsync check --json``, reports."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from pmsync import model
from pmsync.alerts.context import subject_of
from pmsync.alerts.findings import SEVERITY_RANK
from pmsync.store import Store

STATES = ("pending", "firing", "resolved", "inactive")


@dataclass(frozen=True)
class AlertInfo:
    """One alert with everything a PM needs to judge it."""

    id: int
    fingerprint: str
    rule: str
    labels: dict[str, str]
    state: str
    severity: str
    summary: str
    evidence: dict[str, Any]
    action: str | None
    report_url: str | None
    pending_since: datetime
    starts_at: datetime | None
    resolved_at: datetime | None
    last_seen_at: datetime
    muted_by: str | None

    @property
    def project(self) -> str | None:
        """Return the project the alert is about, if any."""
        return self.labels.get("project")

    @property
    def subject(self) -> str:
        """Return what the alert is about, in words."""
        return subject_of(self.labels)

    def as_dict(self) -> dict[str, Any]:
        """Return the alert as JSON-ready data."""
        when = {
            name: value.isoformat() if value else None
            for name, value in (
                ("pending_since", self.pending_since),
                ("starts_at", self.starts_at),
                ("resolved_at", self.resolved_at),
                ("last_seen_at", self.last_seen_at),
            )
        }
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "state": self.state,
            "severity": self.severity,
            "labels": self.labels,
            "subject": self.subject,
            "summary": self.summary,
            "evidence": self.evidence,
            "action": self.action,
            "report_url": self.report_url,
            "muted_by": self.muted_by,
            **when,
        }


def list_alerts(
    store: Store, *, states: Collection[str] = ("pending", "firing"), project: str | None = None
) -> list[AlertInfo]:
    """Return alerts in ``states``, the most severe and oldest first."""
    query = select(model.Alert).where(model.Alert.state.in_(list(states)))
    with store.session(readonly=True) as s:
        rows = [
            AlertInfo(
                a.id,
                a.fingerprint,
                a.rule,
                dict(a.labels),
                a.state,
                a.severity,
                a.summary,
                dict(a.evidence),
                a.action,
                a.report_url,
                a.pending_since,
                a.starts_at,
                a.resolved_at,
                a.last_seen_at,
                a.muted_by,
            )
            for a in s.scalars(query)
        ]
    if project is not None:
        rows = [r for r in rows if r.project == project]
    return sorted(
        rows,
        key=lambda r: (STATES.index(r.state), -SEVERITY_RANK[r.severity], r.pending_since, r.id),
    )
