"""The Google Calendar connector: one ``events`` stream, incremental by ``syncToken``.

Why it is shaped this way (see docs/connectors/google-calendar.md):

* Each calendar is listed with ``singleEvents=true`` (every occurrence of a
  series is its own event, ``recurringEventId`` kept) and ``showDeleted=true``.
  A full listing is bounded by the window ``[now - expand_past_days, now +
  expand_future_days)``; Google refuses ``timeMin``/``timeMax`` next to a
  ``syncToken``, so incremental listings send the token and the same other
  parameters, and the connector itself drops occurrences that start after the
  window's end. Once a day the window's end slides forward by listing just the
  new slice (no token needed), so series occurrences that come into view are
  read although nothing about them changed.
* The stream's cursor holds, per calendar, the sync token and the window's end.
  Until a calendar's last page is stored, every page carries that calendar's
  *old* state, so a crash re-reads it (upserts are idempotent); the new token
  is on the last page only.
* A full listing's last page carries ``complete_ids`` scoped to that calendar,
  so events gone from it are marked deleted. ``410 fullSyncRequired`` drops one
  calendar's token and lists that calendar in full; the others are untouched.
  A calendar deleted or no longer shared (404) is skipped with its reason, and
  the others are read (``pmsync.connectors.skip_refused``).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pmsync.connectors import (
    Connector,
    ConnectorContext,
    ConnectorSettings,
    StreamSpec,
    skip_refused,
)
from pmsync.errors import SourceError
from pmsync.records import CalendarEvent, Page, Quarantined, Record
from pmsync_gcal.errors import EventNotFound, SyncTokenExpired
from pmsync_gcal.mapping import KIND, map_event, starts_at
from pmsync_gcal.settings import GoogleCalendarSettings

if TYPE_CHECKING:
    from pmsync_gcal.client import CalendarClient

CURSOR_VERSION = 1
SLIDE_EVERY = timedelta(days=1)
"""How far the window's end may lag behind ``now + expand_future_days`` before it slides."""

State = dict[str, dict[str, str]]
"""calendar id → {"sync_token": ..., "window_end": ISO time}."""


def _get_calendar(service: Any, *, calendar_id: str) -> Any:
    return service.calendars().get(calendarId=calendar_id)


def _list_calendars(service: Any, *, page_token: str | None) -> Any:
    return service.calendarList().list(minAccessRole="reader", maxResults=250, pageToken=page_token)


