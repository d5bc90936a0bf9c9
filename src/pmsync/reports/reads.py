"""What a report reads straight from the store: sync runs, alerts, plan changes, meetings.

These are records, not measurements, so reading them needs no metric: when a
source last synced well, which alerts fire for a project, which plan changes
were detected, which calendar events belong to the project's meeting cadence.
Each function is one query (or a handful), never a loop of queries per item.
"""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from pmsync import model
from pmsync.config import Config
from pmsync.config import Project as ProjectPlan
from pmsync.reports.facts import AlertRow, Evidence, Meeting, PlanChangeRow, SourceFreshness
from pmsync.store import FRESH_RUNS, Store

STALE_AFTER_INTERVALS = 2
"""A source is stale after this many sync intervals without a successful run."""


def sync_interval(config: Config, name: str) -> timedelta:
    """Return how often a source is meant to sync (its cron's gap, interval, or the default)."""
    options = config.sources[name].options
    if options.cron:
        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(options.cron, timezone="UTC")
        first = trigger.get_next_fire_time(None, datetime(2025, 1, 6, tzinfo=trigger.timezone))
        second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
        if first and second:
            return second - first
    return options.interval or config.settings.daemon.sync_interval


_STATES = {"failed": "failing", "partial": "partial"}
"""A source's state by its latest run's status; ``partial``: some scope was skipped."""


def _first_line(error: str | None) -> str | None:
    lines = (error or "").splitlines()
    return lines[0][:200] or None if lines else None


def freshness(config: Config, store: Store, now: datetime) -> tuple[SourceFreshness, ...]:
    """Return the freshness of every enabled source at ``now``."""
    names = sorted(n for n, s in config.sources.items() if s.enabled)
    if not names:
        return ()
    with store.session(readonly=True) as s:
        good = dict(
            s.execute(
                select(model.Source.name, func.max(model.SyncRun.finished_at))
                .join(model.SyncRun, model.SyncRun.source_id == model.Source.id)
                .where(model.SyncRun.status.in_(FRESH_RUNS), model.SyncRun.finished_at <= now)
                .group_by(model.Source.name)
            ).all()
        )
        last = {
            name: (status, error)
            for name, status, error in s.execute(
                select(model.Source.name, model.SyncRun.status, model.SyncRun.error)
                .join(model.SyncRun, model.SyncRun.source_id == model.Source.id)
                .where(model.SyncRun.status != "running", model.SyncRun.started_at <= now)
                .order_by(model.SyncRun.started_at, model.SyncRun.id)
            ).all()
        }
    rows = []
    for name in names:
        success = good.get(name)
        status, error = last.get(name, (None, None))
        limit = sync_interval(config, name) * STALE_AFTER_INTERVALS
        age = (now - success).total_seconds() / 3600 if success else None
        state = "never" if success is None else _STATES.get(status or "ok", "ok")
        rows.append(
            SourceFreshness(
                source=name,
                kind=config.sources[name].type,
                last_success=success,
                age_hours=round(age, 2) if age is not None else None,
                stale=success is None or now - success > limit,
                status=state,  # type: ignore[arg-type]
                error=_first_line(error) if state in ("failing", "partial") else None,
            )
        )
    return tuple(rows)


def _evidence(evidence: Any) -> tuple[Evidence, ...]:
    items = evidence.get("items", []) if isinstance(evidence, dict) else []
    found = [
        Evidence(str(k), str(v))
        for k, v in sorted((evidence or {}).items())
        if k not in ("items", "suggested_action") and not isinstance(v, dict | list)
    ]
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            label = str(item.get("label") or item.get("key") or "item")
            value = str(item.get("value") or item.get("title") or item.get("key") or "")
            found.append(Evidence(label, value, item.get("url")))
    return tuple(found)


def firing_alerts(store: Store, project_key: str) -> tuple[AlertRow, ...]:
    """Return the project's firing alerts, critical first, oldest first within a severity."""
    return firing_alerts_by_project(store, [project_key])[project_key]


def firing_alerts_by_project(
    store: Store, project_keys: Collection[str]
) -> dict[str, tuple[AlertRow, ...]]:
    """Return the firing alerts of each project of ``project_keys`` (one query for them all)."""
    wanted = set(project_keys)
    with store.session(readonly=True) as s:
        alerts = s.scalars(select(model.Alert).where(model.Alert.state == "firing")).all()
    rank = {"critical": 0, "warning": 1, "info": 2}
    found: dict[str, list[AlertRow]] = {key: [] for key in wanted}
    for a in alerts:
        labels = a.labels or {}
        project_key = labels.get("project")
        if project_key not in wanted:
            continue
        subject = next(
            (
                f"{k}:{labels[k]}"
                for k in ("milestone", "deliverable", "person", "risk", "source")
                if k in labels
            ),
            f"project:{project_key}",
        )
        action = (a.evidence or {}).get("suggested_action") or labels.get("suggested_action")
        severity = a.severity if a.severity in rank else "info"
        found[project_key].append(
            AlertRow(
                a.rule,
                severity,  # type: ignore[arg-type]
                a.summary,
                subject,
                a.starts_at,  # type: ignore[arg-type]
                _evidence(a.evidence),
                action,
            )
        )
    for rows in found.values():
        rows.sort(key=lambda r: (rank[r.severity], r.since, r.rule))
    return {key: tuple(rows) for key, rows in found.items()}


