"""The Google Calendar imitation, as the real google-api-python-client sees it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import google.auth.exceptions
import icalendar
import pytest
import recurring_ical_events
import requests
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from pmsync.sandbox.gcal import CalendarService
from pmsync.sandbox.scenario import Scenario
from pmsync.sandbox.server import FaultPlan, RunningService, SandboxClock, serve

TEAM = "team@pmsync.example"
HOLIDAYS = "de.german#holiday@group.v.calendar.google.com"
START = datetime(2024, 3, 20, 12, 0, tzinfo=UTC)


def _at(text: str) -> str:
    return text + ":00Z" if len(text) == 16 else text


def scenario_data(reviews: int = 30) -> dict[str, Any]:
    """Return a small world: a weekly series across the spring DST change, and friends."""
    created = "2024-03-01T08:00:00Z"
    events: list[dict[str, Any]] = [
        {
            "id": "status",
            "summary": "Weekly status",
            "created": created,
            "start": "2024-03-18T08:00:00Z",  # 09:00 CET
            "end": "2024-03-18T08:30:00Z",
            "time_zone": "Europe/Berlin",
            "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=4"],
            "organizer": "alice",
            "attendees": ["alice", "bob"],
        },
        {
            "id": "status-moved",
            "summary": "Weekly status (moved)",
            "created": "2024-03-10T08:00:00Z",
            "recurring_event_id": "status",
            "original_start": "2024-04-01T07:00:00Z",  # 09:00 CEST
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
            "id": "changing",
            "summary": "Steering committee",
            "created": created,
            "start": "2024-03-28T13:00:00Z",
            "end": "2024-03-28T14:00:00Z",
            "organizer": "bob",
            "history": [{"at": "2024-03-21T09:00:00Z", "set": {"summary": "Steering (moved)"}}],
        },
        {
            "id": "doomed",
            "summary": "Customer demo",
            "created": created,
            "start": "2024-03-29T13:00:00Z",
            "end": "2024-03-29T14:00:00Z",
            "organizer": "bob",
            "deleted_at": "2024-03-21T10:00:00Z",
        },
        {
            "id": "later",
            "summary": "Milestone review M2",
            "created": "2024-03-22T10:00:00Z",
            "start": "2024-04-15T09:00:00Z",
            "end": "2024-04-15T10:00:00Z",
            "organizer": "alice",
        },
        {
            "id": "leave",
            "summary": "Bob out of office",
            "created": created,
            "start_date": "2024-03-25",
            "end_date": "2024-03-27",
            "organizer": "bob",
            "event_type": "outOfOffice",
            "transparency": "transparent",
        },
    ]
    for n in range(reviews):
        day = datetime(2024, 3, 21, 10, tzinfo=UTC) + timedelta(days=n)
        events.append(
            {
                "id": f"review{n:05d}",
                "summary": f"Review {n} <script>alert(1)</script> — Überprüfung",
                "created": created,
                "start": day.isoformat(),
                "end": (day + timedelta(hours=1)).isoformat(),
                "organizer": "alice",
                "attendees": ["bob", "carol@partner.example"],
            }
        )
    return {
        "clock": START.isoformat(),
        "people": [
            {"id": "alice", "name": "Alice Adler", "email": TEAM, "time_zone": "Europe/Berlin"},
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
                    "events": events,
                },
                {
                    "id": HOLIDAYS,
                    "summary": "Holidays in Germany",
                    "time_zone": "Europe/Berlin",
                    "owner": "alice",
                    "events": [],
                },
            ]
        },
    }


def start_service(data: dict[str, Any], **kwargs: Any) -> RunningService:
    scenario = Scenario.model_validate(data)
    service = CalendarService(scenario, SandboxClock(scenario.clock), **kwargs)
    running = serve(service)
    service.bind_base_url(running.url)
    return running


@pytest.fixture
def running() -> Iterator[RunningService]:
    running = start_service(scenario_data())
    yield running
    running.stop()


def calendar_client(running: RunningService, refresh_token: str | None = None) -> Any:
    info = running.service.credentials()
    credentials = Credentials(
        token=None,
        refresh_token=refresh_token or info["refresh_token"],
        token_uri=info["token_uri"],
        client_id=info["client_id"],
        client_secret=info["client_secret"],
    )
    return build(
        "calendar",
        "v3",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": info["api_endpoint"]},
    )


def list_all(client: Any, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow every page; return the items and the raw pages."""
    items: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        page = client.events().list(calendarId=TEAM, pageToken=token, **params).execute()
        pages.append(page)
        items.extend(page["items"])
        token = page.get("nextPageToken")
        if token is None:
            return items, pages