def _list_events(service: Any, **params: Any) -> Any:
    return service.events().list(**params)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class GoogleCalendarConnector(Connector):
    """Calendar events from the Google Calendar API v3."""

    title = "Google Calendar"
    worker_modules = ("pmsync_gcal.client",)
    settings_model = GoogleCalendarSettings
    streams = (
        StreamSpec(
            "events",
            ("calendar_event", "deletion", "quarantined"),
            "Every occurrence inside the window per calendar; cancelled occurrences of a "
            "series kept as cancelled, deleted events as deletions.",
        ),
    )
    settings: GoogleCalendarSettings
    client: CalendarClient

    def __init__(self, settings: ConnectorSettings, context: ConnectorContext) -> None:
        # The Google libraries load here, not on import: every command imports the
        # connector to validate the configuration, only a sync creates one.
        from pmsync_gcal.client import CalendarClient

        super().__init__(settings, context)
        self.client = CalendarClient(self.settings, context)

    # --- the sandbox -----------------------------------------------------------------

    @classmethod
    def sandbox_settings(cls, endpoints: Mapping[str, Any]) -> dict[str, Any] | None:
        """Point at the sandbox's Calendar API with its OAuth client and every calendar."""
        calendar = endpoints.get("calendar")
        if not calendar or not calendar.get("calendars"):
            return None
        settings: dict[str, Any] = {
            "credentials": {
                "client_id": calendar["client_id"],
                "client_secret": "file:secrets/gcal-client-secret",
                "refresh_token": "file:secrets/gcal-refresh-token",
                "token_uri": calendar["token_uri"],
            },
            "api_endpoint": calendar["api_endpoint"],
            "calendars": list(calendar["calendars"]),
        }
        if endpoints.get("ca_bundle"):
            settings["ca_bundle"] = endpoints["ca_bundle"]
        return settings

    @classmethod
    def sandbox_secrets(cls, endpoints: Mapping[str, Any]) -> dict[str, str]:
        """Return the sandbox's OAuth client secret and refresh token as secret files."""
        calendar = endpoints.get("calendar") or {}
        if "client_secret" not in calendar:
            return {}
        return {
            "gcal-client-secret": calendar["client_secret"],
            "gcal-refresh-token": calendar["refresh_token"],
        }

    # --- probing ---------------------------------------------------------------------

    def check(self) -> list[str]:
        """Refresh the access token, then read each calendar; one line per problem."""
        try:
            self.client.refresh_token()
        except SourceError as err:
            return [f"credentials: {err}"]
        if self.settings.discover:
            try:
                found = self._discover()
            except SourceError as err:
                return [f"calendar list: {err}"]
            return [] if found else ["calendar list: no calendar is shared with these credentials"]
        problems = []
        for calendar_id in self.settings.calendars:
            try:
                self.client.call(
                    functools.partial(_get_calendar, calendar_id=calendar_id),
                    f"calendars.get {calendar_id}",
                )
            except SourceError as err:
                problems.append(f"calendar {calendar_id}: {err}")
        return problems

    def close(self) -> None:
        """Close the HTTP connections."""
        self.client.close()

    # --- pulling ---------------------------------------------------------------------

    def _discover(self) -> list[str]:
        ids: list[str] = []
        token: str | None = None
        while True:
            page = self.client.call(
                functools.partial(_list_calendars, page_token=token),
                "calendarList.list",
            )
            ids.extend(str(e["id"]) for e in page.get("items", []) if e.get("id"))
            token = page.get("nextPageToken")
            if not token:
                return ids

    def _calendar_ids(self) -> list[str]:
        return self._discover() if self.settings.discover else list(self.settings.calendars)

    def pull(
        self, stream: str, cursor: Mapping[str, Any] | None, *, full: bool = False
    ) -> Iterator[Page]:
        """Yield pages of events per calendar: incremental where a token is kept, else full."""
        self.stream(stream)
        calendars = self._calendar_ids()
        known: Mapping[str, Any] = {}
        if not full and cursor and cursor.get("version") == CURSOR_VERSION:
            known = cursor.get("calendars") or {}
        # Calendars no longer configured (or no longer shared) leave the cursor.
        state: State = {c: dict(known[c]) for c in calendars if isinstance(known.get(c), dict)}
        for calendar_id in calendars:  # one deleted or unshared (404): skip it, go on
            yield from skip_refused(calendar_id, self._calendar(calendar_id, state))

    def _calendar(self, calendar_id: str, state: State) -> Iterator[Page]:
        """Yield one calendar's pages: incremental where a token is kept, else full."""
        entry = state.get(calendar_id)
        if entry and entry.get("sync_token"):
            try:
                yield from self._incremental(calendar_id, entry, state)
                return
            except SyncTokenExpired:
                self.context.logger.info(
                    "%s: calendar %s needs a full sync (410 fullSyncRequired)",
                    self.context.source_name,
                    calendar_id,
                )
                state.pop(calendar_id, None)
        yield from self._full(calendar_id, state)

    def _cursor(self, state: State) -> dict[str, Any]:
        return {"version": CURSOR_VERSION, "calendars": copy.deepcopy(state)}

    def _window(self) -> tuple[datetime, datetime]:
        now = self.context.now()
        return (
            now - timedelta(days=self.settings.expand_past_days),
            now + timedelta(days=self.settings.expand_future_days),
        )

    def _list(self, calendar_id: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Yield the answer pages of one ``events.list`` listing."""
        token: str | None = None
        while True:
            page = self.client.call(
                functools.partial(
                    _list_events,
                    calendarId=calendar_id,
                    singleEvents=True,
                    showDeleted=True,
                    maxResults=self.settings.page_size,
                    pageToken=token,
                    **params,
                ),
                f"events.list {calendar_id}",
            )
            yield page
            token = page.get("nextPageToken")
            if not token:
                return

    def _map(self, calendar_id: str, items: list[Any], window_end: datetime | None) -> list[Record]:
        series: dict[str, Mapping[str, Any] | None] = {}

        def lookup(series_id: str) -> Mapping[str, Any] | None:
            if series_id not in series:
                series[series_id] = self._series(calendar_id, series_id)
            return series[series_id]

        records: list[Record] = []
        for item in items:
            if window_end is not None and isinstance(item, dict):
                begins = starts_at(item)
                if begins is not None and begins >= window_end:
                    continue  # read when the window slides over it
            records.append(map_event(calendar_id, item, lookup))
        return records

    def _series(self, calendar_id: str, series_id: str) -> Mapping[str, Any] | None:
        try:
            found = self.client.call(
                lambda s: s.events().get(calendarId=calendar_id, eventId=series_id),
                f"events.get {calendar_id}",
            )
        except (SyncTokenExpired, EventNotFound):  # 410 Gone or 404: the series is deleted
            return None
        return found if isinstance(found, dict) else None

    def _full(self, calendar_id: str, state: State) -> Iterator[Page]:
        start, end = self._window()
        present: set[str] = set()
        for answer in self._list(calendar_id, timeMin=_rfc3339(start), timeMax=_rfc3339(end)):
            records = self._map(calendar_id, list(answer.get("items") or []), None)
            # A quarantined event still exists at the source: reconciling must not delete it.
            present.update(
                r.external_id for r in records if isinstance(r, CalendarEvent | Quarantined)
            )
            if answer.get("nextPageToken"):
                yield Page(records, cursor=self._cursor(state))
                continue
            state[calendar_id] = {"window_end": _iso(end)}
            if answer.get("nextSyncToken"):
                state[calendar_id]["sync_token"] = str(answer["nextSyncToken"])
            yield Page(
                records,
                cursor=self._cursor(state),
                complete_ids={KIND: frozenset(present)},
                scope=calendar_id,
                # history before the window is not in the listing: keep it
                complete_after=start,
            )

    def _incremental(self, calendar_id: str, entry: dict[str, str], state: State) -> Iterator[Page]:
        window_end = datetime.fromisoformat(entry["window_end"])
        for answer in self._list(calendar_id, syncToken=entry["sync_token"]):
            records = self._map(calendar_id, list(answer.get("items") or []), window_end)
            if answer.get("nextPageToken"):
                yield Page(records, cursor=self._cursor(state))
                continue
            if answer.get("nextSyncToken"):
                entry = {**entry, "sync_token": str(answer["nextSyncToken"])}
            else:  # no token: read this calendar in full next time
                entry = {"window_end": entry["window_end"]}
            state[calendar_id] = entry
            yield Page(records, cursor=self._cursor(state))
        _, new_end = self._window()
        if new_end - window_end >= SLIDE_EVERY:
            yield from self._slide(calendar_id, window_end, new_end, state)

    def _slide(
        self, calendar_id: str, old_end: datetime, new_end: datetime, state: State
    ) -> Iterator[Page]:
        """Read the slice of time the window's end moved over, then move it."""
        pages = self._list(calendar_id, timeMin=_rfc3339(old_end), timeMax=_rfc3339(new_end))
        for answer in pages:
            records = self._map(calendar_id, list(answer.get("items") or []), None)
            if not answer.get("nextPageToken"):
                state[calendar_id] = {**state[calendar_id], "window_end": _iso(new_end)}
            yield Page(records, cursor=self._cursor(state))
