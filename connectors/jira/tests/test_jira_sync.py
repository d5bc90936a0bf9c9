"""The Jira connector against the sandbox's Jira, through the real ``jira`` library and store."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from jira_harness import Site, live, snapshot, start_site, sync, utc, world

from pmsync.errors import AuthenticationError
from pmsync.records import WorkItem
from pmsync.sandbox.scenario import (
    Change,
    JiraIssue,
    JiraProject,
    JiraWorklog,
    JiraWorld,
    Person,
    Scenario,
)
from pmsync.store import Store

ALPHA_1, ALPHA_4, ALPHA_5, ALPHA_6 = "30000", "30003", "30004", "30005"
BULK_IDS = {str(30007 + n) for n in range(150)}


def evolving_world() -> Scenario:
    """The hand-built world plus what happens between the 10th and the 13th."""
    scenario = world.build_world()
    jira = scenario.jira
    wanderer = JiraIssue(
        id="39000",
        key="ALPHA-8",
        project="ALPHA",
        created=utc(2, 9),
        fields={"summary": "moves on the 12th", "issuetype": "Task", "status": "To Do"},
        history=[Change(at=utc(12, 9), author="alice", set={"key": "BULK-901", "project": "BULK"})],
    )
    jira.issues.append(wanderer)
    la_issue = next(i for i in jira.issues if i.key == "ALPHA-2")
    la_issue.worklogs = [
        JiraWorklog(
            id="43000", author="alice", created=utc(11, 10), started=utc(11, 9), seconds=900
        ),
        JiraWorklog(
            id="43001",
            author="alice",
            created=utc(2, 10),
            started=utc(2, 9),
            seconds=300,
            deleted_at=utc(12, 9),
        ),
    ]
    two = next(v for v in jira.projects[0].versions if v.id == "20002")
    two.history = [Change(at=utc(12, 8), set={"release_date": date(2026, 2, 15)})]
    return scenario


def test_full_sync_stores_exactly_the_scenario_as_of_the_clock(site: Site, store: Store) -> None:
    connector = site.connector()
    sync(store, connector, full=True)

    items = live(store, "work_item")
    # ALPHA-5 is created on the 11th; ALPHA-4 moved to BULK-900 on the 8th.
    assert len(items) == 5 + 151
    assert Counter(i["container"] for i in items.values()) == {"ALPHA": 5, "BULK": 151}
    assert len(live(store, "worklog")) == 25 + 1 + 1  # 42001 was deleted on the 9th
    assert set(live(store, "source_milestone")) == {"20001", "20002", "20003"}

    busy = items[ALPHA_1]
    alice = next(p for p in world.build_world().people if p.id == "alice")
    assert busy["key"] == "ALPHA-1" and busy["title"] == "ALPHA item 1"
    assert (busy["item_type"], busy["status"], busy["status_category"]) == ("Story", "Done", "done")
    assert busy["created_at"].replace(tzinfo=UTC) == utc(1, 8)
    assert busy["updated_at"].replace(tzinfo=UTC) == utc(3, 12)
    assert busy["resolved_at"].replace(tzinfo=UTC) == utc(3, 12)
    assert busy["priority"] == "Medium" and busy["labels"] == ["backend"]
    assert busy["story_points"] == 8.0  # 5, then 8 on the 3rd
    assert busy["original_estimate_seconds"] == 36000
    assert busy["time_spent_seconds"] == 25 * 1800
    assert busy["milestones"] == ["20001"]
    people = {
        (i.display_name, i.email) for i in _identities(store) if i.login == busy["assignee_login"]
    }
    assert people == {(alice.name, alice.email)}

    moved = items[ALPHA_4]
    assert (moved["key"], moved["container"]) == ("BULK-900", "BULK")

    history = [
        c for c in live(store, "work_item_change").values() if c["item_external_id"] == ALPHA_1
    ]
    # 60 histories, more than the 40 search embeds: the rest came from /changelog.
    assert Counter(c["field"] for c in history) == {"status": 60, "story_points": 1}
    last = max(history, key=lambda c: (c["at"], c["field"]))
    assert (last["field"], last["from_value"], last["to_value"]) == ("story_points", "5", "8")

    edited = live(store, "worklog")["42000"]
    assert edited["seconds"] == 1200 and edited["item_external_id"] == "30006"
    version = live(store, "source_milestone")["20001"]
    assert (version["name"], version["state"], version["container"]) == ("1.0", "closed", "ALPHA")
    assert version["due_date"] == date(2026, 1, 8)
    archived = live(store, "source_milestone")["20003"]
    assert archived["archived"] is True


def _changes_of(store: Store, issue_id: str) -> list[dict[str, Any]]:
    changes = live(store, "work_item_change").values()
    return [c for c in changes if c["item_external_id"] == issue_id]


def _identities(store: Store) -> list[Any]:
    from sqlalchemy import select

    from pmsync import model

    with store.session(readonly=True) as session:
        return list(session.scalars(select(model.Identity)).all())


def test_incremental_sync_picks_up_exactly_the_changes(tmp_path: Path) -> None:
    site = start_site(tmp_path, evolving_world())
    try:
        from pmsync.store import Store as _Store

        stored = _Store.open(f"sqlite:///{tmp_path / 'a.db'}", var_dir=tmp_path)
        stored.upgrade()
        sync(stored, site.connector(), full=True)
        assert live(stored, "work_item")["39000"]["key"] == "ALPHA-8"

        site.advance(days=3)
        connector = site.connector()
        yielded: list[Any] = []
        for spec in connector.streams:
            for page in connector.pull(spec.name, stored.get_cursor("jira", spec.name)):
                yielded.extend(page.records)
                stored.write_page("jira", spec.name, page, None)

        changed = {r.external_id for r in yielded if isinstance(r, WorkItem)}
        # created; moved (same id, new key); ALPHA-2 got a worklog (time spent, updated)
        assert changed == {ALPHA_5, "39000", "30001"}
        items = live(stored, "work_item")
        assert (items["39000"]["key"], items["39000"]["container"]) == ("BULK-901", "BULK")
        assert ALPHA_6 not in items  # deleted on the 11th: found by the reconciliation
        worklogs = live(stored, "worklog")
        assert worklogs["43000"]["seconds"] == 900
        assert "43001" not in worklogs and "41000" not in worklogs
        assert live(stored, "source_milestone")["20002"]["due_date"] == date(2026, 2, 15)

        # The incremental store now equals a full sync made at the same instant.
        fresh = _Store.open(f"sqlite:///{tmp_path / 'b.db'}", var_dir=tmp_path)
        fresh.upgrade()
        sync(fresh, site.connector(), full=True)
        assert snapshot(stored) == snapshot(fresh)

        # Nothing changed since: at most one request per stream (one per project for versions).
        idle = site.connector()
        for spec in idle.streams:
            idle.context.stats.requests = 0
            before = snapshot(stored)
            for page in idle.pull(spec.name, stored.get_cursor("jira", spec.name)):
                # Versions have no change feed: the list is re-read and stored unchanged.
                assert spec.name == "versions" or not page.records
                stored.write_page("jira", spec.name, page, None)
            limit = 2 if spec.name == "versions" else 1
            assert idle.context.stats.requests <= limit, spec.name
            assert snapshot(stored) == before
    finally:
        site.running.stop()


@pytest.mark.parametrize("zone", ["America/Los_Angeles", "Asia/Kolkata"])
def test_no_issue_updated_in_the_last_second_of_the_cursor_minute_is_missed(
    tmp_path: Path, zone: str
) -> None:
    cursor_minute = datetime(2026, 1, 10, 10, 7, tzinfo=UTC)
    times = {
        "TZ-1": cursor_minute - timedelta(hours=1),
        "TZ-2": cursor_minute + timedelta(seconds=59),  # stored by the first sync
        "TZ-3": cursor_minute + timedelta(seconds=59, milliseconds=800),  # same second, later
        "TZ-4": cursor_minute + timedelta(minutes=1),
        "TZ-5": cursor_minute + timedelta(minutes=1, seconds=59, milliseconds=999),
    }
    issues = [
        JiraIssue(
            id=str(50000 + n),
            key=key,
            project="TZ",
            created=created,
            fields={"summary": key, "issuetype": "Task", "status": "To Do"},
        )
        for n, (key, created) in enumerate(times.items())
    ]
    scenario = Scenario(
        name="time-zones",
        clock=cursor_minute + timedelta(seconds=59, milliseconds=500),
        people=[Person(id="bot", name="Bot", email="bot@example.com", time_zone=zone)],
        jira=JiraWorld(
            projects=[JiraProject(id="1", key="TZ", name="Zones", lead="bot")], issues=issues
        ),
    )
    site = start_site(tmp_path, scenario, user_time_zone=zone)
    try:
        from pmsync.store import Store as _Store

        stored = _Store.open(f"sqlite:///{tmp_path / 'tz.db'}", var_dir=tmp_path)
        stored.upgrade()
        sync(stored, site.connector(projects=["TZ"]), streams={"issues"})
        assert {i["key"] for i in live(stored, "work_item").values()} == {"TZ-1", "TZ-2"}
        site.advance(minutes=3)
        sync(stored, site.connector(projects=["TZ"]), streams={"issues"})
        items = live(stored, "work_item")
        assert {i["key"] for i in items.values()} == set(times)
        for item in items.values():
            assert item["created_at"].replace(tzinfo=UTC) == times[item["key"]]
    finally:
        site.running.stop()


def test_150_issues_sharing_one_updated_value_survive_a_crash_between_pages(
    site: Site, store: Store
) -> None:
    shared_ms = int(world.SHARED_UPDATE.timestamp() * 1000)
    pages = site.connector().pull("issues", None)
    for page in pages:
        store.write_page("jira", "issues", page, None)
        if page.cursor and page.cursor["updated_ms"] == shared_ms:
            break  # the process dies here, mid-way through the shared instant
    stored_bulk = BULK_IDS & set(live(store, "work_item"))
    assert 0 < len(stored_bulk) < 150

    sync(store, site.connector(), streams={"issues"})
    assert set(live(store, "work_item")) >= BULK_IDS
    assert len(live(store, "work_item")) == 156


def test_data_center_with_a_personal_access_token(tmp_path: Path, store: Store) -> None:
    site = start_site(tmp_path, flavour="datacenter")
    try:
        connector = site.connector()
        assert connector.jira_settings.email is None
        sync(store, connector, full=True)
        assert store.get_cursor("jira", "issues")["flavour"] == "datacenter"
        items = live(store, "work_item")
        assert len(items) == 156 and items[ALPHA_4]["key"] == "BULK-900"
        assert not items[ALPHA_1]["assignee_login"].startswith("5f")  # a DC user name, no accountId
        history = [
            c for c in live(store, "work_item_change").values() if c["item_external_id"] == ALPHA_1
        ]
        assert len(history) == 61
        assert len(live(store, "worklog")) == 27
        assert connector.check() == []
    finally:
        site.running.stop()


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_refused_credentials_fail_after_exactly_one_request(tmp_path: Path, flavour: str) -> None:
    site = start_site(tmp_path, flavour=flavour)
    try:
        connector = site.connector(token_value="not-the-token")
        with pytest.raises(AuthenticationError, match="401"):
            list(connector.pull("issues", None))
        assert connector.context.stats.requests == 1
        assert connector.context.stats.retries == 0 and site.waits == []
        problems = site.connector(token_value="not-the-token").check()
        assert len(problems) == 1 and "credentials refused" in problems[0]
        assert "not-the-token" not in problems[0]
    finally:
        site.running.stop()


def test_check_reports_each_missing_project_and_field(site: Site) -> None:
    connector = site.connector(projects=["ALPHA", "NOPE"], fields={"team": "Team"})
    problems = connector.check()
    assert len(problems) == 2
    assert "project NOPE" in problems[0]
    assert "team ('Team')" in problems[1]


def test_a_project_that_is_gone_is_skipped_and_the_other_versions_are_read(site: Site) -> None:
    connector = site.connector(projects=["GONE", "ALPHA"])
    pages = list(connector.pull("versions", None))
    (skipped,) = [p for p in pages if p.skipped]
    assert skipped.scope == "GONE" and not skipped.records
    assert "HTTP 404" in (skipped.skipped or "")
    assert "No project could be found with key 'GONE'" in (skipped.skipped or "")
    (alpha,) = [p for p in pages if p.scope == "ALPHA"]
    expected = {v.id for v in site.service.scenario.jira.projects[0].versions}
    assert {r.external_id for r in alpha.records} == expected


def test_a_project_jira_does_not_know_is_skipped_and_the_others_issues_are_read(
    site: Site,
) -> None:
    def pull(stream: str, projects: list[str]) -> list[Any]:
        return list(site.connector(projects=projects).pull(stream, None, full=True))

    for stream in ("issues", "worklogs"):
        clean = pull(stream, ["ALPHA", "BULK"])
        pages = pull(stream, ["ALPHA", "GONE", "BULK"])
        (skipped,) = [p for p in pages if p.skipped]
        assert skipped.scope == "GONE" and not skipped.records
        assert "HTTP 400" in (skipped.skipped or "")
        assert "The value 'GONE' does not exist for the field 'project'" in (skipped.skipped or "")
        read = {r.external_id for p in pages for r in p.records}
        assert read == {r.external_id for p in clean for r in p.records} and read, stream
        # nothing is reconciled on a pass that could not list every project
        assert any(p.complete_ids for p in clean)
        assert not any(p.complete_ids for p in pages), stream
        if stream == "issues":  # nor is a reconciliation recorded in the cursor
            last = [p.cursor for p in pages if p.cursor is not None][-1]
            assert last["reconciled_ms"] is None
            assert [p.cursor for p in clean if p.cursor is not None][-1]["reconciled_ms"]