def plan_changes(store: Store, project_id: int, since: datetime, until: datetime) -> tuple:
    """Return the plan changes detected in (since, until], oldest first."""
    return plan_changes_by_project(store, [project_id], since, until).get(project_id, ())


def plan_changes_by_project(
    store: Store, project_ids: Collection[int], since: datetime | None, until: datetime
) -> dict[int, tuple[PlanChangeRow, ...]]:
    """Return the plan changes of each project detected in (since, until], oldest first.

    ``since`` None: every change up to ``until`` (one read for many reports).
    """
    change = model.table_of(model.PlanChange)
    query = select(change).where(
        change.c.project_id.in_(sorted(project_ids)), change.c.detected_at <= until
    )
    if since is not None:
        query = query.where(change.c.detected_at > since)
    found: dict[int, list[PlanChangeRow]] = defaultdict(list)
    with store.session(readonly=True) as s:
        for c in s.execute(query.order_by(change.c.detected_at, change.c.id)):
            found[c.project_id].append(
                PlanChangeRow(
                    c.detected_at, c.subject, c.field, c.from_value, c.to_value, c.approved
                )
            )
    return {pid: tuple(rows) for pid, rows in found.items()}


def project_id(store: Store, key: str) -> int | None:
    """Return the store's id of a project (None until the plan has been loaded)."""
    return project_ids(store, [key]).get(key)


def project_ids(store: Store, keys: Collection[str]) -> dict[str, int]:
    """Return the store's id of each project of ``keys`` the plan has been loaded for."""
    with store.session(readonly=True) as s:
        return {
            str(key): int(pid)
            for key, pid in s.execute(
                select(model.Project.key, model.Project.id).where(
                    model.Project.key.in_(sorted(keys))
                )
            ).all()
        }


def _email_map(store: Store, config: Config, logins: Sequence[str]) -> dict[str, str]:
    """Return the e-mail address of each login pmsync knows one for (one query)."""
    with store.session(readonly=True) as s:
        known = dict(
            s.execute(
                select(model.Identity.login, model.Identity.email).where(
                    model.Identity.login.in_(list(logins)), model.Identity.email.is_not(None)
                )
            ).all()
        )
    people = {p.id: p.email for p in config.settings.people if p.email}
    found = {}
    for login in logins:
        email = known.get(login) or people.get(login) or (login if "@" in login else None)
        if email:
            found[login] = email
    return found


def _emails(store: Store, config: Config, logins: Sequence[str]) -> tuple[str, ...]:
    """Return attendee logins as e-mail addresses where pmsync knows them."""
    known = _email_map(store, config, logins)
    return tuple(dict.fromkeys(known[login] for login in logins if login in known))


def cadence_meetings(
    config: Config,
    store: Store,
    plan: ProjectPlan,
    start: datetime,
    end: datetime,
    kinds: Sequence[str] | None = None,
) -> tuple[Meeting, ...]:
    """Return the calendar events in [start, end) that match the project's meeting cadence."""
    cadence = [m for m in plan.meetings if kinds is None or m.kind in kinds]
    if not cadence:
        return ()
    with store.session(readonly=True) as s:
        events = s.execute(
            select(model.CalendarEvent, model.Source.name)
            .join(model.Source, model.Source.id == model.CalendarEvent.source_id)
            .where(model.CalendarEvent.deleted_at.is_(None))
            .where(model.CalendarEvent.status != "cancelled")
            .where(model.CalendarEvent.starts_at >= start, model.CalendarEvent.starts_at < end)
            .order_by(model.CalendarEvent.starts_at, model.CalendarEvent.id)
        ).all()
    found = []
    for event, source in events:
        for m in cadence:
            title = event.title.casefold()
            if (m.source is None or m.source == source) and any(
                fnmatch.fnmatchcase(title, p.casefold()) for p in m.title_patterns
            ):
                attendees = _emails(store, config, event.attendee_logins or [])
                found.append(Meeting(m.kind, event.title, event.starts_at, attendees, event.url))
                break
    return tuple(found)


def calendar_synced(store: Store, until: datetime) -> bool:
    """Tell whether any calendar (a source's ``events`` stream) synced well by ``until``."""
    with store.session(readonly=True) as s:
        found = s.scalar(
            select(model.SyncRun.id)
            .where(
                model.SyncRun.stream == "events",
                model.SyncRun.status.in_(FRESH_RUNS),
                model.SyncRun.finished_at <= until,
            )
            .limit(1)
        )
    return found is not None


def event_attendees(
    store: Store, config: Config, event_ids: Sequence[int]
) -> dict[int, tuple[str, ...]]:
    """Return the attendees of calendar events as e-mail addresses where pmsync knows them."""
    if not event_ids:
        return {}
    with store.session(readonly=True) as s:
        logins = dict(
            s.execute(
                select(model.CalendarEvent.id, model.CalendarEvent.attendee_logins).where(
                    model.CalendarEvent.id.in_(list(event_ids))
                )
            ).all()
        )
    everyone = sorted({login for found in logins.values() for login in found or []})
    emails = _email_map(store, config, everyone)
    return {
        event: tuple(dict.fromkeys(emails[x] for x in found or [] if x in emails))
        for event, found in logins.items()
    }


def day_start(day: date) -> datetime:
    """Return midnight UTC at the start of ``day``."""
    from datetime import UTC

    return datetime(day.year, day.month, day.day, tzinfo=UTC)
