"""The sandbox's Jira, as the real ``jira`` library and plain HTTP clients see it."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from jira import JIRA, JIRAError

from pmsync.sandbox.jira import JiraService
from pmsync.sandbox.scenario import Change, JiraIssue, JiraProject, JiraWorld, Scenario
from pmsync.sandbox.server import FaultPlan, RunningService, SandboxClock, serve

_spec = importlib.util.spec_from_file_location(
    "jira_world", Path(__file__).with_name("jira_world.py")
)
assert _spec is not None and _spec.loader is not None
world = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(world)

JIRA_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")


class Sandbox:
    """A running Jira imitation with the helpers tests need."""

    def __init__(self, running: RunningService, service: JiraService) -> None:
        self.running, self.service, self.url = running, service, running.url
        creds = service.credentials()
        if "email" in creds:
            self.auth: Any = (creds["email"], creds["token"])
            self.headers: dict[str, str] = {}
        else:
            self.auth = None
            self.headers = {"Authorization": f"Bearer {creds['token']}"}

    def client(self) -> JIRA:
        if self.auth:
            return JIRA(server=self.url, basic_auth=self.auth, max_retries=0)
        return JIRA(server=self.url, token_auth=self.service.token, max_retries=0)

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(
            f"{self.url}{path}", params=params, auth=self.auth, headers=self.headers, timeout=10
        )

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(
            f"{self.url}{path}", json=body, auth=self.auth, headers=self.headers, timeout=10
        )

    def advance(self, **delta: float) -> None:
        requests.post(f"{self.url}/_sandbox/advance", json=delta, timeout=10).raise_for_status()

    def keys(self, jql: str) -> list[str]:
        response = self.get("/rest/api/3/search/jql", jql=jql, fields="key", maxResults=5000)
        assert response.status_code == 200, response.text
        return [i["key"] for i in response.json()["issues"]]


def start(scenario: Scenario | None = None, **options: Any) -> Iterator[Sandbox]:
    scenario = scenario or world.build_world()
    faults = options.pop("faults", None)
    service = JiraService(scenario, SandboxClock(scenario.clock), faults, **options)
    running = serve(service)
    try:
        yield Sandbox(running, service)
    finally:
        running.stop()


@pytest.fixture
def jira_cloud() -> Iterator[Sandbox]:
    yield from start()


@pytest.fixture
def jira_dc() -> Iterator[Sandbox]:
    yield from start(flavour="datacenter")


# --- search with the real client ---------------------------------------------------------


def test_enhanced_search_pages_through_every_issue_with_changelog(jira_cloud: Sandbox) -> None:
    client = jira_cloud.client()
    issues = client.enhanced_search_issues(
        "project in (ALPHA, BULK) ORDER BY key ASC", maxResults=0, expand="changelog"
    )
    keys = [i.key for i in issues]
    # ALPHA-5 is not created yet; ALPHA-4 is now BULK-900
    assert len(keys) == len(set(keys)) == 5 + 151
    assert "ALPHA-5" not in keys and "ALPHA-4" not in keys and "BULK-900" in keys
    assert all(hasattr(i, "changelog") for i in issues)


def test_search_jql_pages_by_token_without_total(jira_cloud: Sandbox) -> None:
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        params: dict[str, Any] = {"jql": "project = BULK ORDER BY key", "maxResults": 40}
        if token:
            params["nextPageToken"] = token
        body = jira_cloud.get("/rest/api/3/search/jql", **params).json()
        assert "total" not in body
        seen += [i["id"] for i in body["issues"]]
        pages += 1
        if body["isLast"]:
            assert "nextPageToken" not in body
            break
        token = body["nextPageToken"]
    assert pages == 4 and len(seen) == len(set(seen)) == 151


def test_same_page_token_gives_same_page_while_clock_stands(jira_cloud: Sandbox) -> None:
    first = jira_cloud.get("/rest/api/3/search/jql", jql="project = BULK", maxResults=10).json()
    token = first["nextPageToken"]
    again = [
        jira_cloud.get(
            "/rest/api/3/search/jql", jql="project = BULK", maxResults=10, nextPageToken=token
        ).json()
        for _ in range(2)
    ]
    assert again[0] == again[1] and again[0]["issues"] != first["issues"]


def test_150_issues_sharing_one_updated_value_all_arrive(jira_cloud: Sandbox) -> None:
    shared = int(world.SHARED_UPDATE.timestamp() * 1000)
    jql = f"project = BULK AND updated >= {shared} AND updated <= {shared} ORDER BY updated ASC"
    issues = jira_cloud.client().enhanced_search_issues(jql, maxResults=100, fields="updated")
    assert len(issues) == 100 and issues.nextPageToken
    rest = jira_cloud.client().enhanced_search_issues(
        jql, nextPageToken=issues.nextPageToken, maxResults=100, fields="updated"
    )
    assert len({i.id for i in [*issues, *rest]}) == 150
    assert {i.fields.updated for i in [*issues, *rest]} == {"2026-01-06T09:30:15.000+0000"}


def test_max_results_is_capped_as_jira_caps_it(jira_cloud: Sandbox) -> None:
    full = jira_cloud.get(
        "/rest/api/3/search/jql", jql="project = BULK", maxResults=1000, fields="*all"
    ).json()
    ids_only = jira_cloud.get(
        "/rest/api/3/search/jql", jql="project = BULK", maxResults=1000
    ).json()
    assert len(full["issues"]) == 100 and full["isLast"] is False
    assert len(ids_only["issues"]) == 151 and ids_only["isLast"] is True
    assert set(ids_only["issues"][0]) >= {"id"} and ids_only["issues"][0]["fields"] == {}


def test_post_search_jql_takes_a_json_body(jira_cloud: Sandbox) -> None:
    response = jira_cloud.post(
        "/rest/api/3/search/jql",
        {"jql": "key = ALPHA-1", "fields": ["summary", "status"], "maxResults": 5},
    )
    issue = response.json()["issues"][0]
    assert issue["key"] == "ALPHA-1" and set(issue["fields"]) == {"summary", "status"}


# --- the issue payload --------------------------------------------------------------------


def test_issue_payload_has_jiras_shape(jira_cloud: Sandbox) -> None:
    body = jira_cloud.get(
        "/rest/api/3/search/jql",
        jql="key = ALPHA-1",
        fields="*all",
        expand="changelog,renderedFields",
    ).json()
    issue = body["issues"][0]
    fields = issue["fields"]
    assert issue["id"] == "30000" and issue["self"].endswith("/rest/api/3/issue/30000")
    assert fields["status"]["name"] == "Done"
    assert fields["status"]["statusCategory"]["key"] == "done"
    assert fields["issuetype"] == {**fields["issuetype"], "name": "Story", "subtask": False}
    assert fields["assignee"]["accountId"] and fields["assignee"]["timeZone"] == (
        "America/Los_Angeles"
    )
    assert fields["assignee"]["emailAddress"] == "alice@example.com"
    for name in ("created", "updated", "resolutiondate"):
        assert JIRA_TIME.match(fields[name]), fields[name]
    assert fields["resolutiondate"] == "2026-01-03T12:00:00.000+0000"
    assert fields["customfield_10016"] == 8
    assert fields["timeoriginalestimate"] == 36000 and fields["timespent"] == 25 * 1800
    assert [v["name"] for v in fields["fixVersions"]] == ["1.0"]
    assert fields["fixVersions"][0]["released"] is True
    assert fields["project"]["key"] == "ALPHA" and fields["labels"] == ["backend"]


def test_embedded_lists_are_truncated_and_the_full_ones_fetchable(jira_cloud: Sandbox) -> None:
    issue = jira_cloud.get(
        "/rest/api/3/search/jql", jql="key = ALPHA-1", fields="worklog", expand="changelog"
    ).json()["issues"][0]
    changelog = issue["changelog"]
    assert changelog["total"] == 60 and len(changelog["histories"]) == 40
    assert changelog["histories"][0]["created"] > changelog["histories"][-1]["created"]
    worklog = issue["fields"]["worklog"]
    assert worklog["total"] == 25 and len(worklog["worklogs"]) == 20

    histories: list[dict[str, Any]] = []
    start_at = 0
    while True:
        page = jira_cloud.get(
            "/rest/api/3/issue/ALPHA-1/changelog", startAt=start_at, maxResults=25
        ).json()
        histories += page["values"]
        if page["isLast"]:
            break
        start_at += page["maxResults"]
    assert len(histories) == page["total"] == 60
    last_items = histories[-1]["items"]
    assert {i["field"] for i in last_items} == {"status", "Story Points"}
    status = next(i for i in last_items if i["field"] == "status")
    assert (status["fromString"], status["toString"]) == ("In Progress", "Done")

    client = jira_cloud.client()
    assert len(client.worklogs("ALPHA-1")) == 25
    paged = jira_cloud.get("/rest/api/2/issue/ALPHA-1/worklog", startAt=20, maxResults=10).json()
    assert paged["total"] == 25 and len(paged["worklogs"]) == 5
    assert paged["worklogs"][0]["timeSpent"] == "30m"


def test_v3_uses_document_format_and_v2_plain_text(jira_cloud: Sandbox) -> None:
    v3 = jira_cloud.get("/rest/api/3/issue/ALPHA-1/worklog").json()["worklogs"][0]["comment"]
    v2 = jira_cloud.get("/rest/api/2/issue/ALPHA-1/worklog").json()["worklogs"][0]["comment"]
    assert v3["type"] == "doc" and v2 == "work 0"


# --- JQL ----------------------------------------------------------------------------------


def _ms(*instant: int) -> int:
    return int(world.at(*instant).timestamp() * 1000)


TZ_CASES = [
    # zone, query, expected ALPHA keys among ALPHA-2 (LA 10:00:30) / ALPHA-3 (Kolkata 10:00:30)
    ("America/Los_Angeles", 'updated >= "2026/01/05 10:00"', {"ALPHA-2"}),
    ("Asia/Kolkata", 'updated >= "2026/01/05 10:00"', {"ALPHA-2", "ALPHA-3"}),
    ("Asia/Kolkata", 'updated < "2026/01/05 10:00"', set()),
    ("Asia/Kolkata", 'updated <= "2026-01-05 10:01"', {"ALPHA-3"}),
    ("America/Los_Angeles", 'updated > "2026/01/05 10:00"', {"ALPHA-2"}),
    ("America/Los_Angeles", 'updated >= "2026/01/05 10:01"', set()),
    ("UTC", 'updated >= "2026-01-05"', {"ALPHA-2", "ALPHA-3"}),
    # epoch milliseconds are instants, whatever the zone; >= is inclusive
    ("America/Los_Angeles", f"updated >= {_ms(5, 18, 0, 30)}", {"ALPHA-2"}),
    ("Asia/Kolkata", f"updated >= {_ms(5, 4, 30, 30)}", {"ALPHA-2", "ALPHA-3"}),
    ("UTC", f"updated > {_ms(5, 4, 30, 30)} AND updated < {_ms(5, 18, 0, 30)}", set()),
]


@pytest.mark.parametrize(("zone", "condition", "expected"), TZ_CASES)
def test_jql_dates_read_in_the_users_time_zone(
    zone: str, condition: str, expected: set[str]
) -> None:
    for sandbox in start(user_time_zone=zone):
        found = sandbox.keys(f"labels = tz AND {condition}")
        assert set(found) == expected


JQL_CASES = [
    ("project = ALPHA ORDER BY key ASC", ["ALPHA-1", "ALPHA-2", "ALPHA-3", "ALPHA-6", "ALPHA-7"]),
    ("key in (ALPHA-1, alpha-3) ORDER BY key DESC", ["ALPHA-3", "ALPHA-1"]),
    ("issuekey = ALPHA-4", ["BULK-900"]),
    ("fixVersion = 1.0 ORDER BY key", ["ALPHA-1", "ALPHA-6"]),
    ('fixVersion in ("2.0") ', ["BULK-900"]),
    ("labels = backend", ["ALPHA-1"]),
    ("labels in (TZ) ORDER BY created DESC, key ASC", ["ALPHA-2", "ALPHA-3"]),
    ("project = ALPHA AND status = Done", ["ALPHA-1"]),
    ('project = ALPHA AND statusCategory != "To Do"', ["ALPHA-1"]),
    ("(key = ALPHA-1 OR key = ALPHA-2) AND NOT labels = tz", ["ALPHA-1"]),
    ("project = ALPHA AND fixVersion is EMPTY ORDER BY key", ["ALPHA-2", "ALPHA-3", "ALPHA-7"]),
    ("project = BULK AND key = BULK-900", ["BULK-900"]),
    ("project = ALPHA AND updated >= -2d", ["ALPHA-7"]),
    (
        "project = ALPHA ORDER BY updated DESC, key",
        ["ALPHA-7", "ALPHA-2", "ALPHA-3", "ALPHA-1", "ALPHA-6"],
    ),
]


@pytest.mark.parametrize(("jql", "expected"), JQL_CASES)
def test_jql_is_evaluated(jira_cloud: Sandbox, jql: str, expected: list[str]) -> None:
    assert jira_cloud.keys(jql) == expected


BAD_JQL = [
    ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
    ("key = ALPHA-999", "An issue with key 'ALPHA-999' does not exist for field 'key'."),
    ('updated >= "yesterday"', "Date value 'yesterday' for field 'updated' is invalid"),
    ("summary ~ foo", "Field 'summary' does not exist"),
    ("project = ALPHA ORDER BY rank", "Not able to sort using field 'rank'."),
    ("assignee = currentUser()", "Unable to find JQL function"),
    ("project = ALPHA AND", "Expecting"),
    ("ORDER BY key", "Unbounded JQL queries are not allowed here."),
]


@pytest.mark.parametrize(("jql", "message"), BAD_JQL)
def test_unsupported_or_wrong_jql_gets_jiras_400(
    jira_cloud: Sandbox, jql: str, message: str
) -> None:
    response = jira_cloud.get("/rest/api/3/search/jql", jql=jql)
    assert response.status_code == 400
    body = response.json()
    assert body["errors"] == {} and message in body["errorMessages"][0]


def test_a_token_of_another_query_is_refused(jira_cloud: Sandbox) -> None:
    token = jira_cloud.get("/rest/api/3/search/jql", jql="project = BULK", maxResults=5).json()[
        "nextPageToken"
    ]
    response = jira_cloud.get("/rest/api/3/search/jql", jql="project = ALPHA", nextPageToken=token)
    assert response.status_code == 400 and response.json()["errorMessages"]


# --- moves, time, deletions ---------------------------------------------------------------


def test_moved_issue_is_found_by_its_old_key_and_answers_with_the_new(jira_cloud: Sandbox) -> None:
    issue = jira_cloud.client().issue("ALPHA-4", expand="changelog")
    assert issue.key == "BULK-900" and issue.fields.project.key == "BULK"
    moves = [i for h in issue.changelog.histories for i in h.items if i.field == "Key"]
    assert (moves[0].fromString, moves[0].toString) == ("ALPHA-4", "BULK-900")


def test_advancing_the_clock_reveals_creations_and_deletions(jira_cloud: Sandbox) -> None:
    before = set(jira_cloud.keys("project = ALPHA"))
    jira_cloud.advance(days=1, hours=1)
    after = set(jira_cloud.keys("project = ALPHA"))
    assert after == before - {"ALPHA-6"} | {"ALPHA-5"}
    response = jira_cloud.get("/rest/api/3/issue/ALPHA-6")
    assert response.status_code == 404
    assert response.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


def test_worklog_feeds_report_changes_and_deletions(jira_cloud: Sandbox) -> None:
    since = int(world.at(9).timestamp() * 1000)
    updated = jira_cloud.get("/rest/api/3/worklog/updated", since=since).json()
    assert [v["worklogId"] for v in updated["values"]] == [42000]
    assert updated["lastPage"] is True and updated["since"] == since
    assert updated["until"] == int(world.at(9, 8).timestamp() * 1000)
    deleted = jira_cloud.get("/rest/api/3/worklog/deleted", since=since).json()
    assert [v["worklogId"] for v in deleted["values"]] == [42001]

    jira_cloud.advance(days=2)  # ALPHA-6 is deleted on the 11th, with its worklog
    deleted = jira_cloud.get("/rest/api/3/worklog/deleted", since=since).json()
    assert [v["worklogId"] for v in deleted["values"]] == [42001, 41000]

    listed = jira_cloud.post("/rest/api/3/worklog/list", {"ids": [42000, 42001, 40000]}).json()
    assert sorted(w["id"] for w in listed) == ["40000", "42000"]
    assert next(w for w in listed if w["id"] == "42000")["timeSpentSeconds"] == 1200


# --- metadata -----------------------------------------------------------------------------


def test_versions_fields_myself_and_server_info(jira_cloud: Sandbox) -> None:
    client = jira_cloud.client()
    versions = {v.name: v for v in client.project_versions("ALPHA")}
    assert versions["1.0"].released is True and versions["1.0"].releaseDate == "2026-01-08"
    assert versions["0.9"].archived is True and versions["2.0"].released is False
    page = jira_cloud.get(
        "/rest/api/3/project/ALPHA/version", maxResults=2, status="unreleased,released"
    ).json()
    assert page["total"] == 2 and page["isLast"] is True
    story_points = next(f for f in client.fields() if f["name"] == "Story Points")
    assert story_points["id"] == "customfield_10016" and story_points["schema"]["type"] == (
        "number"
    )
    assert client.myself()["timeZone"] == "UTC"
    info = client.server_info()
    assert info["deploymentType"] == "Cloud" and client._is_cloud
    assert client.project("ALPHA").name == "Alpha launch"
    assert jira_cloud.get("/rest/api/3/project/NOPE").status_code == 404


def test_myself_reports_the_configured_time_zone() -> None:
    for sandbox in start(user_time_zone="Asia/Kolkata"):
        assert sandbox.get("/rest/api/3/myself").json()["timeZone"] == "Asia/Kolkata"
        created = sandbox.get("/rest/api/3/issue/ALPHA-1").json()["fields"]["created"]
        assert created == "2026-01-01T13:30:00.000+0530"


# --- flavours, auth, errors ---------------------------------------------------------------


def test_old_search_is_gone_on_cloud(jira_cloud: Sandbox) -> None:
    for version in ("2", "3"):
        response = jira_cloud.get(f"/rest/api/{version}/search", jql="project = ALPHA")
        assert response.status_code == 410
        assert "search/jql" in response.json()["errorMessages"][0]


def test_data_center_pages_with_start_at_and_bearer_token(jira_dc: Sandbox) -> None:
    client = jira_dc.client()
    assert client.server_info()["deploymentType"] == "Server" and not client._is_cloud
    issues = client.search_issues("project = BULK ORDER BY key", maxResults=False)
    assert len({i.key for i in issues}) == 151
    page = client.search_issues("project = BULK ORDER BY key", startAt=100, maxResults=30)
    assert page.total == 151 and page.startAt == 100 and len(page) == 30
    assert jira_dc.get("/rest/api/2/search/jql", jql="project = BULK").status_code == 404
    assert jira_dc.service.credentials() == {"token": jira_dc.service.token}
    assignee = client.issue("ALPHA-1").fields.assignee
    assert assignee.name == "alice" and not hasattr(assignee, "accountId")


def test_bad_credentials_get_401_with_a_challenge(jira_cloud: Sandbox, jira_dc: Sandbox) -> None:
    for url, auth, headers in (
        (jira_cloud.url, ("pmsync-bot@example.com", "wrong"), {}),
        (jira_cloud.url, None, {}),
        (jira_dc.url, None, {"Authorization": "Bearer wrong"}),
    ):
        response = requests.get(f"{url}/rest/api/3/myself", auth=auth, headers=headers, timeout=10)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"]
        assert response.json()["errorMessages"]
    with pytest.raises(JIRAError) as caught:
        JIRA(server=jira_cloud.url, basic_auth=("pmsync-bot@example.com", "wrong"), max_retries=0)
    assert caught.value.status_code == 401


@pytest.mark.parametrize("kind", ["429", "429-date"])
def test_rate_limit_faults_look_like_jira_clouds(kind: str) -> None:
    plan = FaultPlan(rate=1.0, kinds=(kind,), retry_after=30)
    for sandbox in start(faults=plan):
        response = sandbox.get("/rest/api/3/search/jql", jql="project = ALPHA")
        assert response.status_code == 429
        retry_after = response.headers["Retry-After"]
        if kind == "429":
            assert retry_after == "30"
        else:
            wait = parsedate_to_datetime(retry_after) - datetime.now(UTC)
            assert timedelta(seconds=25) < wait <= timedelta(seconds=31)
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}Z$", response.headers["X-RateLimit-Reset"])
        assert response.json()["errorMessages"]


def test_server_errors_use_jiras_shape() -> None:
    for sandbox in start(faults=FaultPlan(rate=1.0, kinds=("503",))):
        response = sandbox.get("/rest/api/3/myself")
        assert response.status_code == 503 and response.json()["errors"] == {}


# --- scale --------------------------------------------------------------------------------


def _big_scenario(count: int) -> Scenario:
    clock = datetime(2026, 3, 1, tzinfo=UTC)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    projects = [
        JiraProject.model_construct(
            id=str(10000 + p), key=f"P{p}", name=f"P{p}", lead="x", versions=[], components=[]
        )
        for p in range(10)
    ]
    issues = []
    for n in range(count):
        created = base + timedelta(minutes=n % 50000)
        change = Change.model_construct(
            at=created + timedelta(days=1), author=None, set={"status": "In Progress"}
        )
        issues.append(
            JiraIssue.model_construct(
                id=str(100000 + n),
                key=f"P{n % 10}-{n // 10 + 1}",
                project=f"P{n % 10}",
                created=created,
                history=[change],
                deleted_at=None,
                worklogs=[],
                fields={"summary": f"item {n}", "status": "To Do", "issuetype": "Task"},
            )
        )
    return Scenario.model_construct(
        version=1,
        name="big",
        seed=None,
        clock=clock,
        people=[],
        projects=[],
        jira=JiraWorld.model_construct(
            statuses=JiraWorld().statuses,
            story_points_field="customfield_10016",
            projects=projects,
            issues=issues,
        ),
    )


@pytest.mark.slow
def test_a_100k_issue_world_is_served_page_by_page() -> None:
    for sandbox in start(_big_scenario(100_000)):
        client = sandbox.client()
        page = client.enhanced_search_issues(
            "project = P3 ORDER BY key ASC", maxResults=100, expand="changelog"
        )
        assert [i.key for i in page[:3]] == ["P3-1", "P3-2", "P3-3"]
        assert len(page) == 100 and page.nextPageToken
        following = client.enhanced_search_issues(
            "project = P3 ORDER BY key ASC", nextPageToken=page.nextPageToken, maxResults=100
        )
        assert following[0].key == "P3-101"
        assert all(i.fields.status.name == "In Progress" for i in page)


# --- *all, and the project listings -------------------------------------------------------


def test_all_fields_include_the_ones_no_scenario_fills(jira_cloud: Sandbox) -> None:
    every = jira_cloud.get("/rest/api/2/search/jql", jql="key = ALPHA-1", fields="*all").json()[
        "issues"
    ][0]["fields"]
    # an issue without comments still carries the (empty) comment page
    assert every["comment"] == {"comments": [], "maxResults": 0, "total": 0, "startAt": 0}
    assert every["votes"]["votes"] == 0 and every["votes"]["hasVoted"] is False
    assert every["watches"]["self"].endswith("/rest/api/2/issue/ALPHA-1/watchers")
    for name in ("subtasks", "issuelinks", "versions", "attachment"):
        assert every[name] == []
    assert every["environment"] is None and every["security"] is None
    # 25 half-hours booked against a 10-hour estimate
    assert every["workratio"] == 125
    assert every["progress"] == {"progress": 45000, "total": 45000, "percent": 100}
    assert every["timetracking"] == {
        "originalEstimate": "1d 2h",
        "remainingEstimate": "0m",
        "timeSpent": "1d 4h 30m",
        "originalEstimateSeconds": 36000,
        "remainingEstimateSeconds": 0,
        "timeSpentSeconds": 45000,
    }
    assert every["aggregatetimeoriginalestimate"] == 36000
    assert "worklog" in every and "summary" in every
    assert jira_cloud.get("/rest/api/3/issue/ALPHA-1").json()["fields"]["comment"]["total"] == 0

    # comment, worklog, timetracking and attachment are not navigable, votes is
    navigable = jira_cloud.get(
        "/rest/api/2/search/jql", jql="key = ALPHA-1", fields="*navigable"
    ).json()["issues"][0]["fields"]
    assert not {"comment", "worklog", "timetracking", "attachment"} & set(navigable)
    assert {"votes", "watches", "subtasks", "progress", "summary"} <= set(navigable)
    narrow = jira_cloud.get(
        "/rest/api/2/search/jql", jql="key = ALPHA-1", fields="summary,comment"
    ).json()["issues"][0]["fields"]
    assert set(narrow) == {"summary", "comment"}
    catalogue = {f["id"]: f for f in jira_cloud.get("/rest/api/2/field").json()}
    assert catalogue["comment"]["navigable"] is False
    assert catalogue["comment"]["schema"] == {"type": "comments-page", "system": "comment"}


def test_project_search_pages_as_documented(jira_cloud: Sandbox) -> None:
    for version in ("2", "3"):
        first = jira_cloud.get(f"/rest/api/{version}/project/search", maxResults=1).json()
        assert first["startAt"] == 0 and first["maxResults"] == 1
        assert first["total"] == 2 and first["isLast"] is False
        assert [p["key"] for p in first["values"]] == ["ALPHA"]
        assert first["self"].endswith(f"/rest/api/{version}/project/search?startAt=0&maxResults=1")
        assert first["nextPage"].endswith("/project/search?startAt=1&maxResults=1")
        second = requests.get(first["nextPage"], auth=jira_cloud.auth, timeout=10).json()
        assert [p["key"] for p in second["values"]] == ["BULK"]
        assert second["isLast"] is True and "nextPage" not in second
    project = first["values"][0]
    assert project["id"] == "10000" and project["name"] == "Alpha launch"
    assert project["projectTypeKey"] == "software" and "lead" not in project

    expanded = jira_cloud.get(
        "/rest/api/2/project/search", expand="description,lead,projectKeys,insight"
    ).json()["values"]
    alpha, bulk = expanded
    assert alpha["lead"]["displayName"] == "Alice Ng" and alpha["description"] == ""
    assert alpha["projectKeys"] == ["ALPHA"]
    assert bulk["insight"]["totalIssueCount"] == 151  # BULK-1..150 and the moved BULK-900
    assert JIRA_TIME.match(bulk["insight"]["lastIssueUpdateTime"])

    def keys(**params: Any) -> list[str]:
        page = jira_cloud.get("/rest/api/3/project/search", **params).json()
        return [p["key"] for p in page["values"]]

    assert keys(query="bul") == ["BULK"] and keys(query="LAUNCH") == ["ALPHA"]
    assert keys(keys="bulk") == ["BULK"] and keys(id="10000") == ["ALPHA"]
    assert keys(orderBy="-key") == ["BULK", "ALPHA"]
    assert keys(orderBy="-issueCount") == ["BULK", "ALPHA"]
    assert keys(orderBy="owner") == ["ALPHA", "BULK"]  # Alice Ng, Bob Rao
    assert keys(typeKey="business") == [] and keys(status="archived") == []
    capped = jira_cloud.get("/rest/api/3/project/search", maxResults=500).json()
    assert capped["maxResults"] == 50 and capped["isLast"] is True
    everything = jira_cloud.get("/rest/api/2/project", expand="lead").json()
    assert [p["key"] for p in everything] == ["ALPHA", "BULK"]
    assert everything[1]["lead"]["displayName"] == "Bob Rao"


def test_data_center_has_no_project_search(jira_dc: Sandbox) -> None:
    missing = jira_dc.get("/rest/api/2/project/search")
    assert missing.status_code == 404
    assert missing.json()["errorMessages"] == ["No project could be found with key 'search'."]
    assert [p["key"] for p in jira_dc.get("/rest/api/2/project").json()] == ["ALPHA", "BULK"]


def test_expand_transitions_lists_the_moves_out_of_the_current_status(jira_cloud: Sandbox) -> None:
    issue = jira_cloud.get(
        "/rest/api/2/search/jql", jql="key = ALPHA-1", fields="status", expand="transitions"
    ).json()["issues"][0]
    moves = issue["transitions"]
    assert issue["fields"]["status"]["name"] == "Done"
    assert [t["name"] for t in moves] == ["To Do", "In Progress", "In Review", "Blocked"]
    first = moves[0]
    assert first["to"]["name"] == "To Do" and first["to"]["statusCategory"]["key"] == "new"
    assert isinstance(first["id"], str) and first["isAvailable"] is True
    assert {"hasScreen", "isGlobal", "isInitial", "isConditional"} <= set(first)
    single = jira_cloud.get("/rest/api/3/issue/ALPHA-2", expand="transitions").json()
    assert "To Do" not in [t["name"] for t in single["transitions"]]
    assert "transitions" not in jira_cloud.get("/rest/api/3/issue/ALPHA-2").json()
