"""How the team is doing: throughput, cycle time, work in progress and load.

All of it comes from the work items' status changes (normalised to ``todo``,
``in_progress``, ``done``), taken as they stood at the end of the status date:

- an item is *done* while its latest status is ``done``, since the last time
  it entered ``done`` (a reopened item counts when it is finished again);
- *throughput* counts items done per day and per ISO week; the history the
  forecasts sample counts per working day, a completion on a non-working day
  counting on the next working day;
- *cycle time* runs from the first time an item went ``in_progress`` to when
  it was done, in calendar days; items that never went through
  ``in_progress`` have none and are left out of the percentiles;
- *work in progress* is the number of items ``in_progress`` at the end of
  each day;
- *load* is a person's booked or assigned hours in a week over the hours they
  can work that week (leave already taken out), overloaded above 1.

Items are rows of arrays sorted once by item and time; per-item answers come
from ``np.minimum.at`` / ``np.maximum.at`` and per-day counts from
``np.bincount`` and a cumulative sum, so a project's million changes cost a
few numpy calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt

from pmsync.metrics.inputs import MetricInputError, PersonWeekHours, StatusChanges, TeamInputs
from pmsync.metrics.results import PersonWeekLoad, Series, TeamHealth
from pmsync.metrics.workdays import (
    Days,
    WorkingCalendar,
    date_range,
    dates_of,
    monday_of,
    timestamps_of,
    to_date,
)

STATUSES = ("todo", "in_progress", "done")
_SORTED = np.array(sorted(STATUSES))
_DONE, _IN_PROGRESS = (int(np.searchsorted(_SORTED, s)) for s in ("done", "in_progress"))
_NEVER = np.iinfo(np.int64).max
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True, slots=True)
class ItemTimelines:
    """Per item: when it first went in progress and when it was done (seconds, -1 = never)."""

    first_in_progress: npt.NDArray[np.int64]
    done_at: npt.NDArray[np.int64]
    wip_start: npt.NDArray[np.int64]
    """Start of every ``in_progress`` spell (seconds since the epoch), one per spell."""
    wip_end: npt.NDArray[np.int64]
    """Its end, or ``_NEVER`` while still in progress."""


def item_timelines(changes: StatusChanges, status_date: date) -> ItemTimelines:
    """Return each item's timeline from the changes up to the end of the status date."""
    at = timestamps_of(changes.at).astype(np.int64)
    status = np.asarray(changes.to_status).astype(str)
    if not (len(at) == len(status) == len(changes.item)):
        raise MetricInputError("status changes need as many items, times and statuses")
    unknown = sorted(set(np.unique(status).tolist()) - set(STATUSES))
    if unknown:
        raise MetricInputError(f"statuses are normalised to {STATUSES}, not {unknown}")
    cutoff = (np.datetime64(status_date, "D") + 1).astype("datetime64[s]").astype(np.int64)
    keep = at < cutoff
    _, item = np.unique(np.asarray(changes.item)[keep], return_inverse=True)
    item, at, state = item.reshape(-1), at[keep], np.searchsorted(_SORTED, status[keep])
    if not len(item):
        nothing = np.zeros(0, dtype=np.int64)
        return ItemTimelines(nothing, nothing, nothing, nothing)
    order = np.lexsort((at, item))
    item, at, state = item[order], at[order], state[order]
    count = int(item.max(initial=-1)) + 1
    same_next = np.r_[item[1:] == item[:-1], False]
    same_prev = np.r_[False, item[1:] == item[:-1]]
    done, progress = state == _DONE, state == _IN_PROGRESS
    first_in_progress = np.full(count, _NEVER)
    np.minimum.at(first_in_progress, item[progress], at[progress])
    entered_done = done & ~(same_prev & np.r_[False, done[:-1]])
    done_at = np.full(count, -1)
    np.maximum.at(done_at, item[entered_done], at[entered_done])
    last = ~same_next
    done_at[item[last][~done[last]]] = -1  # reopened: not done any more
    nxt = np.r_[at[1:], _NEVER]
    return ItemTimelines(
        first_in_progress=np.where(first_in_progress == _NEVER, -1, first_in_progress),
        done_at=done_at,
        wip_start=at[progress],
        wip_end=np.where(same_next, nxt, _NEVER)[progress],
    )


