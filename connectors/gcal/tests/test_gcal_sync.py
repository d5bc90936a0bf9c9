"""The Google Calendar connector against the sandbox, through the real googleapiclient."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from gcal_world import OPS, START, TEAM, Store, World, start_world

from pmsync.records import CalendarEvent, Deletion, PersonRef
from pmsync.sandbox.server import FaultPlan


@pytest.fixture
def world() -> Iterator[World]:
    served = start_world()
    yield served
    served.running.stop()


def full_sync(world: World, tmp_path: Path, store: Store | None = None) -> Store:
    store = store or Store()
    connector = world.connector(tmp_path)
    try:
        store.apply(connector.pull("events", None, full=True))
    finally:
        connector.close()
    return store


def team_ids(*suffixes: str) -> set[str]:
    return {f"{TEAM}/{s}" for s in suffixes}


SERIES = (
    "status_20240318T080000Z",
    "status_20240325T080000Z",
    "status_20240401T070000Z",
    "status_20240408T070000Z",
    "status_20240415T070000Z",
    "status_20240422T070000Z",
    "status_20240429T070000Z",
    "status_20240506T070000Z",
)


def test_full_sync_reads_every_calendar_as_of_the_clock(world, tmp_path):
    store = full_sync(world, tmp_path)

    assert set(store.events) == team_ids(*SERIES, "changing", "doomed", "leave") | {
        f"{OPS}/standup_202403{d}T140000Z" for d in (19, 20, 21, 22, 23)
    } | {f"{OPS}/patch"}
    # not yet created, outside the window ahead, outside the window behind
    assert not team_ids("later", "far", "ancient") & set(store.events)
    assert store.quarantined == []

    first = store.events[f"{TEAM}/status_20240318T080000Z"]
    assert first == CalendarEvent(
        external_id=f"{TEAM}/status_20240318T080000Z",
        calendar_id=TEAM,
        title="Weekly status",
        start=datetime(2024, 3, 18, 8, 0, tzinfo=UTC),
        end=datetime(2024, 3, 18, 8, 30, tzinfo=UTC),
        updated_at=datetime(2024, 3, 1, 8, 0, tzinfo=UTC),
        organizer=PersonRef("alice@pmsync.example", "Alice Adler", "Alice@PMSYNC.example"),
        attendees=(
            PersonRef("alice@pmsync.example", "Alice Adler", "Alice@PMSYNC.example"),
            PersonRef("bob@pmsync.example", "Bob Brown", "bob@pmsync.example"),
        ),
        recurring_event_id="status",
        url=first.url,
    )
    assert first.url and first.url.startswith("https://www.google.com/calendar/event?eid=")
    # after the DST change 09:00 Berlin is 07:00 UTC
    assert store.events[f"{TEAM}/status_20240422T070000Z"].start == datetime(
        2024, 4, 22, 7, 0, tzinfo=UTC
    )
    moved = store.events[f"{TEAM}/status_20240401T070000Z"]
    assert (moved.title, moved.start) == (
        "Weekly status (moved)",
        datetime(2024, 4, 2, 12, tzinfo=UTC),
    )
    off = store.events[f"{TEAM}/status_20240408T070000Z"]
    assert (off.status, off.title, off.recurring_event_id) == (
        "cancelled",
        "Weekly status",
        "status",
    )
    assert off.end - off.start == timedelta(minutes=30)
    leave = store.events[f"{TEAM}/leave"]
    assert leave.all_day and (leave.start, leave.end) == (
        datetime(2024, 3, 25, tzinfo=UTC),
        datetime(2024, 3, 27, tzinfo=UTC),
    )
    steering = store.events[f"{TEAM}/changing"]
    assert [a.login for a in steering.attendees] == [
        "alice@pmsync.example",
        "carol@partner.example",
    ]


def test_full_sync_pages_carry_old_state_until_each_calendars_last_page(world, tmp_path):
    connector = world.connector(tmp_path)
    pages = list(connector.pull("events", None, full=True))

    finals = [p for p in pages if p.complete_ids is not None]
    assert [p.scope for p in finals] == [TEAM, OPS]
    for page in pages:
        known = set(page.cursor["calendars"])
        assert (TEAM in known) == (pages.index(page) >= pages.index(finals[0]))
        assert (OPS in known) == (page is finals[1])
    assert finals[0].complete_ids["calendar_event"] == frozenset(
        team_ids(*SERIES, "changing", "doomed", "leave")
    )
    assert len(finals[1].complete_ids["calendar_event"]) == 6
    assert connector.context.stats.requests == len(pages) + 2  # + token + one series lookup


def test_incremental_sync_applies_exactly_the_changes(world, tmp_path):
    store = full_sync(world, tmp_path)
    before = dict(store.events)
    world.advance(days=3)

    connector = world.connector(tmp_path)
    pages = store.apply(connector.pull("events", store.cursor))

    records = {r.external_id: r for p in pages for r in p.records}
    assert set(records) == team_ids("changing", "doomed", "later", "status_20240415T070000Z")
    assert records[f"{TEAM}/changing"].title == "Steering (moved)"
    assert isinstance(records[f"{TEAM}/doomed"], Deletion)
    assert records[f"{TEAM}/later"].title == "Milestone review M2"
    skipped = records[f"{TEAM}/status_20240415T070000Z"]
    assert isinstance(skipped, CalendarEvent) and skipped.status == "cancelled"
    assert all(p.complete_ids is None for p in pages)
    unchanged = set(before) - set(records)
    assert all(store.events[k] == before[k] for k in unchanged)

    fresh = full_sync(world, tmp_path / "..")
    assert store.events == fresh.events

    again = list(world.connector(tmp_path).pull("events", store.cursor))
    assert [r for p in again for r in p.records] == []


def test_window_slides_forward_and_brings_series_occurrences_into_view(world, tmp_path):
    store = full_sync(world, tmp_path)
    world.advance(days=25)  # the window's end passes 2024-06-10

    store.apply(world.connector(tmp_path).pull("events", store.cursor))

    assert f"{TEAM}/far" in store.events
    assert store.cursor["calendars"][TEAM]["window_end"] == "2024-06-13T12:00:00Z"
    assert store.events == full_sync(world, tmp_path).events


def test_a_refused_token_resyncs_that_calendar_only(world, tmp_path):
    store = full_sync(world, tmp_path)
    # rows the source no longer has, as a store might hold them
    store.events[f"{TEAM}/ghost"] = store.events[f"{TEAM}/leave"]
    store.events[f"{OPS}/ghost"] = store.events[f"{OPS}/patch"]
    cursor = store.cursor
    cursor["calendars"][TEAM]["sync_token"] = "CPDAlvWDx70CEPDAlvWDx70CGAU="
    world.advance(days=3)

    pages = store.apply(world.connector(tmp_path).pull("events", cursor))

    team_pages = [p for p in pages if any(r.external_id.startswith(TEAM) for r in p.records)]
    assert len(team_pages) == 3 and team_pages[-1].scope == TEAM
    assert team_pages[-1].complete_ids["calendar_event"] == frozenset(
        team_ids(*SERIES, "changing", "leave", "later")
    )
    assert f"{TEAM}/ghost" not in store.events
    assert f"{OPS}/ghost" in store.events  # the other calendar is not reconciled
    ops_records = [r for p in pages for r in p.records if r.external_id.startswith(OPS)]
    assert ops_records == []  # the other calendar: one incremental listing, nothing new
    assert [p.scope for p in pages if p.complete_ids is not None] == [TEAM]
    assert store.cursor["calendars"][TEAM]["sync_token"] != "CPDAlvWDx70CEPDAlvWDx70CGAU="


@pytest.mark.parametrize("how", ["invalidated", "expired"])
def test_stale_tokens_everywhere_resync_each_calendar_within_its_scope(tmp_path, how):
    served = start_world(sync_token_ttl=timedelta(days=7))
    try:
        store = full_sync(served, tmp_path)
        if how == "invalidated":
            served.advance(days=3)
            served.service.invalidate_sync_tokens()
        else:
            served.advance(days=8)
        pages = store.apply(served.connector(tmp_path).pull("events", store.cursor))
        assert [p.scope for p in pages if p.complete_ids is not None] == [TEAM, OPS]
        assert f"{TEAM}/doomed" not in store.events
        assert store.events == full_sync(served, tmp_path).events
    finally:
        served.running.stop()


def test_a_crash_mid_calendar_rereads_that_calendar(world, tmp_path):
    store = full_sync(world, tmp_path)
    world.advance(days=3)
    connector = world.connector(tmp_path, page_size=1)
    pulled = connector.pull("events", store.cursor)
    first = next(pulled)  # stored; then the process dies
    pulled.close()
    assert first.cursor["calendars"][TEAM] == store.cursor["calendars"][TEAM]
    store.apply([first])

    store.apply(world.connector(tmp_path).pull("events", store.cursor))

    assert store.events == full_sync(world, tmp_path).events


def test_with_faults_the_result_equals_a_clean_run_and_waits_honour_retry_after(tmp_path, caplog):
    clean = start_world()
    try:
        expected = full_sync(clean, tmp_path)
        clean.advance(days=3)
        expected_after = Store(events=dict(expected.events))
        expected_after.apply(clean.connector(tmp_path).pull("events", expected.cursor))
    finally:
        clean.running.stop()

    plan = FaultPlan.parse("rate=0.2,kinds=429+500+503,seed=3,retry_after=1")
    faulty = start_world(plan)
    caplog.set_level(logging.DEBUG, logger="pmsync.connector")
    try:
        connector = faulty.connector(tmp_path, page_size=2)
        store = Store()
        store.apply(connector.pull("events", None, full=True))
        faulty.advance(days=3)
        store.apply(connector.pull("events", store.cursor))
        injected = sum(faulty.service.faults.injected.values())
    finally:
        faulty.running.stop()

    assert store.events == expected_after.events
    assert injected >= 3 and connector.context.stats.retries >= injected
    waits = [
        (float(m.group(2)), m.group(1))
        for r in caplog.records
        if (m := re.search(r"HTTP (\d+).*; retry \d+ in ([\d.]+) s", r.getMessage()))
    ]
    assert len(waits) == len(faulty.waits) >= injected
    statuses = {status for _, status in waits}
    assert statuses >= {"429", "403"} and statuses & {"500", "503"}
    assert all(seconds >= 1.0 for seconds, status in waits if status == "429")
    assert all(seconds >= 60.0 for seconds, status in waits if status == "403")  # names no wait


def test_check_reports_each_problem_on_one_line(world, tmp_path):
    assert world.connector(tmp_path).check() == []
    assert world.connector(tmp_path, discover=True, calendars=[]).check() == []

    missing = world.connector(tmp_path, calendars=[TEAM, "nobody@example.com"]).check()
    assert len(missing) == 1 and missing[0].startswith("calendar nobody@example.com: ")
    assert "404" in missing[0]

    refused = world.connector(tmp_path, refresh_token="1//revoked").check()
    assert len(refused) == 1 and "invalid_grant" in refused[0]
    assert "1//revoked" not in refused[0]


def test_discovery_reads_the_calendar_list(world, tmp_path):
    connector = world.connector(tmp_path, discover=True, calendars=[])
    pages = list(connector.pull("events", None, full=True))
    assert [p.scope for p in pages if p.complete_ids is not None] == [TEAM, OPS]


def test_the_sandbox_settings_work_as_given(tmp_path, monkeypatch):
    from gcal_world import scenario_data

    from pmsync.connectors import ConnectorContext
    from pmsync.sandbox.app import Sandbox
    from pmsync.sandbox.scenario import Scenario
    from pmsync_gcal import GoogleCalendarConnector, GoogleCalendarSettings

    box = Sandbox(Scenario.model_validate(scenario_data())).start()
    try:
        endpoints = box.endpoints()
        monkeypatch.chdir(tmp_path)
        (tmp_path / "secrets").mkdir()
        for name, value in GoogleCalendarConnector.sandbox_secrets(endpoints).items():
            (tmp_path / "secrets" / name).write_text(value)
        settings = GoogleCalendarSettings.model_validate(
            GoogleCalendarConnector.sandbox_settings(endpoints)
        )
        connector = GoogleCalendarConnector(
            settings, ConnectorContext("gcal", now=lambda: START, sleep=lambda s: None)
        )
        assert connector.check() == []
        pages = list(connector.pull("events", None, full=True))
        assert sum(len(p.records) for p in pages) > 10
        dumped = repr(settings) + settings.model_dump_json()
        assert "pmsync-sandbox-secret" not in dumped  # only the file: reference is kept
    finally:
        box.stop()


def test_a_calendar_no_longer_shared_is_skipped_and_the_others_are_read(world, tmp_path):
    connector = world.connector(tmp_path, calendars=["nobody@example.com", TEAM, OPS])
    store = Store()
    pages = store.apply(connector.pull("events", None, full=True))
    skipped = [(p.scope, p.skipped) for p in pages if p.skipped]
    assert len(skipped) == 1 and skipped[0][0] == "nobody@example.com"
    assert "HTTP 404" in skipped[0][1]
    assert [p.scope for p in pages if p.complete_ids is not None] == [TEAM, OPS]
    assert set(store.events) == set(full_sync(world, tmp_path).events)
    assert set(store.cursor["calendars"]) == {TEAM, OPS}  # the next pass is incremental for both


def test_an_answer_that_is_not_json_is_retried_not_taken_for_a_page(world, tmp_path):
    expected = full_sync(world, tmp_path)
    # a proxy's error page, or a body cut short, with status 200: googleapiclient returns
    # such a body as text instead of raising
    plan = FaultPlan.parse("rate=0.3,kinds=malformed+truncated,seed=5,paths=/calendar/v3/calendars")
    faulty = start_world(plan)
    try:
        connector = faulty.connector(tmp_path, page_size=2)
        store = Store()
        store.apply(connector.pull("events", None, full=True))
        injected = faulty.service.faults.injected
    finally:
        faulty.running.stop()
    assert injected["malformed"] >= 1 and injected["truncated"] >= 1
    assert connector.context.stats.retries >= sum(injected.values())
    assert store.events == expected.events and store.quarantined == []
