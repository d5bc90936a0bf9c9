"""From the current findings to alert states, and from state changes to the outbox.

Prometheus's alert lifecycle, evaluated against the whole set of findings at
one moment::

             finding appears            lasted `pending` ("for")
    none ──────────────────► pending ─────────────────────────► firing
                              ▲    │                               │
          finding appears     │    │ finding gone                  │ finding gone for
          again               │    ▼                               │ `resolve_after`
                          inactive · resolved ◄────────────────────┘

* ``pending`` absorbs flapping: a finding that comes and goes within the
  pending period never fires, so nobody is told.
* ``inactive`` is a pending alert whose finding vanished; it was never notified.
* An alert is identified by its fingerprint (rule + labels), so the same row
  lives through many episodes; severity, summary and evidence follow the latest
  finding.

``evaluate_alerts`` does all of it in ONE transaction: alert states, mutes,
the groups' notification log and the notifications it decides to send (the
transactional outbox). A crash leaves either the old state and no messages, or
the new state and its messages; the dispatcher delivers them later. On
PostgreSQL an advisory lock lets one replica evaluate at a time; on SQLite the
write transaction does the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from pmsync import model
from pmsync.alerts.findings import SEVERITY_RANK, Finding
from pmsync.alerts.grouping import QueuedNotification, flush_groups
from pmsync.alerts.routing import inhibition_rules, pending_for, report_url_for
from pmsync.alerts.silences import Mutes, match_labels
from pmsync.config import Config
from pmsync.store import Store

log = logging.getLogger(__name__)
ACTIVE = ("pending", "firing")
_PG_ALERTS_LOCK = 0x706D616C  # "pmal": one evaluation at a time per schema across replicas


@dataclass(frozen=True)
class Transition:
    """An alert that changed state in this evaluation."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    severity: str
    summary: str
    before: str | None
    """None: the alert is new."""
    after: str


@dataclass(frozen=True)
class AlertChanges:
    """What one evaluation changed and queued."""

    transitions: tuple[Transition, ...]
    notifications: tuple[QueuedNotification, ...]
    next_flush_at: datetime | None
    """The earliest moment a group may have something to send: evaluate again then."""

    def entered(self, state: str) -> list[Transition]:
        """Return the transitions into ``state`` (``pending``, ``firing``, ...)."""
        return [t for t in self.transitions if t.after == state]


def _current(findings: Iterable[Finding]) -> dict[str, Finding]:
    current: dict[str, Finding] = {}
    for finding in findings:
        seen = current.get(finding.fingerprint)
        if seen is not None:
            log.warning(
                "rule %s reported %s twice; keeping the more severe", finding.rule, finding.labels
            )
            if SEVERITY_RANK[seen.severity] >= SEVERITY_RANK[finding.severity]:
                continue
        current[finding.fingerprint] = finding
    return current


def _lock(s: Session) -> None:
    if s.get_bind().dialect.name == "postgresql":
        # per schema: installations (and test runs) sharing a server never wait on each other
        s.execute(
            text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))"),
            {"k": _PG_ALERTS_LOCK},
        )


def _apply(row: model.Alert, finding: Finding, config: Config, at: datetime) -> None:
    row.severity = finding.severity
    row.summary = finding.summary
    row.evidence = finding.evidence.as_dict()
    row.action = finding.action
    row.report_url = finding.report_url or report_url_for(
        config.settings.routing, finding.labels.get("project")
    )
    row.last_seen_at = row.last_evaluated_at = at


def evaluate_alerts(
    store: Store, findings: Iterable[Finding], now: Callable[[], datetime], config: Config
) -> AlertChanges:
    """Update alerts from the complete set of current findings and queue notifications."""
    current = _current(findings)
    routing = config.settings.routing
    at = now()
    changes: list[tuple[model.Alert, str | None]] = []
    with store.session() as s:
        _lock(s)
        rows = {
            a.fingerprint: a
            for a in s.scalars(
                select(model.Alert).where(
                    or_(model.Alert.state.in_(ACTIVE), model.Alert.fingerprint.in_(list(current)))
                )
            )
        }
        for fp, finding in current.items():
            row = rows.get(fp)
            before = row.state if row is not None else None
            if row is None:
                row = model.Alert(fingerprint=fp, rule=finding.rule, labels=dict(finding.labels))
                s.add(row)
                rows[fp] = row
            if before not in ACTIVE:
                row.state, row.pending_since = "pending", at
                row.starts_at = row.resolved_at = None
            _apply(row, finding, config, at)
            if row.state == "pending" and at - row.pending_since >= pending_for(routing, row.rule):
                row.state, row.starts_at = "firing", at
            if row.state != before:
                changes.append((row, before))
        for fp, row in rows.items():
            if fp in current or row.state not in ACTIVE:
                continue
            row.last_evaluated_at = at
            if row.state == "pending":
                changes.append((row, row.state))
                row.state = "inactive"
            elif at - row.last_seen_at >= routing.resolve_after:
                changes.append((row, row.state))
                row.state, row.resolved_at = "resolved", at
        firing = [a for a in rows.values() if a.state == "firing"]
        mutes = Mutes.load(s, at, inhibition_rules(routing), firing)
        for alert in rows.values():
            alert.muted_by = (
                mutes.reason(alert.fingerprint, match_labels(alert))
                if alert.state == "firing"
                else None
            )
        s.flush()
        queued, next_flush_at = flush_groups(s, config, at, firing, mutes)
        transitions = tuple(
            Transition(
                row.fingerprint,
                row.rule,
                dict(row.labels),
                row.severity,
                row.summary,
                before,
                row.state,
            )
            for row, before in changes
        )
    for t in transitions:
        log.info("alert %s %s -> %s: %s", t.rule, t.before or "new", t.after, t.summary)
    return AlertChanges(transitions, tuple(queued), next_flush_at)
