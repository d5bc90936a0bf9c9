"""Who works on a project, what they booked and what they could work, for the team metrics.

A project's *team*, for load and for the forecast's leave adjustment, is the
configured people who booked hours on its items in the team window (the last
60 working days up to the status date): they are who will finish the work.
A project nobody booked on yet falls back to the people its file names
(manager, team, owners, RACI, rate card). Hours booked come from the cost
ledger's worklogs (the day in the installation's time zone); hours people can
work come from ``pmsync.meetings`` (weekly capacity, less leave and public
holidays), read once for everyone. Weeks are whole ISO weeks from the Monday
of the window's first day up to the status date, so a week's booked hours
and its capacity cover the same days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from pmsync.config import Config
from pmsync.meetings import CapacityTable, load_capacity, project_team
from pmsync.metrics import PersonWeekHours, StatusChanges, TeamInputs, WorkingCalendar
from pmsync.metrics.workdays import to_date
from pmsync.plan.costs import CostLedger
from pmsync.store import Store

LEAVE_HORIZON_DAYS = 91
"""How far ahead leave counts in the forecast (later days are at full capacity)."""
NO_CHANGES = StatusChanges(item=[], at=np.zeros(0, "datetime64[s]"), to_status=[])


_WEEKS = 1_000_000
"""Days since 1970 stay below this: (person, Monday) pairs are person x _WEEKS + day."""


def _epoch_day(number: int) -> date:
    return date(1970, 1, 1) + timedelta(days=number)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class TeamFeed:
    """Teams, booked hours and capacity of every project of one load."""

    as_of: date
    first_monday: date
    window: int
    teams: Mapping[str, tuple[str, ...]]
    booked: Mapping[str, Mapping[tuple[str, date], float]]
    capacity: CapacityTable | None
    weekly: Mapping[str, Mapping[date, float]]

    @classmethod
    def load(
        cls,
        store: Store,
        config: Config,
        ledgers: Mapping[str, CostLedger],
        as_of: date,
        calendar: WorkingCalendar,
        window: int,
    ) -> TeamFeed:
        """Read who booked what on each project, and everyone's capacity, for ``as_of``."""
        first = to_date(calendar.first_of_last(as_of, window))
        first_monday = _monday(first)
        configured = {p.id for p in config.settings.people}
        start, end = np.datetime64(first_monday, "D"), np.datetime64(as_of, "D")
        teams: dict[str, tuple[str, ...]] = {}
        booked: dict[str, dict[tuple[str, date], float]] = {}
        for key, ledger in ledgers.items():
            known = np.array([p in configured for p in (*ledger.people, "")], dtype=bool)
            chosen = ledger.labour & (ledger.day >= start) & (ledger.day <= end)
            chosen &= known[ledger.who]
            number = ledger.day[chosen].astype("datetime64[D]").astype(np.int64)
            mondays = number - (number + 3) % 7  # day 0, 1970-01-01, was a Thursday
            pairs, index = np.unique(ledger.who[chosen] * _WEEKS + mondays, return_inverse=True)
            seconds = np.bincount(index.reshape(-1), ledger.seconds[chosen], len(pairs))
            hours = {
                (ledger.people[pair // _WEEKS], _epoch_day(pair % _WEEKS)): booked_s / 3600.0
                for pair, booked_s in zip(pairs.tolist(), seconds.tolist(), strict=True)
            }
            booked[key] = hours
            named = sorted({p for p, _ in hours})
            plan = config.projects.get(key)
            if not named and plan is not None:
                named = sorted(project_team(plan) & configured)
            teams[key] = tuple(named)
        everyone = sorted({p for team in teams.values() for p in team})
        table = None
        weekly: dict[str, dict[date, float]] = {}
        if everyone:
            table = load_capacity(
                store, config, first_monday, as_of + timedelta(days=LEAVE_HORIZON_DAYS), everyone
            )
            # Each day's hours added into its ISO week, in day order, up to the status date.
            shift = table.start.weekday()
            week_of_day = (np.arange((as_of - table.start).days + 1) + shift) // 7
            week_starts = [
                table.start + timedelta(days=7 * w - shift) for w in range(int(week_of_day[-1]) + 1)
            ]
            by_array: dict[int, dict[date, float]] = {}  # people without leave share their days
            for person in table.days:
                daily = table.available(person)
                if id(daily) not in by_array:
                    sums = np.bincount(week_of_day, daily[: len(week_of_day)], len(week_starts))
                    by_array[id(daily)] = dict(zip(week_starts, sums.tolist(), strict=True))
                weekly[person] = by_array[id(daily)]
        return cls(as_of, first_monday, window, teams, booked, table, weekly)

    def availability(self, key: str) -> dict[date, float]:
        """Return the share of the project's team at work on each coming working day."""
        team = self.teams.get(key, ())
        if self.capacity is None or not team:
            return {}
        shares = self.capacity.availability(team)
        return {day: share for day, share in shares.items() if day > self.as_of}

    def inputs(self, key: str, changes: StatusChanges | None) -> TeamInputs:
        """Return the team inputs of one project."""
        team = self.teams.get(key, ())
        capacity = [
            PersonWeekHours(person, monday, round(hours, 4))
            for person in team
            for monday, hours in sorted(self.weekly.get(person, {}).items())
        ]
        booked = [
            PersonWeekHours(person, monday, round(hours, 4))
            for (person, monday), hours in sorted(self.booked.get(key, {}).items())
        ]
        return TeamInputs(
            changes=changes if changes is not None else NO_CHANGES,
            capacity_hours=capacity,
            booked_hours=booked,
            window_working_days=self.window,
        )