def _day_number(seconds: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    return np.floor_divide(seconds, SECONDS_PER_DAY)


def done_per_day(timelines: ItemTimelines, days: Days) -> npt.NDArray[np.int64]:
    """Return how many items were done on each of ``days`` (consecutive calendar days)."""
    first = int(days[0].astype(np.int64))
    index = _day_number(timelines.done_at[timelines.done_at >= 0]) - first
    index = index[(index >= 0) & (index < len(days))]
    return np.bincount(index, minlength=len(days)).astype(np.int64)


def throughput_history(
    timelines: ItemTimelines, status_date: date, working_days: int, calendar: WorkingCalendar
) -> npt.NDArray[np.int64]:
    """Return items done per working day over the last ``working_days`` up to the status date."""
    end = np.datetime64(status_date, "D")
    first = calendar.first_of_last(end, working_days)
    done = timelines.done_at[timelines.done_at >= 0].astype("datetime64[s]").astype("datetime64[D]")
    done = done[(done >= first) & (done <= end)]
    index = np.minimum(calendar.count(first, done), working_days - 1)
    return np.bincount(index, minlength=working_days).astype(np.int64)


def work_in_progress_per_day(timelines: ItemTimelines, days: Days) -> npt.NDArray[np.int64]:
    """Return how many items were in progress at the end of each of ``days``."""
    first = int(days[0].astype(np.int64))
    start = np.clip(_day_number(timelines.wip_start) - first, 0, len(days))
    still_open = timelines.wip_end == _NEVER
    ends = np.where(still_open, (first + len(days)) * SECONDS_PER_DAY, timelines.wip_end)
    end = np.clip(_day_number(ends) - first, 0, len(days))
    spell = start < end
    change = np.bincount(start[spell], minlength=len(days) + 1) - np.bincount(
        end[spell], minlength=len(days) + 1
    )
    return np.cumsum(change[:-1]).astype(np.int64)


def cycle_times_days(timelines: ItemTimelines, days: Days) -> npt.NDArray[np.float64]:
    """Return the cycle time, in days, of every item done during ``days`` that went in progress."""
    first = int(days[0].astype(np.int64)) * SECONDS_PER_DAY
    last = (int(days[-1].astype(np.int64)) + 1) * SECONDS_PER_DAY
    done, began = timelines.done_at, timelines.first_in_progress
    counted = (done >= first) & (done < last) & (began >= 0) & (began <= done)
    return (done[counted] - began[counted]) / SECONDS_PER_DAY


def weekly_loads(
    capacity: Sequence[PersonWeekHours], booked: Sequence[PersonWeekHours]
) -> tuple[PersonWeekLoad, ...]:
    """Return booked hours against capacity for every person and week in either list."""
    hours: dict[tuple[str, date], list[float]] = {}
    for column, rows in enumerate((capacity, booked)):
        for row in rows:
            if row.week.weekday() != 0:
                raise MetricInputError(f"weeks are given by their Monday, not {row.week}")
            hours.setdefault((row.person, row.week), [0.0, 0.0])[column] += float(row.hours)
    loads = []
    for (person, week), (can, has) in sorted(hours.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        load = has / can if can > 0 else None
        loads.append(PersonWeekLoad(person, week, can, has, load, has > can + 1e-9))
    return tuple(loads)


def team_health(
    team: TeamInputs,
    status_date: date,
    calendar: WorkingCalendar,
    timelines: ItemTimelines | None = None,
) -> TeamHealth:
    """Return throughput, cycle time, WIP and load over the team's window up to the status date.

    ``timelines``: ``item_timelines(team.changes, status_date)``, if the caller has them.
    """
    if timelines is None:
        timelines = item_timelines(team.changes, status_date)
    end = np.datetime64(status_date, "D")
    first = calendar.first_of_last(end, team.window_working_days)
    days = date_range(to_date(first), status_date)
    per_day = done_per_day(timelines, days)
    mondays = monday_of(days)
    weeks, week_of_day = np.unique(mondays, return_inverse=True)
    per_week = np.bincount(week_of_day.reshape(-1), weights=per_day, minlength=len(weeks))
    working = int(calendar.is_working(days).sum())
    mean_day = float(per_day.sum() / working) if working else None
    cycle = cycle_times_days(timelines, days)
    wip = work_in_progress_per_day(timelines, days)
    loads = weekly_loads(team.capacity_hours, team.booked_hours)
    return TeamHealth(
        throughput_by_day=Series(dates_of(days), tuple(float(v) for v in per_day)),
        throughput_by_week=Series(dates_of(weeks), tuple(float(v) for v in per_week)),
        throughput_per_day=mean_day,
        throughput_per_week=None if mean_day is None else mean_day * calendar.weekmask.count("1"),
        cycle_time_median_days=_percentile(cycle, 50),
        cycle_time_p85_days=_percentile(cycle, 85),
        cycle_time_items=len(cycle),
        work_in_progress=int(wip[-1]),
        work_in_progress_by_day=Series(dates_of(days), tuple(float(v) for v in wip)),
        loads=loads,
        overloaded_person_weeks=sum(load.overloaded for load in loads),
    )


def _percentile(values: npt.NDArray[np.float64], q: float) -> float | None:
    """Return the nearest-rank percentile (a cycle time some item really had)."""
    return float(np.percentile(values, q, method="inverted_cdf")) if len(values) else None
