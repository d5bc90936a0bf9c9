"""Google's request rules and payload shapes for the Calendar v3 imitation.

Kept apart from the HTTP service so the rules read as a list: which
``events.list`` parameters exist, which ones the API refuses next to a
``syncToken`` (per the ``syncToken`` parameter's documentation), how errors are
shaped (Google's JSON error format with ``errors[].reason``), and how an event
looks on the wire.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from pmsync.sandbox.gcal.events import EventView, rfc3339
from pmsync.sandbox.scenario import Calendar, Person
from pmsync.sandbox.server import json_response

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    410: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}

SYNC_FORBIDDEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
"""``events.list`` parameters that "cannot be specified together with nextSyncToken"."""

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


class ApiError(Exception):
    """A request the API refuses, carrying Google's error fields."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        location_type: str = "parameter",
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.domain = domain
        self.location = location
        self.location_type = location_type

    def response(self) -> Response:
        """Return the error as Google's JSON error body."""
        return google_error(
            self.code,
            self.reason,
            self.message,
            domain=self.domain,
            location=self.location,
            location_type=self.location_type,
        )


def google_error(
    code: int,
    reason: str,
    message: str,
    *,
    domain: str = "global",
    location: str | None = None,
    location_type: str = "parameter",
) -> Response:
    """Return a response in Google's JSON error format."""
    detail: dict[str, Any] = {"domain": domain, "reason": reason, "message": message}
    if location is not None:
        detail["locationType"] = location_type
        detail["location"] = location
    error: dict[str, Any] = {"code": code, "message": message, "errors": [detail]}
    if code in _STATUS_NAMES:
        error["status"] = _STATUS_NAMES[code]
    return json_response({"error": error}, code)


def sync_gone() -> ApiError:
    """Return the 410 a stale or unknown sync token gets."""
    return ApiError(
        410,
        "fullSyncRequired",
        "Sync token is no longer valid, a full sync is required.",
        domain="calendar",
        location="syncToken",
    )


# --- opaque tokens ------------------------------------------------------------------


def encode_token(payload: dict[str, Any]) -> str:
    """Wrap ``payload`` in an opaque, URL-safe token."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    check = hashlib.sha256(b"pmsync-sandbox" + raw).digest()[:4]
    return base64.urlsafe_b64encode(check + raw).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any] | None:
    """Return a token's payload, or None when it is not one of ours."""
    try:
        blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        check, raw = blob[:4], blob[4:]
        if hashlib.sha256(b"pmsync-sandbox" + raw).digest()[:4] != check:
            return None
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def _sync_restricted(parameter: str) -> ApiError:
    return ApiError(
        400,
        "badRequest",
        "Sync token cannot be used with other request restrictions.",
        location=parameter,
    )


# --- parameters ---------------------------------------------------------------------


def parse_time(args: MultiDict[str, str], name: str) -> datetime | None:
    """Read an RFC 3339 timestamp with a mandatory offset, or raise 400."""
    text = args.get(name)
    if text is None:
        return None
    if not _RFC3339.match(text):
        raise ApiError(400, "badRequest", "Bad Request", location=name)
    return datetime.fromisoformat(text.upper().replace("Z", "+00:00"))


def parse_bool(args: MultiDict[str, str], name: str) -> bool | None:
    """Read a boolean parameter (``true``/``false``), or raise 400."""
    text = args.get(name)
    if text is None:
        return None
    if text.lower() not in ("true", "false"):
        raise ApiError(400, "invalidBoolean", f"Invalid boolean value: '{text}'.", location=name)
    return text.lower() == "true"


def parse_int(args: MultiDict[str, str], name: str, default: int, maximum: int) -> int:
    """Read a page size: at least 1, silently capped at ``maximum`` as Google does."""
    text = args.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, "invalid", f"Invalid value '{text}'.", location=name) from None
    if value < 1:
        raise ApiError(
            400, "invalid", f"Invalid value '{text}'. Values must be >= 1", location=name
        )
    return min(value, maximum)


def parse_zone(args: MultiDict[str, str], default: str) -> str:
    """Read the ``timeZone`` parameter (an IANA name), or raise 400."""
    name = args.get("timeZone", default)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(400, "timeZoneNotFound", "Invalid time zone.", location="timeZone") from None
    return name


