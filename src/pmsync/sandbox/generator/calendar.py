"""Render the projects' meeting rhythm and people's absences as Google calendars.

Each project has a calendar with a weekly status meeting (a recurring series with
one instance moved and one cancelled, and another cancelled in the future), a
monthly steering committee, a review on each milestone's due date and one-off
meetings. A shared leave calendar holds people's absences (the slipping
project's lead is away in its milestone's final days) and a holidays calendar the
public holidays that also stop the teams' work.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pmsync.sandbox.generator import text
from pmsync.sandbox.generator.base import ProjectPlan, build, change, zone
from pmsync.sandbox.scenario import Calendar, CalendarEventSpec, Person

HOLIDAY_CALENDAR = "en.company#holiday@group.v.calendar.google.com"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _local(day: date, hour: int, tz: str) -> datetime:
    return datetime.combine(day, time(hour), zone(tz)).astimezone(UTC)


class EventFactory:
    """Make events with fresh Google-style ids."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.count = 0

    def new_id(self) -> str:
        """Return a fresh base32hex-compatible event id."""
        return f"{self.rng.getrandbits(104):026x}"

    def make(self, **values: Any) -> CalendarEventSpec:
        """Return an event; ``history`` may be given as (at, author, set) tuples."""
        self.count += 1
        rows = values.pop("history", [])
        values.setdefault("id", self.new_id())
        history = [change(a, w, s) for a, w, s in sorted(rows, key=lambda r: r[0])]
        return build(CalendarEventSpec, history=history, **values)


