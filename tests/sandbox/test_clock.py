"""Simulated time: advancing the sandbox's clock reveals the scenario's future.

A generated scenario carries 45 days of future after its clock. Moving the
clock (``POST /_sandbox/advance`` on any service, or letting it run with
``days_per_minute``) must show, through each API, what a connector has to
cope with: a Jira issue moved to another project (new key, same id) or to
another fix version, a deleted issue, GitHub commits landing, calendar events
added, changed and cancelled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import requests

from pmsync.sandbox.app import Sandbox
from pmsync.sandbox.generate import generate
from pmsync.sandbox.scenario import JiraIssue, Scenario
from pmsync.sandbox.server import SandboxClock

HORIZON = timedelta(days=16)
"""How far the tests advance: inside the 30 days a Calendar sync token lives."""


@pytest.fixture(scope="module")
def world() -> Scenario:
    return generate(projects=3, items=300, seed=7)


@pytest.fixture
def box(world: Scenario) -> Iterator[Sandbox]:
    sandbox = Sandbox(world).start()
    try:
        yield sandbox
    finally:
        sandbox.stop()


def _future(world: Scenario) -> tuple[datetime, datetime]:
    return world.clock, world.clock + HORIZON


def _first_change(world: Scenario, wanted: Any) -> tuple[JiraIssue, dict[str, Any]]:
    clock, until = _future(world)
    for issue in sorted(world.jira.issues, key=lambda i: i.id):
        for change in issue.history:
            if clock < change.at <= until and issue.created <= clock and wanted(change.set):
                return issue, change.set
    raise AssertionError("the generator promised such a change in the scenario's future")


class Jira:
    def __init__(self, box: Sandbox) -> None:
        info = box.endpoints()["jira"]
        self.url = info["url"] + "/rest/api/3"
        self.auth = (info["email"], info["token"])

    def issue(self, key_or_id: str, fields: str = "summary,project,fixVersions") -> Any:
        return requests.get(
            f"{self.url}/issue/{key_or_id}", params={"fields": fields}, auth=self.auth, timeout=10
        )

    def ids(self, jql: str) -> set[str]:
        found: set[str] = set()
        token = None
        while True:
            params: dict[str, Any] = {"jql": jql, "maxResults": 100, "fields": "id"}
            if token:
                params["nextPageToken"] = token
            page = requests.get(f"{self.url}/search/jql", params=params, auth=self.auth, timeout=10)
            assert page.status_code == 200, page.text
            body = page.json()
            found |= {i["id"] for i in body["issues"]}
            token = body.get("nextPageToken")
            if body["isLast"]:
                return found


def advance_to(box: Sandbox, service: str, moment: datetime) -> None:
    url = box.endpoints()[service]["url"] + "/_sandbox/advance"
    answer = requests.post(url, json={"to": moment.isoformat()}, timeout=10)
    assert answer.status_code == 200
    assert datetime.fromisoformat(answer.json()["now"]) == moment


def test_advancing_any_service_moves_the_clock_of_all(box: Sandbox, world: Scenario) -> None:
    moment = world.clock + timedelta(days=2, hours=3)
    advance_to(box, "github", moment)
    for name in ("jira", "github", "calendar"):
        now = requests.get(box.endpoints()[name]["url"] + "/_sandbox/clock", timeout=10).json()
        assert datetime.fromisoformat(now["now"]) == moment
    back = requests.post(
        box.endpoints()["jira"]["url"] + "/_sandbox/advance", json={"days": -1}, timeout=10
    )
    assert back.status_code == 400 and "only moves forward" in back.json()["message"]


def test_a_jira_issue_moved_to_another_project_keeps_its_id(box, world) -> None:
    issue, change = _first_change(world, lambda s: "key" in s)
    jira = Jira(box)
    before = jira.issue(issue.id).json()
    assert before["key"] == issue.key
    assert issue.id in jira.ids(f"project = {issue.project}")
    advance_to(box, "jira", _future(world)[1])
    after = jira.issue(issue.id).json()
    assert (after["id"], after["key"]) == (before["id"], change["key"])
    assert after["fields"]["project"]["key"] == change["project"]
    assert jira.issue(issue.key).json()["key"] == change["key"]  # the old key still finds it
    assert issue.id not in jira.ids(f"project = {issue.project}")
    assert issue.id in jira.ids(f"project = {change['project']}")


def test_a_jira_issue_moved_between_fix_versions(box, world) -> None:
    issue, change = _first_change(world, lambda s: s.get("fix_versions") and "key" not in s)
    names = {v.id: v.name for p in world.jira.projects for v in p.versions}
    target = names[change["fix_versions"][0]]
    jira = Jira(box)
    versions = [v["name"] for v in jira.issue(issue.key).json()["fields"]["fixVersions"]]
    assert target not in versions
    assert issue.id not in jira.ids(f'fixVersion = "{target}"')
    advance_to(box, "calendar", _future(world)[1])
    versions = [v["name"] for v in jira.issue(issue.key).json()["fields"]["fixVersions"]]
    assert versions == [names[v] for v in change["fix_versions"]]
    assert issue.id in jira.ids(f'fixVersion = "{target}"')


def test_a_deleted_jira_issue_disappears(box, world) -> None:
    clock, until = _future(world)
    issue = next(
        i
        for i in world.jira.issues
        if i.deleted_at and clock < i.deleted_at <= until and i.created <= clock
    )
    jira = Jira(box)
    assert jira.issue(issue.id).status_code == 200
    advance_to(box, "jira", until)
    gone = jira.issue(issue.id)
    assert gone.status_code == 404 and gone.json()["errorMessages"]
    project = issue.state_at({"project": issue.project}, until)["project"]
    assert issue.id not in jira.ids(f"project = {project}")


def test_github_commits_land_as_the_clock_passes_them(box, world) -> None:
    clock, until = _future(world)
    repo = next(r for r in world.github.repositories if r.commits)
    landing = sorted(
        (c for c in repo.commits if clock < c.committed_at <= until and c.branch == "main"),
        key=lambda c: c.committed_at,
    )
    assert landing, "the generator lands commits on main after the clock"
    info = box.endpoints()["github"]
    headers = {"Authorization": f"token {info['token']}"}
    base = f"{info['url']}/repos/{repo.full_name}/commits"
    since: dict[str, Any] = {"since": clock.strftime("%Y-%m-%dT%H:%M:%SZ"), "per_page": 100}

    def shas() -> set[str]:
        answer = requests.get(base, params=since, headers=headers, timeout=10)
        assert answer.status_code == 200
        return {c["sha"] for c in answer.json()}

    assert not {c.sha for c in landing} & shas()
    assert requests.get(f"{base}/{landing[0].sha}", headers=headers, timeout=10).status_code == 422
    advance_to(box, "github", until)
    assert {c.sha for c in landing} <= shas()
    single = requests.get(f"{base}/{landing[0].sha}", headers=headers, timeout=10)
    assert single.status_code == 200 and single.json()["sha"] == landing[0].sha


class Calendar:
    def __init__(self, box: Sandbox) -> None:
        info = box.endpoints()["calendar"]
        form = {k: info[k] for k in ("client_id", "client_secret", "refresh_token")}
        token = requests.post(
            info["token_uri"], data={"grant_type": "refresh_token", **form}, timeout=10
        ).json()["access_token"]
        self.url = info["url"] + "/calendar/v3/calendars"
        self.headers = {"Authorization": f"Bearer {token}"}

    def events(self, calendar_id: str, **params: Any) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        while True:
            answer = requests.get(
                f"{self.url}/{quote(calendar_id, safe='')}/events",
                params={"maxResults": 50, **params},
                headers=self.headers,
                timeout=10,
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            items += body["items"]
            if "nextPageToken" not in body:
                return items, body["nextSyncToken"]
            params["pageToken"] = body["nextPageToken"]


def test_calendar_events_are_added_changed_and_cancelled(box, world) -> None:
    clock, until = _future(world)
    expected: dict[str, dict[str, set[str]]] = {}
    existing: set[str] = set()
    for cal in world.calendar.calendars:
        kinds: dict[str, set[str]] = {"added": set(), "changed": set(), "cancelled": set()}
        for event in cal.events:
            status = event.state_at({"status": event.status}, until)["status"]
            moved = [c for c in event.history if clock < c.at <= until]
            if event.created <= clock:
                existing.add(event.id)
            if status == "cancelled" and (moved or clock < event.created <= until):
                kinds["cancelled"].add(event.id)  # an instance of a series cancelled, or a meeting
            elif clock < event.created <= until:
                kinds["added"].add(event.id)
            elif event.created <= clock and moved:
                kinds["changed"].add(event.id)
        expected[cal.id] = kinds
    assert all(
        any(k[kind] for k in expected.values()) for kind in ("added", "changed", "cancelled")
    )

    calendar = Calendar(box)
    tokens = {}
    for cal_id in expected:
        items, tokens[cal_id] = calendar.events(cal_id)
        listed = {e["id"] for e in items}
        assert not expected[cal_id]["added"] & listed
        assert expected[cal_id]["cancelled"] & existing <= listed
    advance_to(box, "jira", until)
    for cal_id, kinds in expected.items():
        changes, _ = calendar.events(cal_id, syncToken=tokens[cal_id])
        by_id = {e["id"]: e for e in changes}
        assert kinds["added"] | kinds["changed"] | kinds["cancelled"] <= set(by_id)
        assert all(by_id[i]["status"] == "cancelled" for i in kinds["cancelled"])
        assert all(by_id[i]["status"] != "cancelled" for i in kinds["added"])
        for event_id in kinds["changed"]:
            spec = next(e for e in world.calendar.calendars if e.id == cal_id).events
            event = next(e for e in spec if e.id == event_id)
            state = event.state_at({"summary": event.summary, "start": event.start}, until)
            assert by_id[event_id]["summary"] == state["summary"]
            if state["start"] is not None and "dateTime" in by_id[event_id]["start"]:
                shown = datetime.fromisoformat(by_id[event_id]["start"]["dateTime"])
                start = state["start"]
                wanted = datetime.fromisoformat(start) if isinstance(start, str) else start
                assert shown == wanted


def test_the_clock_runs_on_by_itself_at_days_per_minute() -> None:
    wall = [1000.0]
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    clock = SandboxClock(start, days_per_minute=2.0, wall=lambda: wall[0])
    assert clock.now() == start
    wall[0] += 30  # half a minute: one simulated day
    assert clock.now() == start + timedelta(days=1)
    seen: list[datetime] = []
    clock.subscribe(seen.append)
    assert clock.advance(timedelta(hours=6)) == start + timedelta(days=1, hours=6)
    wall[0] += 60
    assert clock.now() == start + timedelta(days=3, hours=6)
    assert seen == [start + timedelta(days=1, hours=6)]
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(timedelta(seconds=-1))


def test_a_running_sandbox_clock_moves_and_reveals_commits(world) -> None:
    box = Sandbox(world, days_per_minute=60 * 24 * 20).start()  # 20 simulated days a second
    try:
        url = box.endpoints()["github"]["url"]
        first = datetime.fromisoformat(
            requests.get(url + "/_sandbox/clock", timeout=10).json()["now"]
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = datetime.fromisoformat(
                requests.get(url + "/_sandbox/clock", timeout=10).json()["now"]
            )
            if now > first + timedelta(days=2):
                break
            time.sleep(0.05)
        assert now > first + timedelta(days=2)
        assert box.clock.now() >= now
    finally:
        box.stop()


def test_a_search_page_served_again_is_the_same_until_the_issue_changes(box, world) -> None:
    """The server keeps each issue's JSON per request shape; a change must still show."""
    issue, _ = _first_change(world, lambda s: "status" in s and "key" not in s)
    jira = Jira(box)
    params = {
        "jql": f"key = {issue.key}",
        "fields": "summary,status,updated",
        "expand": "changelog",
        "maxResults": 10,
    }

    def page() -> bytes:
        answer = requests.get(f"{jira.url}/search/jql", params=params, auth=jira.auth, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.content

    first = page()
    assert page() == first  # served again from what the server kept: byte for byte
    before = requests.get(f"{jira.url}/search/jql", params=params, auth=jira.auth, timeout=10)
    was = before.json()["issues"][0]
    advance_to(box, "jira", _future(world)[1])
    now = requests.get(f"{jira.url}/search/jql", params=params, auth=jira.auth, timeout=10).json()[
        "issues"
    ][0]
    assert now["changelog"]["total"] > was["changelog"]["total"]
    assert now["fields"]["updated"] > was["fields"]["updated"]
    latest = issue.state_at({"status": issue.fields.get("status", "To Do")}, _future(world)[1])
    assert now["fields"]["status"]["name"] == latest["status"]


def test_a_github_listing_served_again_shows_an_issue_that_changed(box, world) -> None:
    clock, until = _future(world)
    repo, spec = next(
        (r, i)
        for r in world.github.repositories
        for i in r.issues
        if i.pull_request is None
        and i.created <= clock
        and any(clock < c.at <= until and "state" in c.set for c in i.history)
    )
    info = box.endpoints()["github"]
    headers = {"Authorization": f"token {info['token']}"}
    url = f"{info['url']}/repos/{repo.full_name}/issues"
    params = {"state": "all", "per_page": 100, "sort": "created", "direction": "asc"}

    def listed() -> dict[str, Any]:
        page, found = 1, None
        while found is None:
            answer = requests.get(url, params={**params, "page": page}, headers=headers, timeout=10)
            assert answer.status_code == 200 and answer.json(), answer.text
            found = next((i for i in answer.json() if i["number"] == spec.number), None)
            page += 1
        return found

    before = listed()
    assert listed() == before
    advance_to(box, "github", until)
    after = listed()
    expected = spec.state_at({"state": spec.state}, until)["state"]
    assert after["state"] == expected
    assert after["updated_at"] > before["updated_at"]
