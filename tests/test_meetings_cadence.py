"""A project's cadence against its calendar: held, moved, cancelled, missing.

On hand-built rows first (every outcome, the anchor, the windows), then on
the sandbox's weekly status series, which the generator writes with one
occurrence moved by a day and one cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from worlds import SandboxWorld, store_projects

from pmsync.config.projects import MeetingCadence
from pmsync.meetings import cadence_report, link_meetings, load_meetings, upcoming_meetings
from pmsync.meetings.overview import meetings_overview
from pmsync.meetings.rows import Meeting, scheduled_start
from pmsync.store import Store

WEEKLY = MeetingCadence(kind="status_meeting", every="1w", title_patterns=["PAY weekly status*"])
TUE = datetime(2026, 2, 3, 9, tzinfo=UTC)  # a Tuesday, 10:00 in Berlin


def meeting(n: int, at: datetime, title: str = "PAY weekly status", **values: Any) -> Meeting:
    scheduled = values.pop("scheduled_at", at)
    return Meeting(
        id=n,
        source=values.pop("source", "gcal"),
        calendar_id="c_pay",
        external_id=f"c_pay/series_{scheduled:%Y%m%dT%H%M%SZ}",
        title=title,
        kind="status_meeting",
        project="PAY",
        starts_at=at,
        ends_at=at + timedelta(minutes=30),
        scheduled_at=scheduled,
        status=values.pop("status", "confirmed"),
        **values,
    )


def week(n: int) -> datetime:
    return TUE + timedelta(weeks=n)


def test_every_outcome_of_a_weekly_cadence() -> None:
    rows = [
        meeting(1, week(0)),
        meeting(2, week(1) + timedelta(days=1), scheduled_at=week(1)),  # moved to Wednesday
        meeting(3, week(2), status="cancelled"),
        # week 3: nothing at all
        meeting(5, week(4) + timedelta(hours=3)),  # later the same day: not moved (one-off)
        meeting(6, week(5), status="cancelled"),
        meeting(7, week(5) + timedelta(days=2)),  # cancelled, then held on Thursday
        meeting(8, week(6), status="cancelled"),  # cancelled ahead, nothing instead
        meeting(9, week(7)),  # ahead, on the calendar
        # week 8 ahead: nothing planned yet
        meeting(10, week(2), title="PAY: vendor demo"),  # not this cadence
        meeting(11, week(3), title="CRM weekly status"),  # not this project's title
    ]
    now = week(5) + timedelta(days=3)
    report = cadence_report("PAY", WEEKLY, rows, week(0), week(8) + timedelta(hours=1), now)
    outcomes = [(s.expected_at, s.outcome) for s in report.slots]
    assert outcomes == [
        (week(0), "held"),
        (week(1), "held"),
        (week(2), "cancelled"),
        (week(3), "missing"),
        (week(4), "held"),
        (week(5), "held"),
        (week(6), "cancelled"),
        (week(7), "scheduled"),
        (week(8), "unscheduled"),
    ]
    assert [s.moved for s in report.slots] == [False, True, *[False] * 7]
    assert (report.held, report.moved, report.cancelled, report.missing) == (4, 1, 2, 1)
    assert [s.expected_at for s in report.missed] == [week(2), week(3), week(6)]
    assert report.slots[3].days_overdue(now) == 17
    assert report.slots[6].days_overdue(now) is None  # not yet due
    assert report.slots[0].days_overdue(now) is None  # held


def test_a_meeting_not_yet_held_is_overdue_until_its_window_closes() -> None:
    rows = [meeting(1, week(0)), meeting(2, week(1))]
    slots = cadence_report("PAY", WEEKLY, rows, week(0), week(3), week(2) + timedelta(days=2)).slots
    assert slots[2].outcome == "overdue"
    assert slots[2].days_overdue(week(2) + timedelta(days=2)) == 2
    later = cadence_report("PAY", WEEKLY, rows, week(0), week(3), week(2) + timedelta(days=4))
    assert later.slots[2].outcome == "missing"


def test_the_cadence_starts_with_its_first_meeting_or_else_with_the_period() -> None:
    rows = [meeting(1, week(2)), meeting(2, week(3))]
    report = cadence_report("PAY", WEEKLY, rows, week(0), week(4), week(4))
    assert [s.expected_at for s in report.slots] == [week(2), week(3)]  # none before the first
    nothing = cadence_report("PAY", WEEKLY, [], week(0), week(0) + timedelta(weeks=3), week(4))
    assert [(s.window_start, s.outcome) for s in nothing.slots] == [
        (week(0), "missing"),
        (week(1), "missing"),
        (week(2), "missing"),
    ]
    # only this source's events count when the cadence names one
    other_source = [meeting(1, week(0), source="ics")]
    only_gcal = WEEKLY.model_copy(update={"source": "gcal"})
    assert cadence_report("PAY", only_gcal, other_source, week(0), week(1), week(2)).missing == 1


def test_an_eight_weekly_review_tolerates_irregular_dates() -> None:
    reviews = MeetingCadence(
        kind="milestone_review", every="8w", title_patterns=["Milestone review*"]
    )
    rows = [
        meeting(n, at, title=f"Milestone review: R{n}")
        for n, at in enumerate([week(0), week(7), week(17), week(23)], start=1)
    ]
    report = cadence_report("PAY", reviews, rows, week(0), week(33), week(37))
    assert [s.outcome for s in report.slots] == ["held", "held", "held", "held", "missing"]


def test_the_original_slot_is_read_from_the_occurrence_id() -> None:
    start = datetime(2025, 11, 19, 9, tzinfo=UTC)
    google = scheduled_start("cal/3a83_20251118T090000Z", True, start)
    ics = scheduled_start("holidays/uid-1/20251118T090000Z", True, start)
    whole_day = scheduled_start("cal/3a83_20251118", True, start)
    assert google == ics == datetime(2025, 11, 18, 9, tzinfo=UTC)
    assert whole_day == datetime(2025, 11, 18, tzinfo=UTC)
    assert scheduled_start("cal/3a83_20251118T090000Z", False, start) == start
    assert scheduled_start("cal/odd-id", True, start) == start


def test_upcoming_meetings_skip_cancelled_and_leave() -> None:
    now = week(0)
    rows = [
        meeting(1, week(0) + timedelta(days=1)),
        meeting(2, week(0) + timedelta(days=2), status="cancelled"),
        meeting(3, week(0) + timedelta(days=3), title="Urlaub"),
        meeting(4, week(3)),
    ]
    rows[2] = _leave(rows[2])
    assert [m.id for m in upcoming_meetings(rows, now, days=14)] == [1]


def _leave(row: Meeting) -> Meeting:
    fields = {f: getattr(row, f) for f in Meeting.__dataclass_fields__}
    return Meeting(**{**fields, "kind": "leave", "project": None})


# --- the sandbox's weekly status series ----------------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> Iterator[SandboxWorld]:
    with SandboxWorld(tmp_path / "world", projects=2, items=80, seed=23) as made:
        yield made


def test_the_sandbox_status_series_shows_one_moved_and_one_cancelled_meeting(
    world: SandboxWorld, make_store: Callable[..., Store]
) -> None:
    store = make_store()
    world.sync(store)
    store_projects(store, world.config)
    link_meetings(store, world.config, world.box.clock.now)
    now = world.box.clock.now()
    for project in world.scenario.projects:
        calendar = next(
            c for c in world.scenario.calendar.calendars if c.id == project.calendars[0]
        )
        exceptions = {
            spec.status: spec.original_start
            for spec in calendar.events
            if spec.recurring_event_id and spec.created <= now
        }
        cadence = world.config.projects[project.key].meetings[0]
        assert cadence.kind == "status_meeting"
        start = datetime.combine(project.start, datetime.min.time(), UTC)
        report = cadence_report(
            project.key, cadence, load_meetings(store, project=project.key), start, now, now
        )
        assert (report.moved, report.cancelled, report.missing) == (1, 1, 0), project.key
        assert report.held == len(report.slots) - 1 - report.count("scheduled") > 10
        moved = next(s for s in report.slots if s.moved)
        assert moved.expected_at == exceptions["confirmed"]
        assert moved.meetings[0].starts_at == moved.expected_at + timedelta(days=1)
        assert report.missed[0].expected_at == exceptions["cancelled"]

    overview = meetings_overview(
        store, world.config, project.start, now.date(), now, projects=[project.key]
    )
    status = overview.as_dict()["projects"][0]["cadences"][0]
    assert (status["kind"], status["moved"], status["cancelled"], status["missing"]) == (
        "status_meeting",
        1,
        1,
        0,
    )