@dataclass(frozen=True)
class EventsQuery:
    """An ``events.list`` request, validated."""

    single_events: bool
    show_deleted: bool | None
    order_by: str | None
    time_min: datetime | None
    time_max: datetime | None
    updated_min: datetime | None
    q: str | None
    ical_uid: str | None
    event_types: tuple[str, ...]
    time_zone: str
    max_results: int
    sync_token: str | None
    page_token: str | None

    @classmethod
    def parse(cls, args: MultiDict[str, str], calendar_zone: str) -> EventsQuery:
        """Validate ``args`` against the documented rules; raise ApiError when broken."""
        sync_token = args.get("syncToken")
        show_deleted = parse_bool(args, "showDeleted")
        if sync_token is not None:
            for name in SYNC_FORBIDDEN:
                if name in args:
                    raise _sync_restricted(name)
            if show_deleted is False:
                raise _sync_restricted("showDeleted")
        single = bool(parse_bool(args, "singleEvents"))
        order_by = args.get("orderBy")
        if order_by not in (None, "startTime", "updated"):
            raise ApiError(400, "invalid", f"Invalid value '{order_by}'.", location="orderBy")
        if order_by == "startTime" and not single:
            raise ApiError(
                400,
                "badRequest",
                "The requested ordering is not available for the particular query.",
            )
        time_min, time_max = parse_time(args, "timeMin"), parse_time(args, "timeMax")
        if time_min and time_max and time_max <= time_min:
            raise ApiError(
                400,
                "timeRangeEmpty",
                "The specified time range is empty.",
                domain="calendar",
                location="timeMax",
            )
        return cls(
            single_events=single,
            show_deleted=show_deleted,
            order_by=order_by,
            time_min=time_min,
            time_max=time_max,
            updated_min=parse_time(args, "updatedMin"),
            q=args.get("q"),
            ical_uid=args.get("iCalUID"),
            event_types=tuple(args.getlist("eventTypes")),
            time_zone=parse_zone(args, calendar_zone),
            max_results=parse_int(args, "maxResults", 250, 2500),
            sync_token=sync_token,
            page_token=args.get("pageToken"),
        )

    def filter_key(self) -> str:
        """Return what identifies the result set (all but paging), for page tokens."""
        parts = [
            self.single_events,
            self.show_deleted,
            self.order_by,
            self.time_min and self.time_min.isoformat(),
            self.time_max and self.time_max.isoformat(),
            self.updated_min and self.updated_min.isoformat(),
            self.q,
            self.ical_uid,
            self.event_types,
            self.time_zone,
            self.sync_token,
        ]
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


# --- payloads -----------------------------------------------------------------------


def etag(moment: datetime) -> str:
    """Return an entity tag in Google's style (a quoted number) for a change time."""
    return f'"{int(moment.timestamp() * 1000)}000"'


def _when(value: datetime | date, zone: str, event_zone: str) -> dict[str, str]:
    if isinstance(value, datetime):
        text = value.astimezone(ZoneInfo(zone)).isoformat().replace("+00:00", "Z")
        return {"dateTime": text, "timeZone": event_zone}
    return {"date": value.isoformat()}


def _person(key: str, people: dict[str, Person]) -> tuple[str, str | None]:
    person = people.get(key)
    return (person.email, person.name) if person else (key, None)


_RESPONSES = ("accepted", "accepted", "tentative", "needsAction", "accepted", "declined")


