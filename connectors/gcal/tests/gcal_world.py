"""A small two-calendar world on the sandbox, and a dict 'store' that applies pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pmsync.connectors import ConnectorContext
from pmsync.records import CalendarEvent, Deletion, Page, Quarantined
from pmsync.sandbox.gcal import CalendarService
from pmsync.sandbox.scenario import Scenario
from pmsync.sandbox.server import FaultPlan, RunningService, SandboxClock, serve
from pmsync_gcal import GoogleCalendarConnector, GoogleCalendarSettings

TEAM = "team@pmsync.example"
OPS = "ops@group.calendar.google.com"
START = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)
CREATED = "2024-03-01T08:00:00Z"


def scenario_data() -> dict[str, Any]:
    """Return a weekly series with a moved, a cancelled and a later-cancelled occurrence."""
    team: list[dict[str, Any]] = [
        {
            "id": "status",
            "summary": "Weekly status",
            "created": CREATED,
            "start": "2024-03-18T08:00:00Z",  # 09:00 CET, then 09:00 CEST = 07:00Z
            "end": "2024-03-18T08:30:00Z",
            "time_zone": "Europe/Berlin",
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=8"],
            "organizer": "alice",
            "attendees": ["alice", "bob"],
        },
        {
            "id": "status-moved",
            "summary": "Weekly status (moved)",
            "created": "2024-03-10T08:00:00Z",
            "recurring_event_id": "status",
            "original_start": "2024-04-01T07:00:00Z",
            "start": "2024-04-02T12:00:00Z",
            "end": "2024-04-02T12:30:00Z",
            "time_zone": "Europe/Berlin",
            "organizer": "alice",
        },
        {
            "id": "status-off",
            "summary": "Weekly status",
            "created": "2024-03-10T08:00:00Z",
            "recurring_event_id": "status",
            "original_start": "2024-04-08T07:00:00Z",
            "start": "2024-04-08T07:00:00Z",
            "end": "2024-04-08T07:30:00Z",
            "time_zone": "Europe/Berlin",
            "status": "cancelled",
            "organizer": "alice",
        },
        {
            "id": "status-skip",  # cancelled after the first sync
            "summary": "Weekly status",
            "created": "2024-03-22T09:00:00Z",
            "recurring_event_id": "status",
            "original_start": "2024-04-15T07:00:00Z",
            "start": "2024-04-15T07:00:00Z",
            "end": "2024-04-15T07:30:00Z",
            "time_zone": "Europe/Berlin",
            "status": "cancelled",
            "organizer": "alice",
        },
        {
            "id": "changing",
            "summary": "Steering committee",
            "created": CREATED,
            "start": "2024-03-28T13:00:00Z",
            "end": "2024-03-28T14:00:00Z",
            "organizer": "bob",
            "attendees": ["alice", "carol@partner.example"],
            "history": [{"at": "2024-03-21T09:00:00Z", "set": {"summary": "Steering (moved)"}}],
        },
        {
            "id": "doomed",
            "summary": "Customer demo",
            "created": CREATED,
            "start": "2024-03-29T13:00:00Z",
            "end": "2024-03-29T14:00:00Z",
            "organizer": "bob",
            "deleted_at": "2024-03-21T10:00:00Z",
        },
        {
            "id": "later",
            "summary": "Milestone review M2",
            "created": "2024-03-22T10:00:00Z",
            "start": "2024-04-16T09:00:00Z",
            "end": "2024-04-16T10:00:00Z",
            "organizer": "alice",
        },
        {
            "id": "leave",
            "summary": "Bob out of office",
            "created": CREATED,
            "start_date": "2024-03-25",
            "end_date": "2024-03-27",
            "organizer": "bob",
            "event_type": "outOfOffice",
            "transparency": "transparent",
        },
        {
            "id": "far",  # beyond the 60-day window until the clock moves on
            "summary": "Go-live rehearsal",
            "created": CREATED,
            "start": "2024-06-10T09:00:00Z",
            "end": "2024-06-10T11:00:00Z",
            "organizer": "alice",
        },
        {
            "id": "ancient",  # before the 30-day window
            "summary": "Kick-off",
            "created": "2024-01-01T08:00:00Z",
            "start": "2024-01-10T09:00:00Z",
            "end": "2024-01-10T10:00:00Z",
            "organizer": "alice",
        },
    ]
    ops: list[dict[str, Any]] = [
        {
            "id": "standup",
            "summary": "Ops stand-up",
            "created": CREATED,
            "start": "2024-03-19T14:00:00Z",
            "end": "2024-03-19T14:15:00Z",
            "recurrence": ["RRULE:FREQ=DAILY;COUNT=5"],
            "organizer": "bob",
            "attendees": ["bob"],
        },
        {
            "id": "patch",
            "summary": "Patch night",
            "created": CREATED,
            "start": "2024-03-27T20:00:00Z",
            "end": "2024-03-27T23:00:00Z",
            "organizer": "bob",
        },
    ]
    return {
        "clock": START.isoformat(),
        "people": [
            {"id": "alice", "name": "Alice Adler", "email": "Alice@PMSYNC.example"},
            {"id": "bob", "name": "Bob Brown", "email": "bob@pmsync.example"},
        ],
        "calendar": {
            "calendars": [
                {
                    "id": TEAM,
                    "summary": "Team",
                    "time_zone": "Europe/Berlin",
                    "owner": "alice",
                    "access_role": "owner",
                    "events": team,
                },
                {"id": OPS, "summary": "Ops", "owner": "bob", "events": ops},
            ]
        },
    }


@dataclass
class World:
    """The sandbox service, its clock and a connector pointed at it."""

    running: RunningService
    clock: SandboxClock
    waits: list[float] = field(default_factory=list)

    @property
    def service(self) -> CalendarService:
        assert isinstance(self.running.service, CalendarService)
        return self.running.service

    def advance(self, **delta: float) -> None:
        """Move the simulated time forward, as the sandbox orchestrator does."""
        now = self.clock.advance(timedelta(**delta))
        self.service.on_advance(now)

    def settings(self, secrets: Path, **overrides: Any) -> GoogleCalendarSettings:
        """Return settings for the sandbox, secrets written under ``secrets``."""
        info = self.service.credentials()
        (secrets / "client-secret").write_text(info["client_secret"])
        (secrets / "refresh-token").write_text(
            overrides.pop("refresh_token", info["refresh_token"])
        )
        data: dict[str, Any] = {
            "credentials": {
                "client_id": info["client_id"],
                "client_secret": f"file:{secrets / 'client-secret'}",
                "refresh_token": f"file:{secrets / 'refresh-token'}",
                "token_uri": info["token_uri"],
            },
            "api_endpoint": info["api_endpoint"],
            "calendars": [TEAM, OPS],
            "expand_past_days": 30,
            "expand_future_days": 60,
            "page_size": 4,
            **overrides,
        }
        return GoogleCalendarSettings.model_validate(data)

    def connector(self, secrets: Path, **overrides: Any) -> GoogleCalendarConnector:
        """Return a connector on the sandbox clock, with a sleep that records its waits."""
        context = ConnectorContext(
            source_name="gcal",
            now=self.clock.now,
            sleep=self.waits.append,
            retry_budget=100_000.0,
        )
        return GoogleCalendarConnector(self.settings(secrets, **overrides), context)


def start_world(faults: FaultPlan | None = None, **kwargs: Any) -> World:
    """Serve the scenario in-process."""
    scenario = Scenario.model_validate(scenario_data())
    clock = SandboxClock(scenario.clock)
    service = CalendarService(scenario, clock, faults, **kwargs)
    running = serve(service)
    service.bind_base_url(running.url)
    return World(running, clock)


@dataclass
class Store:
    """What the engine would keep: live events by id, applying deletions and reconciliation."""

    events: dict[str, CalendarEvent] = field(default_factory=dict)
    quarantined: list[Quarantined] = field(default_factory=list)
    cursor: Any = None

    def apply(self, pages: Iterator[Page] | list[Page]) -> list[Page]:
        """Store pages one by one like ``write_page``; return them."""
        seen = []
        for page in pages:
            for record in page.records:
                if isinstance(record, CalendarEvent):
                    self.events[record.external_id] = record
                elif isinstance(record, Deletion):
                    self.events.pop(record.external_id, None)
                elif isinstance(record, Quarantined):
                    self.quarantined.append(record)
            for kind, ids in (page.complete_ids or {}).items():
                assert kind == "calendar_event"
                for key in [k for k, e in self.events.items() if e.calendar_id == page.scope]:
                    if key not in ids:
                        del self.events[key]
            if page.cursor is not None:
                self.cursor = page.cursor
            seen.append(page)
        return seen