def advance(running: RunningService, **delta: float) -> None:
    requests.post(f"{running.url}/_sandbox/advance", json=delta, timeout=5).raise_for_status()


def reason(err: HttpError) -> str:
    return str(err.error_details[0]["reason"])  # type: ignore[index]


# --- full and incremental sync -------------------------------------------------------


def test_full_sync_pages_then_incremental_sync_returns_exactly_the_changes(running):
    client = calendar_client(running)
    items, pages = list_all(client, maxResults=10)

    assert len(pages) == 4
    assert all("nextSyncToken" not in p for p in pages[:-1])
    assert "nextSyncToken" in pages[-1] and "nextPageToken" not in pages[-1]
    ids = {e["id"] for e in items}
    assert len(ids) == len(items)
    reviews = {f"review{n:05d}" for n in range(30)}
    # singleEvents=false: the series, its moved instance and its cancelled instance
    assert (
        ids
        == {
            "status",
            "status_20240401T070000Z",
            "status_20240408T070000Z",
            "changing",
            "doomed",
            "leave",
        }
        | reviews
    )
    series = next(e for e in items if e["id"] == "status")
    assert series["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=4"]
    assert series["start"] == {"dateTime": "2024-03-18T09:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert series["organizer"] == {"email": TEAM, "displayName": "Alice Adler", "self": True}
    assert series["updated"] == "2024-03-01T08:00:00.000Z"
    cancelled = next(e for e in items if e["id"] == "status_20240408T070000Z")
    assert cancelled["status"] == "cancelled"
    assert cancelled["recurringEventId"] == "status"
    leave = next(e for e in items if e["id"] == "leave")
    assert leave["start"] == {"date": "2024-03-25"} and leave["eventType"] == "outOfOffice"
    assert leave["transparency"] == "transparent"

    advance(running, days=3)
    changed, pages = list_all(client, syncToken=pages[-1]["nextSyncToken"])

    by_id = {e["id"]: e for e in changed}
    assert set(by_id) == {"changing", "doomed", "later"}
    assert by_id["changing"]["summary"] == "Steering (moved)"
    assert by_id["changing"]["updated"] == "2024-03-21T09:00:00.000Z"
    assert by_id["doomed"] == {
        "kind": "calendar#event",
        "etag": by_id["doomed"]["etag"],
        "id": "doomed",
        "status": "cancelled",
    }
    assert by_id["later"]["status"] == "confirmed"

    nothing, pages = list_all(client, syncToken=pages[-1]["nextSyncToken"])
    assert nothing == [] and "nextSyncToken" in pages[-1]


def test_an_expired_or_unknown_sync_token_answers_410_full_sync_required():
    running = start_service(scenario_data(), sync_token_ttl=timedelta(days=7))
    try:
        client = calendar_client(running)
        _, pages = list_all(client)
        token = pages[-1]["nextSyncToken"]
        advance(running, days=8)
        for stale in (token, "CPDAlvWDx70CEPDAlvWDx70CGAU="):
            with pytest.raises(HttpError) as caught:
                client.events().list(calendarId=TEAM, syncToken=stale).execute()
            assert caught.value.status_code == 410
            assert reason(caught.value) == "fullSyncRequired"
            assert caught.value.error_details[0]["domain"] == "calendar"  # type: ignore[index]

        _, pages = list_all(client)
        fresh = pages[-1]["nextSyncToken"]
        client.events().list(calendarId=TEAM, syncToken=fresh).execute()
        running.service.invalidate_sync_tokens()  # type: ignore[attr-defined]
        with pytest.raises(HttpError, match="full sync is required"):
            client.events().list(calendarId=TEAM, syncToken=fresh).execute()
    finally:
        running.stop()


@pytest.mark.parametrize(
    "params",
    [
        {"timeMin": "2024-03-01T00:00:00Z"},
        {"timeMax": "2024-05-01T00:00:00Z"},
        {"q": "status"},
        {"orderBy": "updated"},
        {"updatedMin": "2024-03-01T00:00:00Z"},
        {"iCalUID": "status@google.com"},
        {"showDeleted": False},
    ],
)
def test_sync_token_refuses_the_parameters_google_forbids_next_to_it(running, params):
    client = calendar_client(running)
    _, pages = list_all(client)
    with pytest.raises(HttpError) as caught:
        client.events().list(
            calendarId=TEAM, syncToken=pages[-1]["nextSyncToken"], **params
        ).execute()
    assert caught.value.status_code == 400


@pytest.mark.parametrize(
    ("params", "expected_reason"),
    [
        ({"orderBy": "startTime"}, "badRequest"),  # only with singleEvents=true
        ({"timeMin": "2024-04-01T00:00:00"}, "badRequest"),  # no offset
        ({"timeMin": "2024-04-01T00:00:00Z", "timeMax": "2024-03-01T00:00:00Z"}, "timeRangeEmpty"),
        ({"timeZone": "Mars/Olympus"}, "timeZoneNotFound"),
    ],
)
def test_bad_queries_get_400_with_google_error_shape(running, params, expected_reason):
    client = calendar_client(running)
    with pytest.raises(HttpError) as caught:
        client.events().list(calendarId=TEAM, **params).execute()
    assert caught.value.status_code == 400
    assert reason(caught.value) == expected_reason


def test_unknown_calendar_is_404_not_found(running):
    with pytest.raises(HttpError) as caught:
        calendar_client(running).events().list(calendarId="nobody@example.com").execute()
    assert caught.value.status_code == 404 and reason(caught.value) == "notFound"


# --- recurrence --------------------------------------------------------------------


def test_single_events_expand_a_weekly_series_across_dst_with_its_exceptions(running):
    client = calendar_client(running)
    items, _ = list_all(
        client,
        singleEvents=True,
        orderBy="startTime",
        q="Weekly status",
        timeMin="2024-03-01T00:00:00+01:00",
        timeMax="2024-05-01T00:00:00Z",
    )
    got = [
        (e["id"], e["start"]["dateTime"], e["originalStartTime"]["dateTime"], e["summary"])
        for e in items
    ]
    assert got == [
        (
            "status_20240318T080000Z",
            "2024-03-18T09:00:00+01:00",
            "2024-03-18T09:00:00+01:00",
            "Weekly status",
        ),
        (
            "status_20240325T080000Z",
            "2024-03-25T09:00:00+01:00",
            "2024-03-25T09:00:00+01:00",
            "Weekly status",
        ),
        # after the switch to summer time: still 09:00 in Berlin, i.e. 07:00 UTC
        (
            "status_20240401T070000Z",
            "2024-04-02T14:00:00+02:00",  # moved to Tuesday 14:00
            "2024-04-01T09:00:00+02:00",
            "Weekly status (moved)",
        ),
        # 2024-04-08 is cancelled: absent without showDeleted
    ]
    assert all(e["recurringEventId"] == "status" for e in items)
    assert {e["iCalUID"] for e in items} == {"status@google.com"}

    with_deleted, _ = list_all(client, singleEvents=True, showDeleted=True, q="Weekly status")
    cancelled = [e for e in with_deleted if e["status"] == "cancelled"]
    assert [e["id"] for e in cancelled] == ["status_20240408T070000Z"]
    assert cancelled[0]["originalStartTime"]["dateTime"] == "2024-04-08T09:00:00+02:00"


def test_time_window_order_and_response_time_zone(running):
    client = calendar_client(running)
    items, _ = list_all(
        client,
        singleEvents=True,
        orderBy="startTime",
        timeMin="2024-03-24T00:00:00Z",
        timeMax="2024-03-26T00:00:00Z",
        timeZone="UTC",
    )
    assert [e["id"] for e in items] == [
        "review00003",
        "leave",  # all day from midnight in Berlin: 23:00 UTC the day before
        "status_20240325T080000Z",
        "review00004",
    ]
    assert items[2]["start"] == {"dateTime": "2024-03-25T08:00:00Z", "timeZone": "Europe/Berlin"}
    starts = [e["start"].get("dateTime", e["start"].get("date")) for e in items]
    assert starts[0] == "2024-03-24T10:00:00Z"


def test_updated_min_includes_deletions_and_order_by_updated(running):
    advance(running, days=3)
    items, _ = list_all(
        calendar_client(running), updatedMin="2024-03-21T00:00:00Z", orderBy="updated"
    )
    assert [e["id"] for e in items] == ["changing", "doomed", "later"]
    assert items[1]["status"] == "cancelled"


# --- calendar list and auth --------------------------------------------------------


def test_calendar_list_pages_and_ends_with_a_sync_token(running):
    client = calendar_client(running)
    first = client.calendarList().list(maxResults=1).execute()
    assert "nextSyncToken" not in first
    second = client.calendarList().list(maxResults=1, pageToken=first["nextPageToken"]).execute()
    assert "nextPageToken" not in second and second["nextSyncToken"]
    team, holidays = first["items"][0], second["items"][0]
    assert team["id"] == TEAM and team["primary"] is True and team["accessRole"] == "owner"
    assert team["timeZone"] == "Europe/Berlin" and team["kind"] == "calendar#calendarListEntry"
    assert holidays["id"] == HOLIDAYS and holidays["accessRole"] == "reader"
    assert "primary" not in holidays
    readers = client.calendarList().list(minAccessRole="owner").execute()
    assert [c["id"] for c in readers["items"]] == [TEAM]
    again = client.calendarList().list(syncToken=second["nextSyncToken"]).execute()
    assert again["items"] == []
    assert client.calendars().get(calendarId="primary").execute()["id"] == TEAM
    assert client.calendars().get(calendarId=HOLIDAYS).execute()["summary"] == (
        "Holidays in Germany"
    )


def test_api_needs_an_issued_bearer_token(running):
    url = f"{running.url}/calendar/v3/calendars/{TEAM}/events"
    for headers in ({}, {"Authorization": "Bearer ya29.made-up"}):
        answer = requests.get(url, headers=headers, timeout=5)
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["code"] == 401 and error["status"] == "UNAUTHENTICATED"
        assert error["errors"][0]["reason"] == "authError"

    with pytest.raises(google.auth.exceptions.RefreshError, match="invalid_grant"):
        calendar_client(running, refresh_token="1//stolen").events().list(calendarId=TEAM).execute()

    token = requests.post(
        f"{running.url}/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJzYSJ9.c2ln",
        },
        timeout=5,
    ).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    answer = requests.get(
        url, headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5
    )
    assert answer.status_code == 200


