"""Who can work how many hours, per day and per ISO week, given leave and holidays.

Load against capacity and the Monte Carlo forecast both need the hours people
really have, not their contract. A person's ``weekly_capacity_hours`` are
spread evenly over the working days (``meetings.working_days``, Monday to
Friday by default); each day then loses what leave and public holidays take:

* days are the person's own calendar days, in their ``timezone`` (the global
  one when they have none): an all-day event is a date, so "Christmas Day"
  is 25 December wherever one lives; a timed absence takes the hours it
  overlaps that local day (an afternoon out of office: 4 hours);
* a public holiday on a holiday calendar covers the people its
  ``holiday_calendars`` entry names (``people``, or a ``timezones`` pattern;
  neither: everyone); one classified from a personal calendar covers its owner;
* a day never loses more than it has, and a holiday is counted before leave
  (a week of leave over Easter Monday costs four days of leave, not five);
* cancelled absences count for nothing; tentative ones count.

``compute_capacity`` is pure; ``load_capacity`` reads the stored events for it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select

from pmsync import model
from pmsync.config.meetings import WEEKDAYS, HolidayCalendar
from pmsync.meetings.classify import build_classifier, glob
from pmsync.meetings.rows import load_meetings

if TYPE_CHECKING:
    from pmsync.config import Config
    from pmsync.store import Store

WORKWEEK = frozenset(range(5))
"""Monday to Friday, as ``date.weekday()`` numbers."""


@dataclass(frozen=True, slots=True)
class Worker:
    """A person whose capacity is counted."""

    key: str
    name: str
    weekly_hours: float
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class Absence:
    """Time one person is not available: leave or a public holiday."""

    person: str
    kind: Literal["leave", "public_holiday"]
    title: str
    starts_at: datetime
    ends_at: datetime
    all_day: bool = False


@dataclass(frozen=True, slots=True)
class DayCapacity:
    """One person's hours on one of their local days."""

    day: date
    normal_hours: float
    holiday_hours: float = 0.0
    leave_hours: float = 0.0

    @property
    def available_hours(self) -> float:
        """Return the hours left after holidays and leave."""
        return self.normal_hours - self.holiday_hours - self.leave_hours


