"""A calendar published as iCalendar, as Google serves ``.../public/basic.ics``.

The iCalendar connector is tested against this feed, so it carries what real
published feeds carry and what makes them hard to read correctly: a VTIMEZONE
for every zone used, series with RRULE and EXDATE, modified instances as their
own VEVENT with the series' UID and a RECURRENCE-ID, cancelled instances as an
EXDATE of their series, and no trace of cancelled events. The body depends only
on the calendar's epoch, so its ETag changes exactly when the calendar does.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar as ICalendar
from icalendar import Event as IEvent
from icalendar import vCalAddress

from pmsync.sandbox.gcal.events import CalendarSnapshot, EventView
from pmsync.sandbox.scenario import Person

PRODID = "-//Google Inc//Google Calendar 70.9054//EN"


def build_feed(snapshot: CalendarSnapshot, people: dict[str, Person]) -> tuple[bytes, str]:
    """Return the feed's bytes and its ETag for ``snapshot``."""
    calendar = snapshot.calendar
    feed = ICalendar()
    feed.add("prodid", PRODID)
    feed.add("version", "2.0")
    feed.add("calscale", "GREGORIAN")
    feed.add("method", "PUBLISH")
    feed.add("x-wr-calname", calendar.summary)
    feed.add("x-wr-timezone", calendar.time_zone)
    if calendar.description:
        feed.add("x-wr-caldesc", calendar.description)
    years: list[int] = []
    gone = {v.id for v in snapshot.events if v.is_series and v.cancelled}
    for view in snapshot.events:
        if view.cancelled or view.recurring_event_id in gone:
            continue  # a cancelled exception becomes an EXDATE of its series
        feed.add_component(_vevent(view, snapshot, people))
        years.append(_day(view.start).year)
    if years:
        feed.add_missing_timezones(
            first_date=date(min(years) - 1, 1, 1), last_date=date(max(years) + 3, 1, 1)
        )
    body = feed.to_ical()
    return body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _day(value: datetime | date) -> date:
    return value.date() if isinstance(value, datetime) else value


def _local(value: datetime | date, zone: str) -> datetime | date:
    return value.astimezone(ZoneInfo(zone)) if isinstance(value, datetime) else value


def _address(key: str, people: dict[str, Person]) -> vCalAddress:
    person = people.get(key)
    address = vCalAddress(f"mailto:{person.email if person else key}")
    if person:
        address.params["CN"] = person.name
    return address


def _vevent(view: EventView, snapshot: CalendarSnapshot, people: dict[str, Person]) -> IEvent:
    state = view.state
    event = IEvent()
    event.add("dtstart", _local(view.start, view.time_zone))
    event.add("dtend", _local(view.end, view.time_zone))
    event.add("dtstamp", view.updated)
    event.add("uid", view.ical_uid)
    if view.is_series:
        lines = "\r\n".join(view.recurrence)
        template = IEvent.from_ical(f"BEGIN:VEVENT\r\n{lines}\r\nEND:VEVENT\r\n")
        for name, value in template.items():
            event[name] = value
        for exception in snapshot.exceptions.get(view.id, []):
            if exception.cancelled and exception.original_start is not None:
                event.add("exdate", _local(exception.original_start, view.time_zone))
    if view.recurring_event_id is not None and view.original_start is not None:
        event.add("recurrence-id", _local(view.original_start, view.time_zone))
    event.add("created", view.spec.created)
    event.add("last-modified", view.updated)
    event.add("summary", state.get("summary", ""))
    if state.get("description"):
        event.add("description", state["description"])
    if state.get("location"):
        event.add("location", state["location"])
    event.add("organizer", _address(view.spec.organizer, people))
    for key in state.get("attendees") or []:
        attendee = _address(str(key), people)
        attendee.params["ROLE"] = "REQ-PARTICIPANT"
        attendee.params["PARTSTAT"] = "ACCEPTED" if key == view.spec.organizer else "NEEDS-ACTION"
        event.add("attendee", attendee)
    event.add("status", "TENTATIVE" if state.get("status") == "tentative" else "CONFIRMED")
    event.add("sequence", view.sequence)
    event.add("transp", "TRANSPARENT" if state.get("transparency") == "transparent" else "OPAQUE")
    return event
