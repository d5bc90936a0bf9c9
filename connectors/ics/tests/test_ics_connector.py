"""The iCalendar connector against a real feed served over HTTP by the test."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from pmsync.connectors import ConnectorContext
from pmsync.records import CalendarEvent, Deletion, Page, Quarantined
from pmsync_ics import IcsConnector, IcsSettings

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


class Feed:
    """An .ics feed on 127.0.0.1 with ETag support; the body can be changed; other paths 404."""

    def __init__(self) -> None:
        self.body = b""
        self.requests: list[tuple[str | None, int]] = []
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/calendar.ics"

    @Request.application  # type: ignore[arg-type]
    def app(self, request: Request) -> Response:
        if request.path != "/calendar.ics":
            self.requests.append((None, 404))
            return Response("Not Found", status=404)
        etag = '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            self.requests.append((request.headers.get("If-None-Match"), 304))
            return Response(status=304, headers={"ETag": etag})
        self.requests.append((request.headers.get("If-None-Match"), 200))
        return Response(self.body, headers={"ETag": etag}, mimetype="text/calendar")


@pytest.fixture
def feed() -> Iterator[Feed]:
    served = Feed()
    yield served
    served.server.shutdown()


def calendar(*events: icalendar.Event) -> bytes:
    cal = icalendar.Calendar()
    cal.add("prodid", "-//pmsync tests//EN")
    cal.add("version", "2.0")
    for event in events:
        cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()


def event(
    uid: str, summary: str, start: datetime | date, end: datetime | date, **extra: object
) -> icalendar.Event:
    ev = icalendar.Event()
    ev.add("uid", uid)
    ev.add("summary", summary)
    ev.add("dtstart", start)
    ev.add("dtend", end)
    ev.add("dtstamp", datetime(2026, 1, 1, tzinfo=UTC))
    for key, value in extra.items():
        ev.add(key.replace("_", "-"), value)
    return ev


def weekly_status_meeting() -> list[icalendar.Event]:
    """Mondays 10:00 Berlin from 2026-03-02 for 6 weeks; DST starts 2026-03-29.

    The 2026-03-16 instance moves to Tuesday 14:00; the 2026-03-23 one is cancelled.
    """
    series = event(
        "status@pmsync",
        "Weekly status",
        datetime(2026, 3, 2, 10, tzinfo=BERLIN),
        datetime(2026, 3, 2, 10, 30, tzinfo=BERLIN),
    )
    series.add("rrule", {"freq": "weekly", "count": 6})
    series.add("exdate", datetime(2026, 3, 23, 10, tzinfo=BERLIN))
    series.add("organizer", "mailto:Alice@Example.com", parameters={"CN": "Alice Ng"})
    series.add("attendee", "mailto:bob@example.com", parameters={"CN": "Bob"})
    moved = event(
        "status@pmsync",
        "Weekly status (moved)",
        datetime(2026, 3, 17, 14, tzinfo=BERLIN),
        datetime(2026, 3, 17, 14, 30, tzinfo=BERLIN),
        recurrence_id=datetime(2026, 3, 16, 10, tzinfo=BERLIN),
    )
    return [series, moved]


def connector(url: str, now: datetime = NOW) -> IcsConnector:
    settings = IcsSettings.model_validate(
        {
            "feeds": [{"name": "team", "url": url, "time_zone": "Europe/Berlin"}],
            "past_days": 60,
            "future_days": 60,
        }
    )
    return IcsConnector(
        settings, ConnectorContext(source_name="ics", now=lambda: now, sleep=lambda s: None)
    )


def records(pages: list[Page]) -> list[object]:
    return [r for p in pages for r in p.records]


def test_recurring_series_expands_across_dst_with_its_exceptions(feed: Feed) -> None:
    feed.body = calendar(*weekly_status_meeting())
    pages = list(connector(feed.url).pull("events", None))
    events = sorted(
        (r for r in records(pages) if isinstance(r, CalendarEvent)), key=lambda e: e.start
    )
    # Hand-written expectation, in UTC: 09:00Z before the DST change, 08:00Z after it.
    assert [(e.start, e.title) for e in events] == [
        (datetime(2026, 3, 2, 9, tzinfo=UTC), "Weekly status"),
        (datetime(2026, 3, 9, 9, tzinfo=UTC), "Weekly status"),
        (datetime(2026, 3, 17, 13, tzinfo=UTC), "Weekly status (moved)"),
        (datetime(2026, 3, 30, 8, tzinfo=UTC), "Weekly status"),
        (datetime(2026, 4, 6, 8, tzinfo=UTC), "Weekly status"),
    ]
    moved = events[2]
    # the moved instance keeps the identity of the slot it replaces
    assert moved.external_id == "team/status@pmsync/20260316T090000Z"
    assert {e.recurring_event_id for e in events} == {"team/status@pmsync"}
    assert events[0].organizer is not None and events[0].organizer.email == "alice@example.com"
    assert [a.display_name for a in events[0].attendees] == ["Bob"]


def test_unchanged_feed_costs_one_304_and_yields_nothing(feed: Feed) -> None:
    feed.body = calendar(
        event(
            "a",
            "Steering committee",
            datetime(2026, 3, 25, 9, tzinfo=BERLIN),
            datetime(2026, 3, 25, 10, tzinfo=BERLIN),
        )
    )
    conn = connector(feed.url)
    first = list(conn.pull("events", None))
    cursor = first[-1].cursor
    again = list(conn.pull("events", cursor))
    assert records(again) == []
    assert [status for _, status in feed.requests] == [200, 304]
    assert conn.context.stats.not_modified == 1


def test_an_event_that_disappears_is_deleted_but_past_history_is_kept(feed: Feed) -> None:
    held_long_ago = event(
        "old",
        "Kick-off",
        datetime(2026, 2, 2, 9, tzinfo=BERLIN),
        datetime(2026, 2, 2, 10, tzinfo=BERLIN),
    )
    review = event(
        "review",
        "Milestone review",
        datetime(2026, 3, 27, 9, tzinfo=BERLIN),
        datetime(2026, 3, 27, 10, tzinfo=BERLIN),
    )
    feed.body = calendar(held_long_ago, review)
    first = list(connector(feed.url).pull("events", None))
    assert {r.external_id for r in records(first)} == {"team/old", "team/review"}
    # two months later the review is removed from the feed and the kick-off is out of the window
    feed.body = calendar(held_long_ago)
    later = NOW + timedelta(days=40)
    second = list(connector(feed.url, now=later).pull("events", first[-1].cursor))
    assert records(second) == [Deletion(external_id="team/review", record_kind="calendar_event")]


def test_all_day_leave_and_cancelled_events(feed: Feed) -> None:
    leave = event("leave", "Out of office", date(2026, 3, 23), date(2026, 3, 28))
    cancelled = event(
        "c",
        "Customer demo",
        datetime(2026, 3, 24, 15, tzinfo=BERLIN),
        datetime(2026, 3, 24, 16, tzinfo=BERLIN),
        status="CANCELLED",
    )
    feed.body = calendar(leave, cancelled)
    got = {r.external_id: r for r in records(list(connector(feed.url).pull("events", None)))}
    assert isinstance(got["team/leave"], CalendarEvent)
    assert got["team/leave"].all_day
    assert got["team/leave"].end - got["team/leave"].start == timedelta(days=5)
    assert got["team/c"].status == "cancelled"  # type: ignore[union-attr]


def test_a_malformed_feed_is_quarantined_and_the_cursor_kept(feed: Feed) -> None:
    feed.body = b"<html>this is a login page, not a calendar</html>"
    pages = list(connector(feed.url).pull("events", {"feeds": {"team": {"etag": "x"}}}))
    (page,) = pages
    assert page.cursor is None  # the previous cursor stays: nothing is lost
    (quarantined,) = page.records
    assert isinstance(quarantined, Quarantined)
    assert "not a readable iCalendar file" in quarantined.reason
    assert "login page" in str(quarantined.payload)


def test_a_file_feed_is_read_and_unchanged_files_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "holidays.ics"
    path.write_bytes(calendar(event("h1", "Karfreitag", date(2026, 4, 3), date(2026, 4, 4))))
    conn = connector(str(path))
    first = list(conn.pull("events", None))
    assert [r.title for r in records(first)] == ["Karfreitag"]  # type: ignore[attr-defined]
    assert records(list(conn.pull("events", first[-1].cursor))) == []


def test_a_feed_that_is_gone_is_skipped_and_the_next_feed_is_read(
    feed: Feed, tmp_path: Path
) -> None:
    feed.body = calendar(*weekly_status_meeting())
    holidays = tmp_path / "holidays.ics"
    holidays.write_bytes(calendar(event("h1", "Karfreitag", date(2026, 4, 3), date(2026, 4, 4))))
    gone = feed.url.replace("calendar.ics", "unpublished.ics")  # the server answers 404
    settings = IcsSettings.model_validate(
        {
            "feeds": [
                {"name": "old-team", "url": gone},
                {"name": "missing-file", "url": str(tmp_path / "deleted.ics")},
                {"name": "team", "url": feed.url, "time_zone": "Europe/Berlin"},
                {"name": "holidays", "url": str(holidays)},
            ]
        }
    )
    context = ConnectorContext(source_name="ics", now=lambda: NOW, sleep=lambda s: None)
    pages = list(IcsConnector(settings, context).pull("events", None))
    skipped = [(p.scope, p.skipped) for p in pages if p.skipped]
    assert [scope for scope, _ in skipped] == ["old-team", "missing-file"]
    assert "HTTP 404" in skipped[0][1] and "/unpublished.ics" in skipped[0][1]  # type: ignore[operator]
    assert "cannot read calendar file" in skipped[1][1]  # type: ignore[operator]
    titles = {r.title for r in records(pages)}  # type: ignore[attr-defined]
    assert {"Weekly status", "Karfreitag"} <= titles
    assert set(pages[-1].cursor["feeds"]) == {"team", "holidays"}  # type: ignore[index]


def test_a_private_feed_address_is_a_secret_and_messages_name_only_its_host(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed.body = calendar(*weekly_status_meeting())
    private = (
        feed.url
    )  # stands for https://calendar.google.com/calendar/ical/.../private-<key>/basic.ics
    gone = feed.url.replace("calendar.ics", "private-0123abcd/basic.ics")
    monkeypatch.setenv("TEAM_ICS_URL", private)
    monkeypatch.setenv("OLD_ICS_URL", gone)
    settings = IcsSettings.model_validate(
        {
            "feeds": [
                {"name": "team", "private_url": "${TEAM_ICS_URL}", "time_zone": "Europe/Berlin"},
                {"name": "old", "private_url": "${OLD_ICS_URL}"},
            ]
        }
    )
    assert "calendar.ics" not in settings.model_dump_json()  # the reference, not the address
    context = ConnectorContext(source_name="ics", now=lambda: NOW, sleep=lambda s: None)
    pages = list(IcsConnector(settings, context).pull("events", None))
    assert "Weekly status" in {r.title for r in records(pages)}  # type: ignore[attr-defined]
    (skipped,) = [p.skipped for p in pages if p.skipped]
    host = feed.url.split("/")[2]
    assert skipped == f"GET http://{host}/… (feed old): HTTP 404"
    assert "private-0123abcd" not in skipped


@pytest.mark.parametrize(
    "feed", [{"name": "x"}, {"name": "x", "url": "https://a/b.ics", "private_url": "${X}"}]
)
def test_a_feed_has_either_a_url_or_a_private_url(feed: dict[str, str]) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="give either url or private_url"):
        IcsSettings.model_validate({"feeds": [feed]})
