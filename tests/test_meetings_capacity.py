"""Leave and public holidays take hours off each person's week, in their own time zone.

The week of Easter Monday 2026 (6-12 April) is the running example: a holiday
on Monday, two days of leave, an afternoon out of office.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from pmsync.config import Config, load_config
from pmsync.meetings import Absence, Worker, compute_capacity, link_meetings, load_capacity
from pmsync.people import link_people
from pmsync.records import CalendarEvent, Page, PersonRef
from pmsync.store import Store

MONDAY = date(2026, 4, 6)
SUNDAY = date(2026, 4, 12)
ANNA = Worker("anna", "Anna Müller", 40, "Europe/Berlin")
EMILY = Worker("emily", "Emily Kim", 40, "America/Los_Angeles")
PRIYA = Worker("priya", "Priya Iyer", 30, "Asia/Kolkata")


def utc(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def whole_days(person: str, kind: Any, first: date, days: int, title: str = "x") -> Absence:
    return Absence(person, kind, title, utc(first), utc(first + timedelta(days=days)), True)


def test_a_holiday_leave_and_an_afternoon_off_leave_twelve_hours_of_forty() -> None:
    absences = [
        whole_days("anna", "public_holiday", MONDAY, 1, "Ostermontag"),
        whole_days("anna", "leave", MONDAY + timedelta(days=2), 2, "Urlaub"),
        # 13:00-17:00 in Berlin (CEST, UTC+2) on Friday
        Absence("anna", "leave", "OOO", utc(date(2026, 4, 10), 11), utc(date(2026, 4, 10), 15)),
    ]
    table = compute_capacity([ANNA], absences, MONDAY, SUNDAY)
    hours = [(d.day.isoformat(), d.holiday_hours, d.leave_hours, d.available_hours) for d in
             table.days["anna"]]  # fmt: skip
    assert hours == [
        ("2026-04-06", 8.0, 0.0, 0.0),
        ("2026-04-07", 0.0, 0.0, 8.0),
        ("2026-04-08", 0.0, 8.0, 0.0),
        ("2026-04-09", 0.0, 8.0, 0.0),
        ("2026-04-10", 0.0, 4.0, 4.0),
        ("2026-04-11", 0.0, 0.0, 0.0),
        ("2026-04-12", 0.0, 0.0, 0.0),
    ]
    assert table.weekly() == {"anna": {"2026-W15": 12.0}}
    assert table.week_rows() == [("anna", MONDAY, 12.0)]  # for PersonWeekHours
    totals = table.totals("anna")
    assert (totals.normal_hours, totals.holiday_hours, totals.leave_hours) == (40, 8, 20)


def test_a_week_of_leave_over_a_holiday_costs_four_days_of_leave() -> None:
    absences = [
        whole_days("anna", "leave", MONDAY, 5, "Urlaub"),
        whole_days("anna", "public_holiday", MONDAY, 1, "Ostermontag"),
    ]
    totals = compute_capacity([ANNA], absences, MONDAY, SUNDAY).totals("anna")
    assert (totals.holiday_hours, totals.leave_hours, totals.available_hours) == (8, 32, 0)


def test_a_timed_absence_falls_on_each_persons_own_day() -> None:
    # 03:00-07:00 UTC on Tuesday is Monday evening in Los Angeles, Tuesday morning in Berlin
    absences = [
        Absence(p, "leave", "OOO", utc(date(2026, 4, 7), 3), utc(date(2026, 4, 7), 7))
        for p in ("anna", "emily")
    ]
    table = compute_capacity([ANNA, EMILY], absences, MONDAY, SUNDAY).daily()
    assert table["emily"][MONDAY] == 4 and table["emily"][MONDAY + timedelta(days=1)] == 8
    assert table["anna"][MONDAY] == 8 and table["anna"][MONDAY + timedelta(days=1)] == 4


def test_availability_is_the_share_of_a_regular_day_on_working_days() -> None:
    absences = [whole_days("anna", "public_holiday", MONDAY, 1)]
    table = compute_capacity([ANNA, PRIYA], absences, MONDAY, SUNDAY)
    shares = table.availability()
    assert list(shares) == [MONDAY + timedelta(days=n) for n in range(5)]  # no weekend
    assert shares[MONDAY] == round(6 / 14, 6)  # Priya's 6 hours of the team's 14
    assert shares[MONDAY + timedelta(days=1)] == 1.0
    assert table.availability(["anna"])[MONDAY] == 0.0
    four_days = compute_capacity([ANNA], [], MONDAY, SUNDAY, frozenset({0, 1, 2, 3}))
    assert four_days.weekly() == {"anna": {"2026-W15": 40.0}}
    assert four_days.days["anna"][0].normal_hours == 10


def _every_day(worker: Worker, absences: list[Absence], start: date, end: date) -> list[tuple]:
    """The capacity rule as the module states it, weighing every absence on every day."""
    zone = ZoneInfo(worker.timezone)
    normal = worker.weekly_hours / 5
    rows = []
    for n in range((end - start).days + 1):
        day = start + timedelta(days=n)
        hours = normal if day.weekday() < 5 else 0.0
        opens = datetime.combine(day, time(), zone)
        closes = datetime.combine(day + timedelta(days=1), time(), zone)

        def taken(kind: str, day: date = day, opens: datetime = opens, closes: datetime = closes,
                  hours: float = hours) -> float:  # fmt: skip
            total = 0.0
            for a in absences:
                if a.person != worker.key or a.kind != kind:
                    continue
                if a.all_day:
                    last = max(a.ends_at.date(), a.starts_at.date() + timedelta(days=1))
                    total += hours if a.starts_at.date() <= day < last else 0.0
                else:
                    overlap = min(a.ends_at, closes) - max(a.starts_at, opens)
                    total += min(hours, max(0.0, overlap.total_seconds() / 3600))
            return total

        holiday = min(hours, taken("public_holiday")) if hours else 0.0
        leave = min(hours - holiday, taken("leave")) if hours else 0.0
        rows.append((day, hours, holiday, leave))
    return rows


def test_many_people_many_absences_match_the_rule_day_by_day() -> None:
    # Absences in every zone, over window edges and weekends, timed and all-day, some
    # overlapping: every day of every person is as the rule above gives it.
    rng = random.Random(11)
    zones = ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Europe/Berlin", "Asia/Kolkata"]
    workers = [Worker(f"p{n}", f"P{n}", rng.choice([40, 40, 32]), zones[n % 5]) for n in range(40)]
    start, end = date(2026, 3, 23), date(2026, 5, 3)  # over the change to summer time
    absences = []
    for _ in range(300):
        person = f"p{rng.randrange(30)}"  # ten people without any absence
        kind = rng.choice(["leave", "public_holiday"])
        at = utc(start - timedelta(days=3)) + timedelta(hours=rng.randrange(24 * 50))
        if rng.random() < 0.5:
            first = at.date()
            absences.append(whole_days(person, kind, first, rng.randrange(0, 6)))
        else:
            absences.append(
                Absence(person, kind, "x", at, at + timedelta(hours=rng.randrange(1, 60)))
            )
    table = compute_capacity(workers, absences, start, end)
    for worker in workers:
        got = [
            (d.day, d.normal_hours, d.holiday_hours, d.leave_hours) for d in table.days[worker.key]
        ]
        assert got == _every_day(worker, absences, start, end), worker
    team = [w.key for w in workers[::3]]
    regular = sum(w.weekly_hours / 5 for w in workers[::3])
    expected = {}
    for worker in workers[::3]:
        for day, hours, holiday, leave in _every_day(worker, absences, start, end):
            if day.weekday() < 5:
                expected[day] = expected.get(day, 0.0) + hours - holiday - leave
    assert table.availability(team) == pytest.approx(
        {day: round(hours / regular, 6) for day, hours in expected.items()}, abs=1e-6
    )


# --- from the store: holidays by region, leave by person ---------------------------------

HOLIDAYS = "en.company-holiday@group.v.calendar.google.com"


def config_with(root: Path, meetings: dict[str, Any] | None) -> Config:
    root.mkdir(parents=True)
    people = [
        {"id": w.key, "name": w.name, "email": f"{w.key}@acme.example", "timezone": w.timezone,
         "weekly_capacity_hours": w.weekly_hours}
        for w in (ANNA, EMILY, PRIYA)
    ]  # fmt: skip
    settings: dict[str, Any] = {"people": people}
    if meetings is not None:
        settings["meetings"] = meetings
    (root / "pmsync.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    return load_config(root, {})


def write_events(store: Store) -> None:
    def holiday(name: str, day: date) -> CalendarEvent:
        return CalendarEvent(
            external_id=f"{HOLIDAYS}/{day:%Y%m%d}",
            calendar_id=HOLIDAYS,
            title=name,
            start=utc(day),
            end=utc(day + timedelta(days=1)),
            updated_at=utc(day),
            all_day=True,
        )

    store.write_page(
        "ics",
        "events",
        Page(
            [
                holiday("Easter Monday / Ostermontag", MONDAY),
                holiday("Independence Day (India)", MONDAY + timedelta(days=3)),
            ]
        ),
        None,
    )
    emily = PersonRef("emily@acme.example", "Emily Kim", "emily@acme.example")
    store.write_page(
        "gcal",
        "events",
        Page(
            [
                CalendarEvent(
                    external_id="team-leave/1",
                    calendar_id="team-leave",
                    title="Vacation",
                    start=utc(MONDAY + timedelta(days=1)),
                    end=utc(MONDAY + timedelta(days=3)),
                    updated_at=utc(MONDAY),
                    all_day=True,
                    organizer=emily,
                ),
                CalendarEvent(
                    external_id="team-leave/2",
                    calendar_id="team-leave",
                    title="Vacation",
                    start=utc(MONDAY + timedelta(days=4)),
                    end=utc(MONDAY + timedelta(days=5)),
                    updated_at=utc(MONDAY),
                    all_day=True,
                    status="cancelled",
                    organizer=emily,
                ),
            ]
        ),
        None,
    )


def week_hours(store: Store, config: Config) -> dict[str, float]:
    link_people(store, config.settings.people, {})
    link_meetings(store, config)
    table = load_capacity(store, config, MONDAY, SUNDAY)
    return {person: weeks["2026-W15"] for person, weeks in table.weekly().items()}


def test_holidays_cover_everyone_unless_regions_are_configured(
    store: Store, tmp_path: Path
) -> None:
    write_events(store)
    everyone = config_with(tmp_path / "everyone", None)
    # every holiday for everyone; Emily's two days of leave; her cancelled day counts nothing
    assert week_hours(store, everyone) == {"anna": 24.0, "emily": 8.0, "priya": 18.0}
    regions = config_with(
        tmp_path / "regions",
        {
            "holiday_calendars": [
                {"calendar": "*holiday*", "titles": ["India"], "timezones": ["Asia/Kolkata"]},
                {"calendar": "*holiday*", "timezones": ["Europe/*"], "people": ["emily"]},
            ]
        },
    )
    assert week_hours(store, regions) == {"anna": 32.0, "emily": 16.0, "priya": 24.0}


def test_a_period_that_ends_before_it_starts_has_no_days_even_with_leave() -> None:
    leave = [whole_days("anna", "leave", MONDAY, 2)]
    table = compute_capacity([ANNA], leave, SUNDAY, MONDAY)
    assert table.days == {"anna": ()} and table.availability() == {}
    assert table.weekly() == {"anna": {}}