def _weekday_on_or_after(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _status_meetings(
    f: EventFactory, plan: ProjectPlan, tz: str, clock: datetime, finish: date
) -> list[CalendarEventSpec]:
    first = _weekday_on_or_after(plan.start, 1)
    start = _local(first, 10, tz)
    attendees = [plan.manager, *plan.team[:8]]
    series = f.make(
        created=start - timedelta(days=5),
        summary=f"{plan.key} weekly status",
        description="Agenda: milestones, risks, blockers.",
        location="Teams",
        start=start,
        end=start + timedelta(minutes=30),
        time_zone=tz,
        recurrence=[f"RRULE:FREQ=WEEKLY;BYDAY=TU;UNTIL={finish:%Y%m%d}T235959Z"],
        organizer=plan.manager,
        attendees=attendees,
    )
    out = [series]
    weeks = [first + timedelta(weeks=n) for n in range(60)]
    past = [w for w in weeks if _local(w, 10, tz) < clock - timedelta(days=2)]
    future = [w for w in weeks if w > (clock + timedelta(days=14)).date() and w <= finish]
    picks: list[tuple[date, str, datetime]] = []
    if len(past) >= 4:
        picks += [(past[2], "moved", start - timedelta(days=5)), (past[-2], "cancelled", start)]
    if future:
        picks.append((future[0], "cancelled", clock + timedelta(days=5, hours=3)))
    for day, how, created in picks:
        original = _local(day, 10, tz)
        moved = original + timedelta(days=1) if how == "moved" else original
        out.append(
            f.make(
                id=f"{series.id}_{original:%Y%m%dT%H%M%SZ}",
                created=max(created, original - timedelta(days=3)) if how == "moved" else created,
                summary=series.summary,
                start=moved,
                end=moved + timedelta(minutes=30),
                time_zone=tz,
                recurring_event_id=series.id,
                original_start=original,
                status="cancelled" if how == "cancelled" else "confirmed",
                organizer=plan.manager,
                attendees=attendees,
            )
        )
    return out


def _project_events(
    f: EventFactory, plan: ProjectPlan, people: dict[str, Person], clock: datetime
) -> list[CalendarEventSpec]:
    tz = people[plan.manager].time_zone
    finish = plan.finish or plan.start + timedelta(days=300)
    events = _status_meetings(f, plan, tz, clock, finish)
    steering = _local(_weekday_on_or_after(plan.start.replace(day=1), 3), 15, tz)
    events.append(
        f.make(
            created=steering - timedelta(days=10),
            summary=f"{plan.name} steering committee",
            start=steering,
            end=steering + timedelta(hours=1),
            time_zone=tz,
            recurrence=["RRULE:FREQ=MONTHLY;BYDAY=1TH"],
            organizer=plan.manager,
            attendees=[plan.manager, plan.sponsor, plan.lead],
        )
    )
    for version in plan.versions:
        at = _local(version.due, 14, tz)
        history = []
        if version.pushed:
            when, due = version.pushed
            moved = _local(due, 14, tz)
            history.append(
                (
                    when,
                    plan.manager,
                    {"start": _iso(moved), "end": _iso(moved + timedelta(hours=1))},
                )
            )
            review = _local(due - timedelta(days=2), 16, tz)
            events.append(
                f.make(
                    created=when + timedelta(hours=1),
                    summary=f"Go/no-go: {version.name}",
                    start=review,
                    end=review + timedelta(minutes=45),
                    time_zone=tz,
                    organizer=plan.manager,
                    attendees=[plan.manager, plan.sponsor, plan.lead],
                )
            )
        events.append(
            f.make(
                created=datetime.combine(plan.start, time(9), UTC),
                summary=f"Milestone review: {version.name}",
                start=at,
                end=at + timedelta(hours=1),
                time_zone=tz,
                organizer=plan.manager,
                attendees=[plan.manager, plan.sponsor, plan.lead, plan.team[-1]],
                history=history,
            )
        )
    demo = _local((clock + timedelta(days=12)).date(), 11, tz)
    events.append(
        f.make(
            created=clock - timedelta(days=9),
            summary=f"{plan.key}: vendor demo",
            start=demo,
            end=demo + timedelta(hours=1),
            time_zone=tz,
            organizer=plan.manager,
            attendees=[plan.manager, plan.lead],
            history=[(clock + timedelta(days=6), plan.manager, {"status": "cancelled"})],
        )
    )
    return events


def _meetings(
    f: EventFactory,
    plan: ProjectPlan,
    people: dict[str, Person],
    clock: datetime,
    horizon: datetime,
    fillers: int,
) -> list[CalendarEventSpec]:
    """Return ``fillers`` one-off meetings; some move or get cancelled after the clock."""
    rng = f.rng
    events = []
    specials = text.HOSTILE_TITLES + text.UNICODE_TITLES
    days = plan.workdays
    last = days.index_of(horizon.date())
    for n in range(fillers):
        organizer = rng.choice([plan.manager, plan.lead])
        org_tz = people[organizer].time_zone
        start = _local(days.day(rng.randint(0, last)), rng.randint(10, 16), org_tz)
        summary = specials[n // 25 % len(specials)] if n % 25 == 3 else rng.choice(text.MEETINGS)
        created = start - timedelta(days=rng.uniform(1, 14))
        changes: list[tuple[datetime, str, dict[str, Any]]] = []
        if created > clock and rng.random() < 0.15:
            changes.append(
                (
                    created + timedelta(hours=20),
                    organizer,
                    {
                        "start": _iso(start + timedelta(hours=1)),
                        "end": _iso(start + timedelta(hours=2)),
                    },
                )
            )
        elif start > clock + timedelta(days=3) and created < clock and rng.random() < 0.1:
            changes.append((start - timedelta(days=2), organizer, {"status": "cancelled"}))
        events.append(
            f.make(
                created=created,
                summary=f"{plan.key}: {summary}",
                start=start,
                end=start + timedelta(hours=1),
                time_zone=org_tz,
                organizer=organizer,
                attendees=rng.sample(plan.team, min(4, len(plan.team))),
                history=changes,
            )
        )
    return events


def _leave(
    f: EventFactory,
    plans: Sequence[ProjectPlan],
    people: dict[str, Person],
    clock: datetime,
    horizon: datetime,
) -> list[CalendarEventSpec]:
    rng = f.rng
    events = []
    first = min(p.start for p in plans)
    span = (horizon.date() - first).days + 20
    for plan in plans:
        cancelled = False
        for person in [*plan.team, plan.manager]:
            name = people[person].name
            for _ in range(rng.choice((1, 1, 2))):
                day = first + timedelta(days=rng.randrange(span))
                length = rng.choice((1, 1, 2, 3, 5, 7))
                created = datetime.combine(day - timedelta(days=rng.randint(3, 40)), time(10), UTC)
                history = []
                if not cancelled and created < clock < datetime.combine(day, time(0), UTC):
                    cancelled = True
                    history.append(
                        (clock + timedelta(days=1, hours=2), person, {"status": "cancelled"})
                    )
                if rng.random() < 0.1:
                    tz = people[person].time_zone
                    events.append(
                        f.make(
                            created=created,
                            summary="Out of office",
                            start=_local(day, 13, tz),
                            end=_local(day, 17, tz),
                            time_zone=tz,
                            organizer=person,
                            event_type="outOfOffice",
                            history=history,
                        )
                    )
                    continue
                kind = rng.choice(
                    ("Annual leave", "Annual leave", "Sick leave", "Conference", "Urlaub")
                )
                events.append(
                    f.make(
                        created=created,
                        summary=f"{kind} — {name}",
                        start_date=day,
                        end_date=day + timedelta(days=length),
                        organizer=person,
                        history=history,
                    )
                )
        if plan.slipping:
            due = plan.versions[plan.current_version].due
            away = due - timedelta(days=4)
            events.append(
                f.make(
                    created=clock - timedelta(days=30),
                    summary=f"Annual leave — {people[plan.lead].name}",
                    start_date=away,
                    end_date=due + timedelta(days=1),
                    organizer=plan.lead,
                )
            )
    return events


def build_calendars(
    rng: random.Random,
    plans: Sequence[ProjectPlan],
    people: dict[str, Person],
    clock: datetime,
    horizon: datetime,
    holidays: list[tuple[date, str, bool]],
    events: int,
) -> list[Calendar]:
    """Return the project calendars, the shared leave calendar and the holidays calendar."""
    f = EventFactory(rng)
    leave_id = f"c_team-leave.{rng.getrandbits(40):010x}@group.calendar.google.com"
    leave = _leave(f, plans, people, clock, horizon)
    holiday_events = [
        f.make(
            id=f"{day:%Y%m%d}_{rng.getrandbits(64):016x}",
            created=datetime(day.year - 1, 12, 1, tzinfo=UTC),
            summary=name,
            description="Public holiday" if not company else "Company-wide holiday: offices closed",
            start_date=day,
            end_date=day + timedelta(days=1),
            organizer=plans[0].manager,
            transparency="transparent",
        )
        for day, name, company in holidays
    ]
    rhythm = [_project_events(f, plan, people, clock) for plan in plans]
    spare = max(0, events - f.count)
    total_items = sum(p.items for p in plans)
    calendars = []
    for plan in plans:
        fillers = spare * plan.items // total_items
        if plan.index == 0:
            fillers += spare - sum(spare * p.items // total_items for p in plans)
        manager = people[plan.manager]
        calendars.append(
            build(
                Calendar,
                id=plan.calendar_id,
                summary=f"{plan.name} — project calendar",
                description=f"Meetings of {plan.name} ({plan.key})",
                time_zone=manager.time_zone,
                owner=plan.manager,
                access_role="owner" if plan.index == 0 else "reader",
                events=rhythm[plan.index] + _meetings(f, plan, people, clock, horizon, fillers),
            )
        )
    calendars.append(
        build(
            Calendar,
            id=leave_id,
            summary="Team leave 🌴",
            time_zone="UTC",
            owner=plans[0].manager,
            access_role="reader",
            events=leave,
        )
    )
    calendars.append(
        build(
            Calendar,
            id=HOLIDAY_CALENDAR,
            summary="Holidays",
            time_zone="UTC",
            owner=plans[0].manager,
            access_role="reader",
            events=holiday_events,
        )
    )
    return calendars


def leave_calendar_id(calendars: list[Calendar]) -> str:
    """Return the id of the shared leave calendar."""
    return calendars[-2].id