def test_rate_limits_answer_403_and_429_with_googles_reasons():
    running = start_service(scenario_data(), faults=FaultPlan(rate=1.0, kinds=("429",)))
    try:
        url = f"{running.url}/calendar/v3/calendars/{TEAM}/events"
        answers = [requests.get(url, timeout=5) for _ in range(3)]
        got = [(a.status_code, a.json()["error"]["errors"][0]["reason"]) for a in answers]
        assert got == [
            (403, "rateLimitExceeded"),
            (403, "userRateLimitExceeded"),
            (429, "rateLimitExceeded"),
        ]
        assert answers[2].headers["Retry-After"] == "1"
        assert answers[0].json()["error"]["errors"][0]["domain"] == "usageLimits"
    finally:
        running.stop()


# --- the published iCalendar feed --------------------------------------------------


def test_ics_feed_round_trips_through_icalendar_and_answers_304(running):
    url = f"{running.url}/calendar/ical/{TEAM}/public/basic.ics"
    first = requests.get(url, timeout=5)
    assert first.status_code == 200
    assert first.headers["Content-Type"].startswith("text/calendar")
    feed = icalendar.Calendar.from_ical(first.content)

    assert [tz["TZID"] for tz in feed.walk("VTIMEZONE")] == ["Europe/Berlin"]
    series = [e for e in feed.walk("VEVENT") if e["UID"] == "status@google.com"]
    master = next(e for e in series if "RECURRENCE-ID" not in e)
    moved = next(e for e in series if "RECURRENCE-ID" in e)
    assert master["RRULE"]["FREQ"] == ["WEEKLY"]
    assert master.decoded("DTSTART") == datetime(2024, 3, 18, 8, tzinfo=UTC)
    assert master["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert moved.decoded("RECURRENCE-ID") == datetime(2024, 4, 1, 7, tzinfo=UTC)
    uids = {str(e["UID"]) for e in feed.walk("VEVENT")}
    assert "doomed@google.com" in uids and "later@google.com" not in uids

    window = recurring_ical_events.of(feed).between(date(2024, 3, 17), date(2024, 4, 30))
    starts = sorted(
        e.decoded("DTSTART").astimezone(UTC) for e in window if e["UID"] == "status@google.com"
    )
    assert starts == [
        datetime(2024, 3, 18, 8, tzinfo=UTC),
        datetime(2024, 3, 25, 8, tzinfo=UTC),
        datetime(2024, 4, 2, 12, tzinfo=UTC),  # the moved one; 04-08 is cancelled
    ]

    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=5).status_code == 304
    assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=5).status_code == 304

    advance(running, days=3)  # "doomed" is deleted, "later" appears
    changed = requests.get(url, headers={"If-None-Match": etag}, timeout=5)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    uids = {str(e["UID"]) for e in icalendar.Calendar.from_ical(changed.content).walk("VEVENT")}
    assert "doomed@google.com" not in uids and "later@google.com" in uids


# --- scale -------------------------------------------------------------------------


@pytest.mark.slow
def test_twenty_thousand_events_serve_a_page_in_a_few_milliseconds():
    running = start_service(scenario_data(reviews=20_000))
    try:
        session = requests.Session()
        token = session.post(
            f"{running.url}/token",
            data={
                "grant_type": "refresh_token",
                **{
                    k: v
                    for k, v in running.service.credentials().items()
                    if k in ("client_id", "client_secret", "refresh_token")
                },
            },
            timeout=5,
        ).json()["access_token"]
        session.headers["Authorization"] = f"Bearer {token}"
        url = f"{running.url}/calendar/v3/calendars/{TEAM}/events"
        first = session.get(url, params={"maxResults": 250}, timeout=30).json()
        page_token = first["nextPageToken"]
        timings = []
        for _ in range(20):
            began = time.perf_counter()
            page = session.get(
                url, params={"maxResults": 250, "pageToken": page_token}, timeout=5
            ).json()
            timings.append(time.perf_counter() - began)
            page_token = page["nextPageToken"]
        assert len(page["items"]) == 250
        assert sorted(timings)[len(timings) // 2] < 0.05
    finally:
        running.stop()
