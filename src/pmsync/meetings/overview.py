"""Meetings held and missed per project, and who is away: what ``pmsync meetings`` shows.

One function gathers it for the CLI, the reports and the daemon alike: per
project, each cadence of its ``meetings:`` with its slots and the meetings
coming up; per person, the hours lost to leave and public holidays in the
period. Periods are whole local days in the configured ``timezone``, and a
project's cadences are only read inside the project's own dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from pmsync import model
from pmsync.config.types import format_duration
from pmsync.meetings.cadence import CadenceReport, Slot, cadence_report, upcoming_meetings
from pmsync.meetings.capacity import Absence, load_capacity
from pmsync.meetings.link import project_team
from pmsync.meetings.rows import Meeting, load_meetings

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.store import Store


@dataclass(frozen=True)
class ProjectMeetings:
    """One project's cadences in the period and its meetings in the coming days."""

    key: str
    name: str
    cadences: tuple[CadenceReport, ...]
    upcoming: tuple[Meeting, ...]
    stored: bool = True
    """False until the plan refresh of a sync stores the project: nothing is linked to it."""


@dataclass(frozen=True)
class PersonLeave:
    """One person's hours in the period, and the absences that took some."""

    person: str
    name: str
    normal_hours: float
    holiday_hours: float
    leave_hours: float
    available_hours: float
    weeks: dict[str, float]
    absences: tuple[Absence, ...]


@dataclass(frozen=True)
class MeetingsOverview:
    """Everything ``pmsync meetings`` prints."""

    start: date
    end: date
    now: datetime
    projects: tuple[ProjectMeetings, ...]
    people: tuple[PersonLeave, ...]

    def as_dict(self) -> dict[str, Any]:
        """Return the overview as JSON-ready values."""
        return {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "now": self.now.isoformat(),
            "projects": [
                {
                    "key": p.key,
                    "name": p.name,
                    "stored": p.stored,
                    "cadences": [_cadence_dict(c, self.now) for c in p.cadences],
                    "upcoming": [_meeting_dict(m) for m in p.upcoming],
                }
                for p in self.projects
            ],
            "people": [
                {
                    "person": p.person,
                    "name": p.name,
                    "normal_hours": round(p.normal_hours, 2),
                    "holiday_hours": round(p.holiday_hours, 2),
                    "leave_hours": round(p.leave_hours, 2),
                    "available_hours": round(p.available_hours, 2),
                    "weeks": p.weeks,
                    "absences": [
                        {
                            "kind": a.kind,
                            "title": a.title,
                            "starts_at": a.starts_at.isoformat(),
                            "ends_at": a.ends_at.isoformat(),
                            "all_day": a.all_day,
                        }
                        for a in p.absences
                    ],
                }
                for p in self.people
            ],
        }


def _meeting_dict(meeting: Meeting) -> dict[str, Any]:
    return {
        "title": meeting.title,
        "kind": meeting.kind,
        "starts_at": meeting.starts_at.isoformat(),
        "scheduled_at": meeting.scheduled_at.isoformat(),
        "status": meeting.status,
        "moved": meeting.moved,
        "url": meeting.url,
    }


def _slot_dict(slot: Slot, now: datetime) -> dict[str, Any]:
    return {
        "expected_at": slot.expected_at.isoformat(),
        "outcome": slot.outcome,
        "moved": slot.moved,
        "days_overdue": slot.days_overdue(now),
        "meetings": [_meeting_dict(m) for m in slot.meetings],
    }


def _cadence_dict(report: CadenceReport, now: datetime) -> dict[str, Any]:
    return {
        "kind": report.kind,
        "every": format_duration(report.every),
        "title_patterns": list(report.title_patterns),
        "held": report.held,
        "moved": report.moved,
        "cancelled": report.cancelled,
        "missing": report.missing,
        "scheduled": report.count("scheduled"),
        "slots": [_slot_dict(s, now) for s in report.slots],
    }


def local_midnight(day: date, zone: str) -> datetime:
    """Return the start of ``day`` in time zone ``zone`` as an aware datetime."""
    return datetime.combine(day, time(), ZoneInfo(zone))


def project_cadences(
    store: Store,
    config: Config,
    key: str,
    start: date,
    end: date,
    now: datetime,
    meetings: Sequence[Meeting] | None = None,
) -> tuple[CadenceReport, ...]:
    """Return each cadence of project ``key`` over the local days ``start``-``end``.

    The period is clipped to the project's own dates; ``meetings`` (the
    project's events) are read from the store when not given.
    """
    project = config.projects[key]
    zone = config.settings.timezone
    since, until = max(start, project.start), min(end, project.finish)
    if until < since:
        return ()
    first = local_midnight(since, zone)
    last = local_midnight(until + timedelta(days=1), zone)
    rows = load_meetings(store, project=key) if meetings is None else meetings
    return tuple(cadence_report(key, c, rows, first, last, now) for c in project.meetings)


def meetings_overview(
    store: Store,
    config: Config,
    start: date,
    end: date,
    now: datetime,
    *,
    projects: Sequence[str] | None = None,
    days_ahead: int = 14,
) -> MeetingsOverview:
    """Return cadences per project and leave per person for the days ``start``-``end``."""
    zone = config.settings.timezone
    keys = list(projects) if projects is not None else sorted(config.projects)
    found = []
    team: set[str] = set()
    with store.session(readonly=True) as s:
        stored = set(s.scalars(select(model.Project.key).where(model.Project.key.in_(keys))))
    for key in keys:
        project = config.projects[key]
        team |= project_team(project)
        meetings = load_meetings(store, project=key)
        reports = project_cadences(store, config, key, start, end, now, meetings)
        ahead = tuple(upcoming_meetings(meetings, now, days_ahead))
        found.append(ProjectMeetings(key, project.name, reports, ahead, key in stored))
    table = load_capacity(store, config, start, end, team if projects is not None else None)
    weekly = table.weekly()
    first, last = local_midnight(start, zone), local_midnight(end + timedelta(days=1), zone)
    people = []
    for worker in table.workers:
        totals = table.totals(worker.key)
        people.append(
            PersonLeave(
                person=worker.key,
                name=worker.name,
                normal_hours=totals.normal_hours,
                holiday_hours=totals.holiday_hours,
                leave_hours=totals.leave_hours,
                available_hours=totals.available_hours,
                weeks=weekly.get(worker.key, {}),
                absences=tuple(
                    a
                    for a in table.absences.get(worker.key, ())
                    if a.ends_at > first and a.starts_at < last
                ),
            )
        )
    return MeetingsOverview(start, end, now, tuple(found), tuple(people))
