"""``pmsync meetings``: meetings held and missed per cadence, and who is away.

A thin shell over ``pmsync.meetings``: it applies the current people, rules and
links to the stored events (``link_people`` and ``link_meetings``, as every sync
does, so a rule just edited shows at once), then prints ``meetings_overview``. Titles
come from calendars anyone can write to: they are printed as text, never as
console markup.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from pmsync.cli._common import console, fail, load, open_store, print_json


def _day(value: str | None, option: str, default: date) -> date:
    if value is None:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"error: {option} {value!r} is not a date (YYYY-MM-DD)")


def _every(every: timedelta) -> str:
    weeks, days = divmod(every.days, 7)
    return f"{weeks}w" if not days else f"{every.days}d"


def _when(moment: datetime, zone: str) -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M")


def meetings(
    ctx: typer.Context,
    project: Annotated[
        list[str] | None, typer.Option("--project", "-p", help="Only this project (repeatable).")
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (default: 4 weeks ago).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: in 2 weeks).")
    ] = None,
    days: Annotated[
        int, typer.Option("--days", min=0, help="Show meetings coming up in this many days.")
    ] = 14,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Show each project's meetings per cadence (held, moved, cancelled, missing) and leave."""
    from pmsync.connectors import utc_now
    from pmsync.meetings import link_meetings, meetings_overview
    from pmsync.people import link_people

    config = load(ctx)
    unknown = sorted(set(project or []) - set(config.projects))
    if unknown:
        known = ", ".join(sorted(config.projects)) or "none are configured"
        fail(f"error: no project {', '.join(unknown)} (projects: {known})")
    now = utc_now()
    zone = config.settings.timezone
    today = now.astimezone(ZoneInfo(zone)).date()
    first = _day(start, "--from", today - timedelta(weeks=4))
    last = _day(end, "--to", today + timedelta(weeks=2))
    if last < first:
        fail(f"error: --to {last} is before --from {first}")
    store = open_store(config)
    try:
        link_people(store, config.settings.people, {n: s.type for n, s in config.sources.items()})
        link_meetings(store, config, utc_now)
        overview = meetings_overview(
            store, config, first, last, now, projects=project, days_ahead=days
        )
    finally:
        store.close()
    if as_json:
        print_json(overview.as_dict())
        return
    for found in overview.projects:
        table = Table(title=Text(f"{found.key} — {found.name}: meetings {first} to {last}"))
        for column in ("meeting", "every", "held", "moved", "cancelled", "missing", "scheduled"):
            table.add_column(column, justify="left" if column == "meeting" else "right")
        for report in found.cadences:
            table.add_row(
                Text(report.kind),
                _every(report.every),
                str(report.held),
                str(report.moved),
                str(report.cancelled),
                str(report.missing),
                str(report.count("scheduled")),
            )
        console.print(table)
        if not found.stored:
            line = f"  {found.key} is not in the database yet: the next sync stores it"
            console.print(Text(line))
        if not found.cadences:
            console.print(Text("  no meeting cadence configured (meetings: in the project file)"))
        for report in found.cadences:
            for slot in report.missed:
                line = f"  {report.kind} expected {_when(slot.expected_at, zone)}: {slot.outcome}"
                console.print(Text(line))
        for meeting in found.upcoming:
            line = f"  coming up {_when(meeting.starts_at, zone)}  {meeting.kind}  {meeting.title}"
            console.print(Text(line))
    people = Table(title=Text(f"Leave and public holidays {first} to {last} (hours)"))
    for column in ("person", "normal", "holidays", "leave", "available", "absences"):
        people.add_column(column, justify="left" if column in ("person", "absences") else "right")
    for person in overview.people:
        titles = sorted({a.title for a in person.absences})
        people.add_row(
            Text(person.name),
            f"{person.normal_hours:.1f}",
            f"{person.holiday_hours:.1f}",
            f"{person.leave_hours:.1f}",
            f"{person.available_hours:.1f}",
            Text("; ".join(titles)),
        )
    console.print(people)


def register(app: typer.Typer) -> None:
    """Add ``pmsync meetings`` to ``app``."""
    app.command("meetings")(meetings)
