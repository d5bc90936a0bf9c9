"""Google Calendar ``Event`` resources → unified records.

Why cancellations split in two: Google reports both "this meeting was deleted"
and "this one occurrence of the series was cancelled" as ``status:
cancelled``, with only the id (and, for an occurrence, ``recurringEventId`` and
``originalStartTime``). A deleted single event is a ``Deletion``. A cancelled
occurrence of a series is a fact a PM wants ("the status meeting of 8 April did
not take place"), so it stays a ``CalendarEvent`` with ``status="cancelled"``,
its title, length and people taken from the series it belongs to; when the
series itself is gone it is a ``Deletion`` too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from pmsync.records import CalendarEvent, Deletion, PersonRef, Quarantined, Record

KIND = CalendarEvent.kind
SeriesLookup = Callable[[str], Mapping[str, Any] | None]
"""Return the series (master event) with this id, or None when it is gone."""


def external_id(calendar_id: str, event_id: str) -> str:
    """Return the record key of an event: ``<calendarId>/<eventId>``."""
    return f"{calendar_id}/{event_id}"


def parse_time(value: Mapping[str, Any]) -> tuple[datetime, bool]:
    """Return an ``EventDateTime`` as aware UTC and whether it is a whole day."""
    if value.get("dateTime"):
        moment = datetime.fromisoformat(str(value["dateTime"]))
        if moment.tzinfo is None:
            raise ValueError(f"dateTime {value['dateTime']!r} has no UTC offset")
        return moment.astimezone(UTC), False
    if value.get("date"):
        # An all-day event is a calendar date, not an instant: UTC midnight, end exclusive.
        return datetime.combine(date.fromisoformat(str(value["date"])), time(), UTC), True
    raise ValueError("neither dateTime nor date")


def _timestamp(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{name} missing")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{name} {value!r} has no UTC offset")
    return moment


def person(data: Mapping[str, Any] | None) -> PersonRef | None:
    """Return a Google person (organizer, attendee) keyed by lower-cased e-mail."""
    if not data or not data.get("email"):
        return None
    email = str(data["email"]).strip()
    name = data.get("displayName")
    return PersonRef(login=email.lower(), display_name=str(name) if name else None, email=email)


def _attendees(event: Mapping[str, Any]) -> tuple[PersonRef, ...]:
    people = []
    for entry in event.get("attendees") or []:
        if entry.get("resource"):  # meeting rooms and equipment are not people
            continue
        found = person(entry)
        if found is not None:
            people.append(found)
    return tuple(people)


def starts_at(event: Mapping[str, Any]) -> datetime | None:
    """Return when an event (or a cancelled occurrence) starts, if the payload says."""
    for key in ("start", "originalStartTime"):
        value = event.get(key)
        if isinstance(value, Mapping):
            try:
                return parse_time(value)[0]
            except ValueError:
                return None
    return None


def _event(calendar_id: str, event: Mapping[str, Any]) -> CalendarEvent:
    start, all_day = parse_time(event["start"])
    end, _ = parse_time(event["end"])
    status = event.get("status", "confirmed")
    if status not in ("confirmed", "tentative"):
        raise ValueError(f"unknown status {status!r}")
    return CalendarEvent(
        external_id=external_id(calendar_id, str(event["id"])),
        calendar_id=calendar_id,
        title=str(event.get("summary") or ""),
        start=start,
        end=end,
        updated_at=_timestamp(event.get("updated"), "updated"),
        all_day=all_day,
        status=status,
        organizer=person(event.get("organizer")),
        attendees=_attendees(event),
        description=event.get("description"),
        location=event.get("location"),
        recurring_event_id=event.get("recurringEventId"),
        url=event.get("htmlLink"),
        event_type=str(event.get("eventType") or "default"),
    )


def _cancelled_occurrence(
    calendar_id: str, event: Mapping[str, Any], series: Mapping[str, Any]
) -> CalendarEvent:
    start, all_day = parse_time(event["originalStartTime"])
    series_start, _ = parse_time(series["start"])
    series_end, _ = parse_time(series["end"])
    return CalendarEvent(
        external_id=external_id(calendar_id, str(event["id"])),
        calendar_id=calendar_id,
        title=str(series.get("summary") or ""),
        start=start,
        end=start + (series_end - series_start),
        # The occurrence carries no "updated"; the series' keeps re-reads unchanged.
        updated_at=_timestamp(event.get("updated") or series.get("updated"), "updated"),
        all_day=all_day,
        status="cancelled",
        organizer=person(series.get("organizer")),
        attendees=_attendees(series),
        description=series.get("description"),
        location=series.get("location"),
        recurring_event_id=str(event["recurringEventId"]),
        url=series.get("htmlLink"),
        event_type=str(series.get("eventType") or "default"),
    )


def map_event(calendar_id: str, event: Mapping[str, Any], series: SeriesLookup) -> Record:
    """Map one ``Event`` resource to a record; a payload that cannot be read is quarantined."""
    raw_id = event.get("id") if isinstance(event, Mapping) else None
    if not raw_id:
        digest = hashlib.sha256(
            json.dumps(event, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        key = external_id(calendar_id, f"?{digest}")
        return Quarantined(key, KIND, "event without an id", _payload(event))
    key = external_id(calendar_id, str(raw_id))
    try:
        if event.get("status") == "cancelled":
            parent = event.get("recurringEventId")
            master = series(str(parent)) if parent else None
            if master is None or master.get("status") == "cancelled":
                return Deletion(key, KIND)
            return _cancelled_occurrence(calendar_id, event, master)
        return _event(calendar_id, event)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        what = f"missing {err}" if isinstance(err, KeyError) else str(err)
        return Quarantined(key, KIND, f"cannot read Google Calendar event: {what}", _payload(event))


def _payload(event: Any) -> Any:
    try:
        return json.loads(json.dumps(event, default=str))
    except (TypeError, ValueError):
        return repr(event)
