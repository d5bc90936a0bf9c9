"""pmsync connector for iCalendar feeds (``.ics`` over HTTP(S), or a file).

Outlook/Exchange, Nextcloud, Apple and Google all publish calendars as ``.ics``.
A feed is always a whole snapshot, so the connector:

* fetches it with a conditional GET (``If-None-Match`` / ``If-Modified-Since``):
  an unchanged feed costs one 304 and transfers nothing;
* expands recurring events (RRULE, RDATE, EXDATE, RECURRENCE-ID exceptions,
  VTIMEZONE) with ``recurring-ical-events`` inside a window around "now";
* keys each occurrence by feed, UID and *original* start, so a moved instance
  keeps its identity;
* remembers the occurrences it emitted (in the cursor) and emits a deletion for
  each one that disappeared from the feed, unless it merely slid out of the
  window into the past: a meeting held last quarter is history, not a deletion.

Because the window moves with time even when the feed does not change, a feed
answered with 304 is re-read in full at most once a day (``reexpand_hours``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pmsync.connectors import Connector, ConnectorSettings, StreamSpec, skip_refused
from pmsync.errors import FatalSourceError, SourceError, TransientSourceError
from pmsync.records import CalendarEvent, Deletion, Page, PersonRef, Quarantined, Record
from pmsync.retry import classify_http, configure_requests_session, retrying
from pmsync.secrets import Secret

__all__ = ["Feed", "IcsConnector", "IcsSettings"]


class Feed(BaseModel):
    """One published calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_.@\-]+$")
    """The calendar's id in pmsync (records are keyed ``name/uid/start``)."""
    url: str | None = None
    """``https://...``, ``http://...``, ``file:///path`` or a plain path."""
    private_url: Secret | None = None
    """Instead of ``url``: a secret reference (``${ICS_URL}``, ``file:secrets/...``) to a
    private address whose path is its password (Google's secret iCal address, Outlook's
    published calendars). Messages name such a feed by its name and host only."""
    username: str | None = None
    password: Secret | None = None
    token: Secret | None = None
    """A bearer token, for feeds behind one."""
    ca_bundle: Path | None = None
    time_zone: str = "UTC"
    """The zone of floating (zone-less) times in the feed."""

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}") from err
        return value

    @model_validator(mode="after")
    def _one_auth(self) -> Feed:
        if self.token is not None and (self.username or self.password):
            raise ValueError("give either token or username/password, not both")
        if (self.url is None) == (self.private_url is None):
            raise ValueError("give either url or private_url")
        return self


class IcsSettings(ConnectorSettings):
    """Settings of an ``ics`` source."""

    feeds: list[Feed] = Field(min_length=1)
    past_days: int = Field(default=180, ge=0)
    """Occurrences are expanded from this many days ago ..."""
    future_days: int = Field(default=365, ge=1)
    """... to this many days ahead."""
    reexpand_hours: float = Field(default=24.0, gt=0)

    @field_validator("feeds")
    @classmethod
    def _unique_names(cls, feeds: list[Feed]) -> list[Feed]:
        names = [f.name for f in feeds]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"feed names must be unique; repeated: {duplicates}")
        return feeds


@dataclass(frozen=True)
class _Fetched:
    body: bytes
    etag: str | None
    last_modified: str | None