def iso_week(day: date) -> str:
    """Return the ISO week of ``day`` as ``2026-W03``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class CapacityTable:
    """Hours per person and day over ``[start, end]`` (both included)."""

    start: date
    end: date
    workers: tuple[Worker, ...]
    days: Mapping[str, tuple[DayCapacity, ...]]
    absences: Mapping[str, tuple[Absence, ...]] = field(default_factory=dict)
    working_days: frozenset[int] = WORKWEEK
    _arrays: dict[int, tuple[tuple[DayCapacity, ...], np.ndarray]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    """Available hours per day as an array, by the tuple of days they were read from."""

    def weekly(self) -> dict[str, dict[str, float]]:
        """Return available hours as ``{person: {iso_week: hours}}``."""
        table: dict[str, dict[str, float]] = {}
        for person, days in self.days.items():
            weeks = table.setdefault(person, {})
            for day in days:
                week = iso_week(day.day)
                weeks[week] = round(weeks.get(week, 0.0) + day.available_hours, 4)
        return table

    def week_rows(self) -> list[tuple[str, date, float]]:
        """Return ``(person, Monday of the ISO week, available hours)`` rows, by person."""
        rows: dict[tuple[str, date], float] = {}
        for person, days in self.days.items():
            for day in days:
                monday = day.day - timedelta(days=day.day.weekday())
                rows[(person, monday)] = rows.get((person, monday), 0.0) + day.available_hours
        return [(person, monday, round(hours, 4)) for (person, monday), hours in rows.items()]

    def daily(self) -> dict[str, dict[date, float]]:
        """Return available hours as ``{person: {day: hours}}``."""
        return {p: {d.day: d.available_hours for d in days} for p, days in self.days.items()}

    def availability(self, people: Iterable[str] | None = None) -> dict[date, float]:
        """Return, per working day, the share of the people's regular day they have (0-1).

        1.0 is everyone working a normal day; holidays and leave lower it.
        Days outside ``working_days`` are left out. This is "capacity adjusted
        for known leave" for a forecast that draws throughput per working day
        (``ForecastSettings.capacity``).
        """
        # Asked of every project's team in a portfolio (thousands of people in the
        # table): the people are looked up, their days added as arrays.
        chosen = set(people) if people is not None else set(self.days)
        regular = sum(
            self.workers[n].weekly_hours / len(self.working_days)
            for n in sorted(self._worker_index[k] for k in chosen if k in self._worker_index)
        )
        present = sorted(k for k in chosen if k in self.days)
        if not present:
            return {}
        hours = np.sum([self.available(p) for p in present], axis=0)
        return {
            day: (round(float(hours[n]) / regular, 6) if regular else 0.0)
            for n, day in self._working_days_from_start
        }

    @cached_property
    def _worker_index(self) -> dict[str, int]:
        return {w.key: n for n, w in reversed(list(enumerate(self.workers)))}

    @cached_property
    def _working_days_from_start(self) -> list[tuple[int, date]]:
        days = (self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1))
        return [(n, day) for n, day in enumerate(days) if day.weekday() in self.working_days]

    def available(self, person: str) -> np.ndarray:
        """Return a person's available hours per day from ``start`` as an array (don't change it).

        People without absences share one array, as they share their days.
        """
        days = self.days[person]
        found = self._arrays.get(id(days))
        if found is None or found[0] is not days:
            found = (days, np.array([d.available_hours for d in days], dtype=float))
            self._arrays[id(days)] = found
        return found[1]

    def totals(self, person: str) -> DayCapacity:
        """Return a person's hours over the whole period (``day`` is the period's start)."""
        days = self.days.get(person, ())
        return DayCapacity(
            self.start,
            sum(d.normal_hours for d in days),
            sum(d.holiday_hours for d in days),
            sum(d.leave_hours for d in days),
        )


def _hours_on(absence: Absence, day: date, zone: ZoneInfo, normal: float) -> float:
    if absence.all_day:
        first = absence.starts_at.date()
        last = max(absence.ends_at.date(), first + timedelta(days=1))
        return normal if first <= day < last else 0.0
    opens = datetime.combine(day, time(), zone)
    closes = datetime.combine(day + timedelta(days=1), time(), zone)
    overlap = min(absence.ends_at, closes) - max(absence.starts_at, opens)
    return min(normal, max(0.0, overlap.total_seconds() / 3600))


def compute_capacity(
    workers: Sequence[Worker],
    absences: Iterable[Absence],
    start: date,
    end: date,
    working_days: frozenset[int] = WORKWEEK,
) -> CapacityTable:
    """Return each worker's normal, holiday, leave and available hours per day.

    Workers with the same regular day and no absence share one tuple of days;
    a worker's absences are weighed only on the days they can touch. A
    portfolio's team table is thousands of people over a third of a year.
    """
    mine: dict[str, list[Absence]] = {}
    for absence in absences:
        mine.setdefault(absence.person, []).append(absence)
    span = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    working = np.array([day.weekday() in working_days for day in span], dtype=bool)
    plain: dict[float, tuple[DayCapacity, ...]] = {}
    days: dict[str, tuple[DayCapacity, ...]] = {}
    arrays: dict[int, tuple[tuple[DayCapacity, ...], np.ndarray]] = {}
    for worker in workers:
        regular = worker.weekly_hours / len(working_days) if working_days else 0.0
        if regular not in plain:
            plain[regular] = tuple(
                DayCapacity(day, regular if work else 0.0)
                for day, work in zip(span, working.tolist(), strict=True)
            )
            arrays[id(plain[regular])] = (plain[regular], np.where(working, regular, 0.0))
        own = mine.get(worker.key)
        if not own:
            days[worker.key] = plain[regular]
            continue
        base = arrays[id(plain[regular])][1]
        found, hours = _with_absences(plain[regular], base, own, worker, start)
        days[worker.key] = found
        arrays[id(found)] = (found, hours)
    table = CapacityTable(
        start,
        end,
        tuple(workers),
        days,
        {k: tuple(v) for k, v in mine.items()},
        working_days,
    )
    table._arrays.update(arrays)  # what ``available`` would read from the days, made here
    return table


def _with_absences(
    plain: tuple[DayCapacity, ...],
    hours: np.ndarray,
    own: list[Absence],
    worker: Worker,
    start: date,
) -> tuple[tuple[DayCapacity, ...], np.ndarray]:
    """Return ``plain`` (days from ``start``) and its ``hours`` less the absences of ``own``."""
    zone = ZoneInfo(worker.timezone)
    on: dict[int, list[Absence]] = defaultdict(list)  # day number: the absences touching it
    for absence in own:
        if absence.all_day:
            first = absence.starts_at.date()
            last = max(absence.ends_at.date(), first + timedelta(days=1)) - timedelta(days=1)
        else:  # the local days it overlaps, as ``_hours_on`` counts them
            first = absence.starts_at.astimezone(zone).date()
            last = absence.ends_at.astimezone(zone).date()
        for n in range(max((first - start).days, 0), min((last - start).days + 1, len(plain))):
            on[n].append(absence)
    rows, hours = list(plain), hours.copy()
    for n, touching in on.items():
        day, normal = plain[n].day, plain[n].normal_hours
        if not normal:
            continue
        off = min(
            normal,
            sum(_hours_on(a, day, zone, normal) for a in touching if a.kind == "public_holiday"),
        )
        away = min(
            normal - off,
            sum(_hours_on(a, day, zone, normal) for a in touching if a.kind == "leave"),
        )
        rows[n] = DayCapacity(day, normal, off, away)
        hours[n] = rows[n].available_hours
    return tuple(rows), hours


def covered_by(entry: HolidayCalendar, workers: Sequence[Worker]) -> list[str]:
    """Return the people a holiday calendar entry covers (everyone when it names none)."""
    if not entry.people and not entry.timezones:
        return [w.key for w in workers]
    return [w.key for w in workers if w.key in entry.people or glob(w.timezone, entry.timezones)]


def workers_of(config: Config, people: Collection[str] | None = None) -> list[Worker]:
    """Return the configured people (or only ``people``) as workers."""
    default = config.settings.timezone
    return [
        Worker(p.id, p.name, p.weekly_capacity_hours, p.timezone or default)
        for p in config.settings.people
        if people is None or p.id in people
    ]


def load_capacity(
    store: Store, config: Config, start: date, end: date, people: Collection[str] | None = None
) -> CapacityTable:
    """Return the capacity table of the configured people from the stored leave and holidays."""
    settings = config.settings.meetings
    classifier = build_classifier(settings)
    workers = workers_of(config, people)
    # Local days reach up to 14 hours either side of UTC: read a day more on each side.
    since = datetime.combine(start - timedelta(days=1), time(), UTC)
    until = datetime.combine(end + timedelta(days=2), time(), UTC)
    events = load_meetings(store, start=since, end=until, kinds=("leave", "public_holiday"))
    with store.session(readonly=True) as s:
        keys = {i: key for i, key in s.execute(select(model.Person.id, model.Person.key))}
    absences: list[Absence] = []
    for event in events:
        if event.cancelled:
            continue
        kind: Literal["leave", "public_holiday"] = (
            "leave" if event.kind == "leave" else "public_holiday"
        )
        covered = [k for p in event.away_person_ids if (k := keys.get(p))]
        if kind == "public_holiday" and not event.away_person_ids:
            entry = classifier.holiday_calendar_for(event.calendar_id, event.title)
            covered = covered_by(entry, workers) if entry is not None else []
        absences.extend(
            Absence(person, kind, event.title, event.starts_at, event.ends_at, event.all_day)
            for person in covered
        )
    working = frozenset(WEEKDAYS.index(d) for d in settings.working_days)
    return compute_capacity(workers, absences, start, end, working)
