"""Credentials, settings, authentication failures and malformed events."""

from __future__ import annotations

import json
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gcal_world import OPS, START, TEAM, World, start_world
from pydantic import ValidationError
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from pmsync.connectors import ConnectorContext
from pmsync.errors import AuthenticationError
from pmsync.records import CalendarEvent, Deletion, Quarantined
from pmsync_gcal import (
    GoogleCalendarConnector,
    GoogleCalendarSettings,
    OAuthUserCredentials,
    ServiceAccountCredentials,
)
from pmsync_gcal.mapping import map_event

OAUTH = {"client_id": "id", "client_secret": "${GCAL_SECRET}", "refresh_token": "file:/rt"}


# --- settings ------------------------------------------------------------------------


def test_oauth_and_service_account_settings_validate():
    oauth = GoogleCalendarSettings.model_validate({"credentials": OAUTH, "calendars": [TEAM]})
    assert isinstance(oauth.credentials, OAuthUserCredentials)
    assert oauth.credentials.token_uri == "https://oauth2.googleapis.com/token"
    assert oauth.api_endpoint == "https://www.googleapis.com/calendar/v3/"

    account = GoogleCalendarSettings.model_validate(
        {
            "credentials": {"key_file": "file:/etc/pmsync/gcal.json", "subject": "pm@acme.example"},
            "discover": True,
            "api_endpoint": "https://calendar.internal/calendar/v3",
        }
    )
    assert isinstance(account.credentials, ServiceAccountCredentials)
    assert account.credentials.subject == "pm@acme.example"
    assert account.api_endpoint.endswith("/calendar/v3/")
    assert "file:/etc/pmsync/gcal.json" in account.model_dump_json()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"credentials": OAUTH}, "give the calendars to read"),
        ({"credentials": OAUTH, "calendars": [TEAM], "discover": True}, "not both"),
        ({"credentials": OAUTH, "calendars": [TEAM, TEAM]}, "repeated"),
        ({"credentials": {**OAUTH, "client_secret": "hunter2"}, "calendars": [TEAM]}, "reference"),
        ({"credentials": {"key_file": "file:/k", "client_id": "x"}, "calendars": [TEAM]}, "extra"),
        ({"credentials": OAUTH, "calendars": [TEAM], "page_size": 5000}, "less than or equal"),
        ({"credentials": OAUTH, "calendars": [TEAM], "api_endpoint": "calendar"}, "http"),
    ],
)
def test_bad_settings_are_refused_with_the_reason(data, message):
    with pytest.raises(ValidationError, match=message):
        GoogleCalendarSettings.model_validate(data)


# --- service accounts ----------------------------------------------------------------


def test_a_service_account_signs_a_jwt_and_reads_the_calendars(tmp_path):
    world = start_world()
    try:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        key_file = tmp_path / "gcal-key.json"
        key_file.write_text(
            json.dumps(
                {
                    "type": "service_account",
                    "project_id": "pmsync-test",
                    "private_key_id": "k1",
                    "private_key": pem,
                    "client_email": "pmsync@pmsync-test.iam.gserviceaccount.com",
                    "client_id": "1",
                    "token_uri": world.service.credentials()["token_uri"],
                }
            )
        )
        connector = world.connector(
            tmp_path, credentials={"key_file": f"file:{key_file}", "subject": "pm@pmsync.example"}
        )
        assert connector.check() == []
        pages = list(connector.pull("events", None, full=True))
        assert [p.scope for p in pages if p.complete_ids] == [TEAM, OPS]
    finally:
        world.running.stop()


def test_an_unreadable_key_file_is_an_authentication_error_without_the_key(tmp_path):
    world = start_world()
    try:
        bad = tmp_path / "key.json"
        bad.write_text('{"type": "service_account", "private_key": "SECRET-MATERIAL"}')
        connector = world.connector(tmp_path, credentials={"key_file": f"file:{bad}"})
        with pytest.raises(AuthenticationError) as caught:
            list(connector.pull("events", None, full=True))
        assert "SECRET-MATERIAL" not in str(caught.value)
        assert connector.context.stats.retries == 0
    finally:
        world.running.stop()


# --- authentication failures ---------------------------------------------------------


class FakeGoogle:
    """A token endpoint and an API that answers every call with one fixed error."""

    def __init__(self, status: int, reason: str) -> None:
        self.status, self.reason = status, reason
        self.calls: Counter[str] = Counter()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    @Request.application  # type: ignore[arg-type]
    def app(self, request: Request) -> Response:
        if request.path == "/token":
            self.calls["token"] += 1
            body: dict[str, Any] = {"access_token": "ya29.x", "expires_in": 3599}
            return Response(json.dumps(body), mimetype="application/json")
        self.calls["api"] += 1
        error = {
            "code": self.status,
            "message": "The caller does not have permission",
            "errors": [{"domain": "global", "reason": self.reason, "message": "Forbidden"}],
        }
        return Response(json.dumps({"error": error}), self.status, mimetype="application/json")


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    (tmp_path / "s").write_text("secret")
    return tmp_path