class IcsConnector(Connector):
    """Calendar events from iCalendar feeds."""

    title = "iCalendar feeds"
    worker_modules = ("icalendar", "recurring_ical_events")
    settings_model = IcsSettings
    streams = (
        StreamSpec(
            "events",
            ("calendar_event", "deletion", "quarantined"),
            "Every occurrence inside the window, cancelled ones included.",
        ),
    )
    settings: IcsSettings

    def __init__(self, settings: ConnectorSettings, context: Any) -> None:
        import icalendar  # noqa: F401  the parsers load with a connector, not with the package
        import recurring_ical_events  # noqa: F401

        super().__init__(settings, context)
        self._session = configure_requests_session(
            requests.Session(), timeout=context.request_timeout
        )

    @classmethod
    def sandbox_settings(cls, endpoints: Mapping[str, Any]) -> dict[str, Any] | None:
        """Point at the sandbox calendar's published ``.ics`` feeds."""
        calendar = endpoints.get("calendar")
        if not calendar or not calendar.get("ics_feeds"):
            return None
        feeds = [
            {
                "name": name,
                "url": url,
                **({"ca_bundle": endpoints["ca_bundle"]} if "ca_bundle" in endpoints else {}),
            }
            for name, url in calendar["ics_feeds"].items()
        ]
        return {"feeds": feeds}

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def check(self) -> list[str]:
        """Fetch and parse every feed once."""
        import icalendar

        problems = []
        for feed in self.settings.feeds:
            try:
                fetched = self._fetch(feed, {})
                if fetched is not None:
                    icalendar.Calendar.from_ical(fetched.body)
            except SourceError as err:
                problems.append(f"feed {feed.name}: {err}")
            except ValueError as err:
                problems.append(f"feed {feed.name}: not an iCalendar file: {err}")
        return problems

    # --- pulling ----------------------------------------------------------------

    def pull(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool = False
    ) -> Iterator[Page]:
        """Yield one page per feed: its occurrences, deletions, and the new cursor."""
        self.stream(stream)
        state: dict[str, Any] = dict((cursor or {}).get("feeds", {}))
        now = self.context.now()
        window = (
            now - timedelta(days=self.settings.past_days),
            now + timedelta(days=self.settings.future_days),
        )
        for feed in self.settings.feeds:  # a feed gone (404, 410) is skipped; the others go on
            yield from skip_refused(feed.name, self._feed(feed, state, full, now, window))

    def _feed(
        self,
        feed: Feed,
        state: dict[str, Any],
        full: bool,
        now: datetime,
        window: tuple[datetime, datetime],
    ) -> Iterator[Page]:
        """Yield one feed's page, updating ``state`` (the cursor of every feed)."""
        previous: dict[str, Any] = dict(state.get(feed.name, {}))
        expanded_at = previous.get("expanded_at")
        stale = expanded_at is None or now - datetime.fromisoformat(expanded_at) >= timedelta(
            hours=self.settings.reexpand_hours
        )
        fetched = self._fetch(feed, {} if (full or stale) else previous)
        if fetched is None:
            yield Page(records=[], cursor={"feeds": state}, scope=feed.name)
            return
        records, seen = self._occurrences(feed, fetched.body, window)
        if records and isinstance(records[0], Quarantined) and not seen:
            # the whole feed is unreadable: keep the old state, try again next time
            yield Page(records=records, cursor=None, scope=feed.name)
            return
        window_start = window[0].isoformat()
        for external_id, start in previous.get("ids", {}).items():
            if external_id not in seen and start >= window_start:
                records.append(Deletion(external_id=external_id, record_kind="calendar_event"))
        state[feed.name] = {
            "etag": fetched.etag,
            "last_modified": fetched.last_modified,
            "expanded_at": now.isoformat(),
            "ids": {k: v for k, v in seen.items() if v >= window_start},
        }
        yield Page(records=records, cursor={"feeds": dict(state)}, scope=feed.name)

    def _fetch(self, feed: Feed, previous: Mapping[str, Any]) -> _Fetched | None:
        """Return the feed's body, or None when it has not changed since ``previous``."""
        private = feed.private_url is not None
        url = feed.private_url.reveal() if feed.private_url is not None else feed.url or ""
        parsed = urlparse(url)
        if parsed.scheme in ("", "file"):
            path = Path(unquote(parsed.path) if parsed.scheme else url)
            return self._read_file(path, previous, f"feed {feed.name}" if private else str(path))
        headers = {"Accept": "text/calendar, */*;q=0.5"}
        if previous.get("etag"):
            headers["If-None-Match"] = previous["etag"]
        if previous.get("last_modified"):
            headers["If-Modified-Since"] = previous["last_modified"]
        if feed.token is not None:
            headers["Authorization"] = f"Bearer {feed.token.reveal()}"
        auth = (feed.username, feed.password.reveal()) if feed.username and feed.password else None
        verify: bool | str = str(feed.ca_bundle) if feed.ca_bundle else True
        where = f"/… (feed {feed.name})" if private else parsed.path
        what = f"GET {parsed.scheme}://{parsed.netloc}{where}"

        def get() -> requests.Response:
            self.context.stats.requests += 1
            response = self._session.get(url, headers=headers, auth=auth, verify=verify)
            error = classify_http(
                response.status_code,
                response.headers,
                response.content,
                now=self.context.now(),
                what=what,
            )
            if error is not None:
                raise error
            return response

        response = retrying(get, context=self.context, what=what, classify=_classify)
        if response.status_code == 304:
            self.context.stats.not_modified += 1
            return None
        return _Fetched(
            body=response.content,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
        )

    def _read_file(self, path: Path, previous: Mapping[str, Any], named: str) -> _Fetched | None:
        try:
            stat = path.stat()
            version = f"{stat.st_mtime_ns}-{stat.st_size}"
            if previous.get("etag") == version:
                return None
            return _Fetched(body=path.read_bytes(), etag=version, last_modified=None)
        except OSError as err:
            raise FatalSourceError(f"cannot read calendar file {named}: {err.strerror}") from err

    # --- mapping ----------------------------------------------------------------

    def _occurrences(
        self, feed: Feed, body: bytes, window: tuple[datetime, datetime]
    ) -> tuple[list[Record], dict[str, str]]:
        """Map the feed's occurrences in ``window``; return records and ``{id: start}``."""
        import icalendar
        import recurring_ical_events

        try:
            calendar = icalendar.Calendar.from_ical(body)
            query = recurring_ical_events.of(
                calendar, keep_recurrence_attributes=True, skip_bad_series=True
            )
            occurrences = list(query.between(window[0], window[1]))
        except Exception as err:  # icalendar raises ValueError and others on bad input
            reason = f"feed {feed.name} is not a readable iCalendar file: {err}"
            payload = body[:2000].decode("utf-8", "replace")
            return [
                Quarantined(
                    external_id=feed.name,
                    record_kind="calendar_event",
                    reason=reason,
                    payload=payload,
                )
            ], {}
        zone = ZoneInfo(feed.time_zone)
        # recurring-ical-events sets RECURRENCE-ID on every occurrence, so which
        # series really recur is read from the calendar itself
        recurring = {
            str(c.get("UID"))
            for c in calendar.walk("VEVENT")
            if "RRULE" in c or "RDATE" in c or "RECURRENCE-ID" in c
        }
        records: list[Record] = []
        seen: dict[str, str] = {}
        for component in occurrences:
            try:
                event = _event(feed, component, zone, self.context.now(), recurring)
            except (KeyError, ValueError, TypeError) as err:
                uid = str(component.get("UID", "?"))
                records.append(
                    Quarantined(
                        external_id=f"{feed.name}/{uid}",
                        record_kind="calendar_event",
                        reason=f"event {uid!r} cannot be read: {err}",
                        payload=component.to_ical().decode("utf-8", "replace")[:4000],
                    )
                )
                continue
            seen[event.external_id] = event.start.isoformat()
            records.append(event)
        return records, seen


