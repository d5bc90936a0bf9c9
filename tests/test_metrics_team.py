"""Team flow from status histories: throughput, cycle time, WIP, and load against capacity."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from pmsync.metrics import (
    MetricInputError,
    PersonWeekHours,
    StatusChanges,
    TeamInputs,
    WorkingCalendar,
    team_health,
)
from pmsync.metrics.team import cycle_times_days, item_timelines, throughput_history
from pmsync.metrics.workdays import date_range


def at(day: int, hour: int = 10) -> datetime:
    """9:00 UTC on a day of March 2026 (2 March is a Monday)."""
    return datetime(2026, 3, day, hour, tzinfo=UTC)


HISTORY = StatusChanges.from_rows(
    [
        ("A", at(2), "todo"),
        ("A", at(3), "in_progress"),
        ("A", at(5), "done"),  # cycle time 2 days
        ("B", at(3, 12), "in_progress"),
        ("B", at(4), "done"),
        ("B", at(5), "in_progress"),  # reopened ...
        ("B", at(9, 12), "done"),  # ... and done again: counts once, on the 9th
        ("C", at(4), "todo"),
        ("C", at(7), "done"),  # never in progress: throughput, but no cycle time
        ("D", at(6), "in_progress"),  # still in progress
        ("E", at(10), "in_progress"),  # after the status date: not seen yet
    ]
)
STATUS = date(2026, 3, 9)


def health(**team: object):
    inputs = TeamInputs(changes=HISTORY, window_working_days=6, **team)  # type: ignore[arg-type]
    return team_health(inputs, STATUS, WorkingCalendar())


def test_throughput_counts_items_on_the_day_they_were_last_done() -> None:
    result = health()
    by_day = dict(zip(result.throughput_by_day.days, result.throughput_by_day.values, strict=True))
    assert result.throughput_by_day.days[0] == date(2026, 3, 2)
    assert by_day[date(2026, 3, 4)] == 0  # B's first "done" was undone
    assert by_day[date(2026, 3, 5)] == 1 and by_day[date(2026, 3, 7)] == 1
    assert by_day[date(2026, 3, 9)] == 1
    assert sum(by_day.values()) == 3
    assert result.throughput_per_day == pytest.approx(3 / 6)
    assert result.throughput_per_week == pytest.approx(2.5)
    weeks = dict(zip(result.throughput_by_week.days, result.throughput_by_week.values, strict=True))
    assert weeks == {date(2026, 3, 2): 2, date(2026, 3, 9): 1}


def test_cycle_time_runs_from_first_in_progress_to_done() -> None:
    result = health()
    timelines = item_timelines(HISTORY, STATUS)
    cycle = sorted(cycle_times_days(timelines, date_range(date(2026, 3, 2), STATUS)))
    assert cycle == pytest.approx([2.0, 6.0])  # A: 3rd to 5th; B: 3rd 12:00 to 9th 12:00
    assert result.cycle_time_items == 2
    assert result.cycle_time_median_days == pytest.approx(2.0)  # nearest rank
    assert result.cycle_time_p85_days == pytest.approx(6.0)


def test_work_in_progress_is_counted_at_the_end_of_each_day() -> None:
    result = health()
    wip = dict(
        zip(result.work_in_progress_by_day.days, result.work_in_progress_by_day.values, strict=True)
    )
    assert wip[date(2026, 3, 2)] == 0
    assert wip[date(2026, 3, 3)] == 2  # A and B
    assert wip[date(2026, 3, 4)] == 1  # B done (for now)
    assert wip[date(2026, 3, 5)] == 1  # A done, B reopened
    assert wip[date(2026, 3, 6)] == 2  # D started
    assert result.work_in_progress == 1  # B done on the 9th; E is tomorrow's news


def test_forecast_history_counts_weekend_work_on_the_next_working_day() -> None:
    timelines = item_timelines(HISTORY, STATUS)
    history = throughput_history(timelines, STATUS, 6, WorkingCalendar())
    # Mon 2 .. Mon 9: A on Thu 5, C on Sat 7 (counted Mon 9), B on Mon 9.
    assert history.tolist() == [0, 0, 0, 1, 0, 2]


def test_load_is_booked_hours_over_capacity_per_person_and_week() -> None:
    week = date(2026, 3, 2)
    result = health(
        capacity_hours=[
            PersonWeekHours("ana", week, 40),
            PersonWeekHours("bo", week, 16),  # three days of leave
            PersonWeekHours("cy", week, 0),
        ],
        booked_hours=[
            PersonWeekHours("ana", week, 30),
            PersonWeekHours("ana", week, 14),  # two assignments add up
            PersonWeekHours("bo", week, 16),
            PersonWeekHours("cy", week, 8),
        ],
    )
    loads = {load.person: load for load in result.loads}
    assert loads["ana"].load == pytest.approx(1.1) and loads["ana"].overloaded
    assert loads["bo"].load == 1.0 and not loads["bo"].overloaded
    assert loads["cy"].load is None and loads["cy"].overloaded  # booked while away
    assert result.overloaded_person_weeks == 2


def test_numpy_arrays_cross_the_boundary_as_they_are() -> None:
    n = 200_000
    rng = np.random.default_rng(0)
    start = np.datetime64("2026-01-05T09:00:00") + rng.integers(0, 86_400 * 60, n).astype(
        "timedelta64[s]"
    )
    finish = start + rng.integers(3_600, 86_400 * 10, n).astype("timedelta64[s]")
    changes = StatusChanges(
        item=np.concatenate([np.arange(n), np.arange(n)]),
        at=np.concatenate([start, finish]),
        to_status=np.array(["in_progress"] * n + ["done"] * n),
    )
    result = team_health(
        TeamInputs(changes, window_working_days=20), date(2026, 3, 6), WorkingCalendar()
    )
    status_end = np.datetime64("2026-03-07T00:00:00")
    assert result.work_in_progress == int(((start < status_end) & (finish >= status_end)).sum())
    assert result.cycle_time_median_days is not None and 0 < result.cycle_time_median_days < 10


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("A", datetime(2026, 3, 2, 9), "done")], "aware"),
        ([("A", at(2), "Closed")], "normalised"),
    ],
)
def test_unusable_histories_are_refused(
    rows: list[tuple[str, datetime, str]], message: str
) -> None:
    inputs = TeamInputs(StatusChanges.from_rows(rows))
    with pytest.raises(MetricInputError, match=message):
        team_health(inputs, STATUS, WorkingCalendar())


def test_weeks_are_named_by_their_monday() -> None:
    inputs = TeamInputs(HISTORY, capacity_hours=[PersonWeekHours("ana", STATUS + timedelta(1), 8)])
    with pytest.raises(MetricInputError, match="Monday"):
        team_health(inputs, STATUS, WorkingCalendar())