def fake_connector(fake: FakeGoogle, secrets_dir: Path) -> GoogleCalendarConnector:
    settings = GoogleCalendarSettings.model_validate(
        {
            "credentials": {
                "client_id": "id",
                "client_secret": f"file:{secrets_dir / 's'}",
                "refresh_token": f"file:{secrets_dir / 's'}",
                "token_uri": f"{fake.url}/token",
            },
            "api_endpoint": f"{fake.url}/calendar/v3/",
            "calendars": [TEAM],
        }
    )
    waits: list[float] = []
    context = ConnectorContext("gcal", now=lambda: START, sleep=waits.append)
    return GoogleCalendarConnector(settings, context)


@pytest.mark.parametrize(
    ("status", "reason", "api_calls", "token_calls"),
    [
        (403, "forbidden", 1, 1),  # a permission problem: no retry, no refresh
        (401, "authError", 2, 2),  # refreshed once, then given up
    ],
)
def test_authentication_failures_are_not_retried(
    secrets_dir, status, reason, api_calls, token_calls
):
    fake = FakeGoogle(status, reason)
    try:
        connector = fake_connector(fake, secrets_dir)
        with pytest.raises(AuthenticationError, match=f"HTTP {status}"):
            list(connector.pull("events", None, full=True))
        assert (fake.calls["api"], fake.calls["token"]) == (api_calls, token_calls)
        assert connector.context.stats.retries == 0
        assert connector.context.stats.requests == api_calls + token_calls
        problems = connector.check()
        assert len(problems) == 1 and problems[0].startswith(f"calendar {TEAM}: ")
    finally:
        fake.server.shutdown()


# --- malformed events ----------------------------------------------------------------


def _series(series_id: str) -> dict[str, Any] | None:
    return None


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"id": "a", "summary": "x", "end": {"date": "2024-03-02"}, "updated": "x"}, "start"),
        (
            {
                "id": "b",
                "start": {"dateTime": "2024-03-01T10:00:00"},
                "end": {"dateTime": "2024-03-01T11:00:00"},
                "updated": "2024-03-01T08:00:00Z",
            },
            "no UTC offset",
        ),
        (
            {
                "id": "c",
                "start": {"date": "2024-13-01"},
                "end": {"date": "2024-13-02"},
                "updated": "2024-03-01T08:00:00Z",
            },
            "month",
        ),
        ({"summary": "no id"}, "without an id"),
    ],
)
def test_malformed_events_are_quarantined_with_the_reason(payload, reason):
    record = map_event(TEAM, payload, _series)
    assert isinstance(record, Quarantined) and record.record_kind == "calendar_event"
    assert reason in record.reason and record.payload == payload
    assert record.external_id.startswith(f"{TEAM}/")


def test_cancellations_map_to_deletions_or_cancelled_occurrences():
    assert map_event(TEAM, {"id": "gone", "status": "cancelled"}, _series) == Deletion(
        f"{TEAM}/gone", "calendar_event"
    )
    occurrence = {
        "id": "s_20240408T070000Z",
        "status": "cancelled",
        "recurringEventId": "s",
        "originalStartTime": {"dateTime": "2024-04-08T09:00:00+02:00"},
    }
    assert isinstance(map_event(TEAM, occurrence, _series), Deletion)  # the series is gone too
    series = {
        "id": "s",
        "summary": "Weekly status",
        "start": {"dateTime": "2024-03-18T09:00:00+01:00"},
        "end": {"dateTime": "2024-03-18T10:00:00+01:00"},
        "updated": "2024-03-01T08:00:00Z",
        "attendees": [{"email": "Room-1@resource.example", "resource": True}, {"email": "B@x.io"}],
    }
    cancelled = map_event(TEAM, occurrence, lambda _: series)
    assert isinstance(cancelled, CalendarEvent)
    assert (cancelled.status, cancelled.title, cancelled.recurring_event_id) == (
        "cancelled",
        "Weekly status",
        "s",
    )
    assert cancelled.end - cancelled.start == series_length()
    assert [a.login for a in cancelled.attendees] == ["b@x.io"]


def series_length() -> Any:
    from datetime import timedelta

    return timedelta(hours=1)


def test_a_quarantined_event_does_not_stop_the_page(monkeypatch, tmp_path):
    world: World = start_world()
    try:
        from pmsync.sandbox.gcal import service as gcal_service

        original = gcal_service.CalendarService._render

        def broken(self: Any, snapshot: Any, view: Any, zone: str) -> dict[str, Any]:
            event = dict(original(self, snapshot, view, zone))
            if event["id"] == "changing":
                event["start"] = {"dateTime": "next Tuesday"}
            return event

        monkeypatch.setattr(gcal_service.CalendarService, "_render", broken)
        pages = list(world.connector(tmp_path).pull("events", None, full=True))
        records = [r for p in pages for r in p.records]
        bad = [r for r in records if isinstance(r, Quarantined)]
        assert [r.external_id for r in bad] == [f"{TEAM}/changing"]
        assert "next Tuesday" in bad[0].reason
        assert len([r for r in records if isinstance(r, CalendarEvent)]) == 16
        final = next(p for p in pages if p.scope == TEAM)
        assert f"{TEAM}/changing" in final.complete_ids["calendar_event"]  # kept, not deleted
    finally:
        world.running.stop()
