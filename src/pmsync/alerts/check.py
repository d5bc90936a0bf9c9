"""One check: evaluate the findings, then deliver what the evaluation queued.

This is what ``pmsync check`` and the daemon's check job run once the rules
engine has produced the findings. Evaluation and delivery are separate steps on
purpose: evaluation commits the alert states and the outbox together, so a
channel that is down can never undo or repeat a decision; delivery then works
through the outbox (including messages left over from earlier runs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pmsync.alerts.findings import Finding
from pmsync.alerts.lifecycle import AlertChanges, evaluate_alerts
from pmsync.alerts.outbox import DispatchReport, dispatch_notifications
from pmsync.alerts.views import AlertInfo, list_alerts
from pmsync.config import Config
from pmsync.store import Store


@dataclass(frozen=True)
class CheckReport:
    """What a check changed, what it delivered, and the alerts now open."""

    changes: AlertChanges
    dispatch: DispatchReport
    alerts: list[AlertInfo]

    @property
    def ok(self) -> bool:
        """Tell whether every message due was delivered (exit code 0)."""
        return self.dispatch.ok

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (``pmsync check --json``)."""
        return {
            "ok": self.ok,
            "alerts": [a.as_dict() for a in self.alerts],
            "transitions": [
                {
                    "rule": t.rule,
                    "labels": t.labels,
                    "from": t.before,
                    "to": t.after,
                    "summary": t.summary,
                }
                for t in self.changes.transitions
            ],
            "notifications": [d.as_dict() for d in self.dispatch.deliveries],
            "next_flush_at": (
                self.changes.next_flush_at.isoformat() if self.changes.next_flush_at else None
            ),
        }


def run_check(
    store: Store,
    config: Config,
    findings: Iterable[Finding],
    now: Callable[[], datetime],
    *,
    limit: int = 100,
) -> CheckReport:
    """Evaluate ``findings`` (the complete current set), then dispatch the outbox."""
    changes = evaluate_alerts(store, findings, now, config)
    dispatch = dispatch_notifications(store, config, now, limit=limit)
    return CheckReport(changes, dispatch, list_alerts(store))