def render_event(
    view: EventView, calendar_id: str, zone: str, people: dict[str, Person]
) -> dict[str, Any]:
    """Return ``view`` as an ``Event`` resource of the Calendar v3 API."""
    original = _original(view, zone)
    if view.cancelled:
        minimal: dict[str, Any] = {
            "kind": "calendar#event",
            "etag": etag(view.updated),
            "id": view.id,
            "status": "cancelled",
        }
        if view.recurring_event_id:
            minimal["recurringEventId"] = view.recurring_event_id
            minimal["originalStartTime"] = original
        return minimal
    state = view.state
    eid = base64.b64encode(f"{view.id} {calendar_id}".encode()).decode().rstrip("=")
    organizer_email, organizer_name = _person(view.spec.organizer, people)
    organizer = {"email": organizer_email}
    if organizer_name:
        organizer["displayName"] = organizer_name
    if organizer_email == calendar_id:
        organizer["self"] = True  # type: ignore[assignment]
    event: dict[str, Any] = {
        "kind": "calendar#event",
        "etag": etag(view.updated),
        "id": view.id,
        "status": state.get("status", "confirmed"),
        "htmlLink": f"https://www.google.com/calendar/event?eid={eid}",
        "created": rfc3339(view.spec.created),
        "updated": rfc3339(view.updated),
        "summary": state.get("summary", ""),
    }
    for key in ("description", "location"):
        if state.get(key):
            event[key] = state[key]
    event["creator"] = dict(organizer)
    event["organizer"] = organizer
    event["start"] = _when(view.start, zone, view.time_zone)
    event["end"] = _when(view.end, zone, view.time_zone)
    if view.is_series:
        event["recurrence"] = list(view.recurrence)
    if view.recurring_event_id:
        event["recurringEventId"] = view.recurring_event_id
        event["originalStartTime"] = original
    if state.get("transparency") == "transparent":
        event["transparency"] = "transparent"
    event["iCalUID"] = view.ical_uid
    event["sequence"] = view.sequence
    attendees = []
    for key in state.get("attendees") or []:
        email, name = _person(str(key), people)
        entry: dict[str, Any] = {"email": email}
        if name:
            entry["displayName"] = name
        if key == view.spec.organizer:
            entry["organizer"] = True
            entry["responseStatus"] = "accepted"
        else:
            entry["responseStatus"] = _RESPONSES[(len(view.id) + len(email)) % len(_RESPONSES)]
        if email == calendar_id:
            entry["self"] = True
        attendees.append(entry)
    if attendees:
        event["attendees"] = attendees
    event["reminders"] = {"useDefault": True}
    event["eventType"] = view.spec.event_type
    return event


def _original(view: EventView, zone: str) -> dict[str, str] | None:
    if view.original_start is None:
        return None
    return _when(view.original_start, zone, view.time_zone)


def wanted(view: EventView, query: EventsQuery, since: datetime | None) -> bool:
    """Tell whether ``view`` belongs in the answer to ``query`` (incremental after ``since``)."""
    if since is not None:
        if view.updated <= since:
            return False
    else:
        if query.updated_min is not None and view.updated < query.updated_min:
            return False
        hidden = not (query.show_deleted or query.updated_min is not None)
        # Cancelled instances stay visible in the unexpanded list, as documented.
        if view.cancelled and hidden and (query.single_events or not view.recurring_event_id):
            return False
        if query.time_min is not None and view.ends <= query.time_min:
            return False
        if query.time_max is not None and view.begins >= query.time_max:
            return False
        if query.ical_uid is not None and view.ical_uid != query.ical_uid:
            return False
        if query.q and not _matches(view, query.q):
            return False
    return not (query.event_types and view.spec.event_type not in query.event_types)


def _matches(view: EventView, text: str) -> bool:
    state = view.state
    haystack = " ".join(
        str(part)
        for part in (
            state.get("summary"),
            state.get("description"),
            state.get("location"),
            view.spec.organizer,
            *(state.get("attendees") or []),
        )
        if part
    ).lower()
    return all(word in haystack for word in text.lower().split())


def render_calendar_entry(calendar: Calendar, epoch: datetime) -> dict[str, Any]:
    """Return ``calendar`` as a ``CalendarListEntry`` (``primary`` is the caller's to add)."""
    entry: dict[str, Any] = {
        "kind": "calendar#calendarListEntry",
        "etag": etag(epoch - timedelta(days=365)),
        "id": calendar.id,
        "summary": calendar.summary,
        "timeZone": calendar.time_zone,
        "colorId": str(1 + sum(map(ord, calendar.id)) % 24),
        "backgroundColor": "#9fc6e7",
        "foregroundColor": "#000000",
        "selected": True,
        "accessRole": calendar.access_role,
        "defaultReminders": [],
        "conferenceProperties": {"allowedConferenceSolutionTypes": ["hangoutsMeet"]},
    }
    if calendar.description:
        entry["description"] = calendar.description
    return entry