_STATUS: dict[str, Literal["confirmed", "tentative", "cancelled"]] = {
    "confirmed": "confirmed",
    "tentative": "tentative",
    "cancelled": "cancelled",
}


def _classify(error: BaseException) -> BaseException | None:
    if isinstance(error, SourceError):
        return error
    if isinstance(error, requests.RequestException):
        return TransientSourceError(f"calendar feed request failed: {type(error).__name__}")
    return None


def _aware(value: date | datetime, zone: ZoneInfo) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=zone) if value.tzinfo is None else value
    return datetime.combine(value, time(0), tzinfo=UTC)


def _person(value: Any) -> PersonRef | None:
    if value is None:
        return None
    address = str(value)
    email = address[7:] if address.lower().startswith("mailto:") else address
    name = value.params.get("CN") if hasattr(value, "params") else None
    return PersonRef(login=email.lower(), display_name=name, email=email.lower())


def _event(
    feed: Feed, component: Any, zone: ZoneInfo, now: datetime, recurring_uids: set[str]
) -> CalendarEvent:
    uid = str(component["UID"])
    start_value = component["DTSTART"].dt
    start = _aware(start_value, zone)
    if "DTEND" in component:
        end = _aware(component["DTEND"].dt, zone)
    elif "DURATION" in component:
        end = start + component["DURATION"].dt
    else:
        end = start + (timedelta(days=1) if not isinstance(start_value, datetime) else timedelta())
    recurring = uid in recurring_uids
    if recurring:
        original = component.get("RECURRENCE-ID")
        key_time = _aware(original.dt, zone) if original is not None else start
        key = f"{uid}/{key_time.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"
    else:
        key = uid
    stamp = component.get("LAST-MODIFIED") or component.get("DTSTAMP")
    updated = _aware(stamp.dt, zone) if stamp is not None else now
    status: Literal["confirmed", "tentative", "cancelled"] = _STATUS.get(
        str(component.get("STATUS", "CONFIRMED")).lower(), "confirmed"
    )
    attendees = component.get("ATTENDEE", [])
    if not isinstance(attendees, list):
        attendees = [attendees]
    return CalendarEvent(
        external_id=f"{feed.name}/{key}",
        calendar_id=feed.name,
        title=str(component.get("SUMMARY", "")),
        start=start,
        end=max(end, start),
        updated_at=updated,
        all_day=not isinstance(start_value, datetime),
        status=status,
        organizer=_person(component.get("ORGANIZER")),
        attendees=tuple(p for p in (_person(a) for a in attendees) if p is not None),
        description=str(component["DESCRIPTION"]) if "DESCRIPTION" in component else None,
        location=str(component["LOCATION"]) if "LOCATION" in component else None,
        recurring_event_id=f"{feed.name}/{uid}" if recurring else None,
        url=str(component["URL"]) if "URL" in component else None,
    )
