"""Atlassian's documented example payloads, served through ``responses``, mapped field by field.

The payloads follow the examples of the Jira Cloud REST reference (issue search,
issue worklogs, ``/worklog/updated``, project versions, ``/field``). The search
example documents no ``summary``/``status``/``issuetype``/``created``; the
second issue adds them in the shapes the reference gives for an issue's fields,
and the first is served as documented, to show what an incomplete issue becomes.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import responses

from pmsync.connectors import ConnectorContext
from pmsync.records import Quarantined, SourceMilestone, WorkItem, Worklog
from pmsync_jira import JiraConnector, JiraSettings
from pmsync_jira.mapping import parse_time

SITE = "https://your-domain.atlassian.net"
API = f"{SITE}/rest/api/2"
MIA = {
    "self": f"{SITE}/rest/api/3/user?accountId=5b10a2844c20165700ede21g",
    "accountId": "5b10a2844c20165700ede21g",
    "displayName": "Mia Krystof",
    "active": False,
}
WORKLOG = {
    "author": MIA,
    "comment": {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "I did some work here."}]}
        ],
    },
    "id": "100028",
    "issueId": "10002",
    "self": f"{SITE}/rest/api/3/issue/10010/worklog/10000",
    "started": "2021-01-17T12:34:00.000+0000",
    "timeSpent": "3h 20m",
    "timeSpentSeconds": 12000,
    "updateAuthor": MIA,
    "updated": "2021-01-18T23:45:00.000+0000",
    "visibility": {"identifier": "276f955c-63d7-42c8-9520-92d01dca0625", "type": "group"},
}
DOCUMENTED_ISSUE = {
    "expand": "",
    "id": "10002",
    "self": f"{SITE}/rest/api/3/issue/10002",
    "key": "ED-1",
    "fields": {
        "watcher": {"self": f"{SITE}/rest/api/3/issue/EX-1/watchers", "isWatching": False},
        "project": {
            "self": f"{SITE}/rest/api/3/project/EX",
            "id": "10000",
            "key": "EX",
            "name": "Example",
            "projectTypeKey": "software",
            "simplified": False,
        },
        "worklog": [WORKLOG],
        "updated": 1,
        "timetracking": {
            "originalEstimate": "10m",
            "originalEstimateSeconds": 600,
            "remainingEstimate": "3m",
            "remainingEstimateSeconds": 200,
            "timeSpent": "6m",
            "timeSpentSeconds": 400,
        },
    },
}
COMPLETE_ISSUE = {
    "id": "10003",
    "key": "ED-2",
    "self": f"{SITE}/rest/api/3/issue/10003",
    "fields": {
        "summary": "Fix the login page",
        "issuetype": {"id": "10001", "name": "Story", "subtask": False},
        "status": {
            "id": "3",
            "name": "In Progress",
            "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"},
        },
        "priority": {"id": "2", "name": "High"},
        "assignee": MIA,
        "reporter": MIA,
        "created": "2021-01-17T09:00:00.000+0530",
        "updated": "2021-01-18T23:45:00.000-0800",
        "resolutiondate": None,
        "duedate": "2021-02-01",
        "labels": ["login"],
        "components": [{"id": "10000", "name": "Web"}],
        "fixVersions": [{"id": "10000", "name": "New Version 1"}],
        "parent": {"id": "10001", "key": "ED-0", "fields": {"issuetype": {"name": "Epic"}}},
        "project": DOCUMENTED_ISSUE["fields"]["project"],  # type: ignore[index]
        "timeoriginalestimate": 600,
        "timeestimate": 200,
        "timespent": 400,
        "customfield_10000": "three",
    },
    "changelog": {
        "startAt": 0,
        "maxResults": 1,
        "total": 1,
        "histories": [
            {
                "id": "10001",
                "author": MIA,
                "created": "1970-01-18T06:27:50.429+0000",
                "items": [
                    {
                        "field": "fields",
                        "fieldtype": "jira",
                        "fieldId": "fieldId",
                        "from": None,
                        "fromString": "",
                        "to": None,
                        "toString": "label-1",
                    },
                    {
                        "field": "status",
                        "fieldtype": "jira",
                        "fieldId": "status",
                        "from": "10000",
                        "fromString": "To Do",
                        "to": "3",
                        "toString": "In Progress",
                    },
                ],
            }
        ],
    },
}
VERSION = {
    "self": f"{SITE}/rest/api/3/version/10000",
    "id": "10000",
    "description": "An excellent version",
    "name": "New Version 1",
    "archived": False,
    "released": True,
    "releaseDate": "2010-07-06",
    "overdue": True,
    "userReleaseDate": "6/Jul/2010",
    "projectId": 10000,
}
FIELDS = [
    {
        "clauseNames": ["description"],
        "custom": False,
        "id": "description",
        "name": "Description",
        "navigable": True,
        "orderable": True,
        "schema": {"system": "description", "type": "string"},
        "searchable": True,
    },
    {
        "clauseNames": ["cf[10000]", "Story point estimate"],
        "custom": True,
        "id": "customfield_10000",
        "key": "customfield_10000",
        "name": "Story point estimate",
        "navigable": True,
        "orderable": True,
        "schema": {"custom": "com.pyxis.greenhopper.jira:jsw-story-points", "type": "number"},
        "searchable": True,
    },
]


def connector(tmp_path: Path) -> JiraConnector:
    token = tmp_path / "token"
    token.write_text("api-token-123")
    settings = JiraSettings(
        url=SITE,
        flavour="cloud",
        email="bot@example.com",
        token=f"file:{token}",
        projects=["EX"],
        fields={"story_points": "Story point estimate"},
    )
    return JiraConnector(settings, ConnectorContext(source_name="jira", sleep=lambda s: None))


@responses.activate
def test_documented_search_page_maps_field_by_field(tmp_path: Path) -> None:
    responses.get(f"{API}/field", json=FIELDS)
    search = responses.post(
        f"{API}/search/jql",
        json={"isLast": True, "issues": [DOCUMENTED_ISSUE, COMPLETE_ISSUE]},
    )
    pages = list(connector(tmp_path).pull("issues", None))
    records = [r for p in pages for r in p.records]

    sent = json.loads(search.calls[0].request.body)
    assert sent["jql"] == 'project in ("EX") ORDER BY updated ASC, id ASC'
    assert "customfield_10000" in sent["fields"] and sent["expand"] == "changelog"

    bad = [r for r in records if isinstance(r, Quarantined) and r.external_id == "10002"]
    assert len(bad) == 1 and "KeyError" in bad[0].reason  # no status in the documented example

    item = next(r for r in records if isinstance(r, WorkItem))
    assert (item.external_id, item.key, item.title) == ("10003", "ED-2", "Fix the login page")
    assert (item.container, item.item_type) == ("EX", "Story")
    assert (item.status, item.status_category) == ("In Progress", "in_progress")
    assert item.created_at == datetime(2021, 1, 17, 3, 30, tzinfo=UTC)
    assert item.updated_at == datetime(2021, 1, 19, 7, 45, tzinfo=UTC)
    assert item.resolved_at is None and item.due_date == date(2021, 2, 1)
    assert item.priority == "High" and item.labels == ("login",) and item.components == ("Web",)
    assert item.assignee is not None and item.assignee.login == "5b10a2844c20165700ede21g"
    assert item.assignee.display_name == "Mia Krystof"
    assert (item.parent_key, item.epic_key) == ("ED-0", "ED-0")
    assert item.milestones == ("10000",)
    assert (item.original_estimate_seconds, item.remaining_estimate_seconds) == (600, 200)
    assert item.time_spent_seconds == 400
    assert item.url == f"{SITE}/browse/ED-2" and item.raw is not None
    # "three" story points: reported, never silently zero; the issue itself is kept.
    assert item.story_points is None and item.custom["story_points_unparsed"] == "three"
    note = [r for r in records if isinstance(r, Quarantined) and r.external_id == "10003"]
    assert len(note) == 1 and "'three'" in note[0].reason

    changes = [r for r in records if r.kind == "work_item_change"]
    assert len(changes) == 1  # the "fields" item is not a tracked history
    assert (changes[0].external_id, changes[0].field) == ("10001-1", "status")
    assert (changes[0].from_value, changes[0].to_value) == ("To Do", "In Progress")
    assert changes[0].at == datetime(1970, 1, 18, 6, 27, 50, 429000, tzinfo=UTC)


@responses.activate
def test_documented_worklog_feed_and_list(tmp_path: Path) -> None:
    responses.get(
        f"{API}/worklog/updated",
        json={
            "values": [
                {"worklogId": 103, "updatedTime": 1438013671562, "properties": []},
                {"worklogId": 104, "updatedTime": 1438013672165, "properties": []},
            ],
            "since": 1438013671562,
            "until": 1438013693136,
            "self": f"{SITE}/api/~ver~/worklog/updated?since=1438013671562",
            "lastPage": True,
        },
    )
    listed = responses.post(
        f"{API}/worklog/list", json=[WORKLOG, {**WORKLOG, "id": "104", "issueId": "99"}]
    )
    responses.post(f"{API}/search/jql", json={"isLast": True, "issues": [{"id": "10002"}]})
    pages = list(connector(tmp_path).pull("worklogs", {"since_ms": 1438013671562}))

    assert json.loads(listed.calls[0].request.body) == {"ids": [103, 104]}
    [log] = [r for p in pages for r in p.records]  # issue 99 is not in a configured project
    assert isinstance(log, Worklog)
    assert (log.external_id, log.item_external_id) == ("100028", "10002")
    assert log.author.login == "5b10a2844c20165700ede21g"
    assert log.started_at == datetime(2021, 1, 17, 12, 34, tzinfo=UTC)
    assert log.seconds == 12000 and log.comment == "I did some work here."
    assert log.updated_at == datetime(2021, 1, 18, 23, 45, tzinfo=UTC)
    assert pages[-1].cursor == {"since_ms": 1438013693137}


@responses.activate
def test_documented_version_maps_to_a_closed_milestone(tmp_path: Path) -> None:
    responses.get(f"{API}/project/EX/versions", json=[VERSION])
    [page] = list(connector(tmp_path).pull("versions", None))
    [version] = page.records
    assert isinstance(version, SourceMilestone)
    assert (version.external_id, version.name, version.container) == (
        "10000",
        "New Version 1",
        "EX",
    )
    assert version.due_date == date(2010, 7, 6) and version.state == "closed"
    assert version.archived is False and version.description == "An excellent version"
    assert page.scope == "EX" and page.complete_ids == {"source_milestone": frozenset({"10000"})}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"projects": []}, "set projects"),
        ({"flavour": "cloud", "email": None}, "needs email"),
        ({"flavour": "datacenter"}, "personal access token alone"),
        ({"token": "plain-secret"}, "must be a reference"),
        ({"url": "https://u:p@jira.example.com"}, "must not carry credentials"),
        ({"projects": ["pay team"]}, "not Jira project keys"),
        ({"jql": "assignee = bob ORDER BY key"}, "ORDER BY"),
        ({"unknown": 1}, "Extra inputs"),
    ],
)
def test_bad_settings_are_refused_with_a_reason(given: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {
        "url": SITE,
        "email": "bot@example.com",
        "token": "${JIRA_TOKEN}",
        "projects": ["EX"],
    }
    values.update(given)
    with pytest.raises(ValueError, match=message):
        JiraSettings(**{k: v for k, v in values.items() if v is not None})


def test_jira_times_keep_their_offset() -> None:
    assert parse_time("2026-01-05T10:00:00.000+0530") == datetime(2026, 1, 5, 4, 30, tzinfo=UTC)
    assert parse_time(1767600000000) == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("2026-01-05T10:00:00")
