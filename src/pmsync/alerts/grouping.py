"""Aggregation groups and the notification log: when a receiver hears about what.

Alertmanager's timers, kept in the ``alert_group`` table so a restart (or
another replica) continues exactly where the last evaluation stopped:

* a firing alert joins the group of each (route, receiver, ``group_by`` values)
  it is routed to; a new group waits ``group_wait`` before its first message, so
  alerts that start together arrive together;
* after that the group is looked at every ``group_interval``: it sends when an
  alert is new in it (or changed severity), or when an alert it had reported as
  firing has resolved (with ``send_resolved``); otherwise it repeats the firing
  alerts once ``repeat_interval`` has passed since its last message;
* muted alerts are left out; a group whose alerts are all muted sends nothing
  and keeps its log, so the end of a silence does not trigger a message by itself;
* a group with no firing alert left is removed once its last message is queued.

What was last sent (fingerprint → severity of the firing alerts, and the
resolved ones) is the notification log; it changes in the same transaction that
queues the message, so nothing is ever decided twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pmsync import model
from pmsync.alerts.routing import Policy, RouteNode, build_tree, report_url_for
from pmsync.alerts.silences import Mutes, match_labels
from pmsync.config import Config

FLUSH_SLACK = timedelta(seconds=10)
"""A group due within this much is flushed now: evaluations never land on the exact tick."""


@dataclass(frozen=True)
class QueuedNotification:
    """A message written to the outbox by an evaluation."""

    id: int
    key: str
    receiver: str
    status: str
    """``firing`` (some alert in it fires) or ``resolved`` (all of its alerts resolved)."""
    firing: int
    resolved: int


@dataclass
class _Slot:
    policy: Policy
    receiver: str
    labels: dict[str, str]
    alerts: list[model.Alert] = field(default_factory=list)


def _policies(node: RouteNode) -> dict[str, Policy]:
    found = {node.policy.key: node.policy}
    for child in node.children:
        found.update(_policies(child))
    return found


def alert_payload(alert: model.Alert, status: str) -> dict[str, Any]:
    """Return an alert as the outbox stores it (a snapshot at the moment of the decision)."""
    return {
        "status": status,
        "fingerprint": alert.fingerprint,
        "rule": alert.rule,
        "severity": alert.severity,
        "labels": dict(alert.labels),
        "summary": alert.summary,
        "evidence": alert.evidence,
        "action": alert.action,
        "report_url": alert.report_url,
        "starts_at": alert.starts_at.isoformat() if alert.starts_at else None,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def _needs_update(
    group: model.AlertGroup,
    firing: dict[str, str],
    resolved: set[str],
    policy: Policy,
    at: datetime,
) -> bool:
    # Alertmanager's DedupStage, with severity changes counting as news.
    notified: dict[str, str] = group.notified_firing
    if group.last_notified_at is None:
        return bool(firing)
    if any(notified.get(fp) != severity for fp, severity in firing.items()):
        return True
    if not firing:
        return bool(notified)
    if policy.send_resolved and not resolved <= set(group.notified_resolved):
        return True
    return at + FLUSH_SLACK >= group.last_notified_at + policy.repeat_interval


def _project_of(labels: dict[str, str], alerts: Sequence[model.Alert]) -> str | None:
    if labels.get("project"):
        return labels["project"]
    projects = {a.labels.get("project") for a in alerts}
    return projects.pop() if len(projects) == 1 else None


def _slots(tree: RouteNode, firing: Sequence[model.Alert]) -> dict[str, _Slot]:
    slots: dict[str, _Slot] = {}
    for alert in firing:
        labels = match_labels(alert)
        for policy in tree.routes_for(labels):
            group_labels = policy.group_labels(labels)
            for receiver in policy.receivers:
                key = policy.group_key(receiver, group_labels)
                slots.setdefault(key, _Slot(policy, receiver, group_labels)).alerts.append(alert)
    return slots


def _groups(
    s: Session, slots: dict[str, _Slot], policies: dict[str, Policy], at: datetime
) -> dict[str, model.AlertGroup]:
    groups = {g.key: g for g in s.scalars(select(model.AlertGroup))}
    for key, group in list(groups.items()):
        known = policies.get(group.route)
        if known is None or group.receiver not in known.receivers:
            s.delete(group)  # the route or receiver left the configuration
            del groups[key]
    for key, slot in slots.items():
        if key not in groups and any(a.muted_by is None for a in slot.alerts):
            groups[key] = model.AlertGroup(
                key=key,
                route=slot.policy.key,
                receiver=slot.receiver,
                labels=slot.labels,
                created_at=at,
                next_flush_at=at + slot.policy.group_wait,
                last_notified_at=None,
                notified_firing={},
                notified_resolved=[],
            )
            s.add(groups[key])
    return groups


def _flush(
    s: Session,
    config: Config,
    group: model.AlertGroup,
    policy: Policy,
    members: Sequence[model.Alert],
    mutes: Mutes,
    at: datetime,
) -> model.Notification | None:
    group.next_flush_at = at + policy.group_interval
    firing = {a.fingerprint: a for a in members if a.muted_by is None}
    gone = [fp for fp in group.notified_firing if fp not in firing]
    resolved = [
        a
        for a in s.scalars(select(model.Alert).where(model.Alert.fingerprint.in_(gone)))
        if a.state != "firing" and mutes.silenced_by(match_labels(a)) is None
    ]
    if not firing and not resolved:
        return None  # everything muted: say nothing, keep the log as it is
    severities = {fp: a.severity for fp, a in firing.items()}
    if not _needs_update(group, severities, {a.fingerprint for a in resolved}, policy, at):
        return None
    group.notified_firing = severities
    group.notified_resolved = sorted(a.fingerprint for a in resolved)
    group.last_notified_at = at
    told_resolved = resolved if policy.send_resolved else []
    if not firing and not told_resolved:
        return None
    return _queue(s, config, group, firing, told_resolved, at)


def flush_groups(
    s: Session, config: Config, at: datetime, firing: Sequence[model.Alert], mutes: Mutes
) -> tuple[list[QueuedNotification], datetime | None]:
    """Advance every group's timers at ``at`` and queue the messages that are due."""
    tree = build_tree(config.settings.routing)
    policies = _policies(tree)
    slots = _slots(tree, firing)
    groups = _groups(s, slots, policies, at)
    queued: list[model.Notification] = []
    removed: set[str] = set()
    for key, group in groups.items():
        if at + FLUSH_SLACK < group.next_flush_at:
            continue
        slot = slots.get(key)
        policy = slot.policy if slot else policies[group.route]
        notification = _flush(s, config, group, policy, slot.alerts if slot else [], mutes, at)
        if notification is not None:
            queued.append(notification)
        if slot is None:
            s.delete(group)  # nothing fires in it any more, and its last word is queued
            removed.add(key)
    s.flush()
    result = [
        QueuedNotification(n.id, n.key, n.receiver, n.payload["status"], *_counts(n))
        for n in queued
    ]
    remaining = [g.next_flush_at for key, g in groups.items() if key not in removed]
    return result, min(remaining, default=None)


def _counts(n: model.Notification) -> tuple[int, int]:
    alerts = n.payload["alerts"]
    firing = sum(1 for a in alerts if a["status"] == "firing")
    return firing, len(alerts) - firing


def _queue(
    s: Session,
    config: Config,
    group: model.AlertGroup,
    firing: dict[str, model.Alert],
    resolved: list[model.Alert],
    at: datetime,
) -> model.Notification:
    ordered = sorted(firing.values(), key=lambda a: (a.severity != "critical", a.starts_at or at))
    alerts = [alert_payload(a, "firing") for a in ordered]
    alerts += [alert_payload(a, "resolved") for a in resolved]
    project = _project_of(group.labels, [*firing.values(), *resolved])
    notification = model.Notification(
        key=str(uuid.uuid4()),
        receiver=group.receiver,
        group_key=group.key,
        status="pending",
        payload={
            "status": "firing" if firing else "resolved",
            "receiver": group.receiver,
            "group": {"key": group.key, "labels": dict(group.labels)},
            "project": project,
            "report_url": report_url_for(config.settings.routing, project) if project else None,
            "alerts": alerts,
            "decided_at": at.isoformat(),
        },
        attempts=0,
        next_attempt_at=at,
        created_at=at,
    )
    s.add(notification)
    return notification
