"""The GitHub imitation, as PyGithub and plain HTTP clients see it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import github
import pytest
import requests

from pmsync.sandbox.github import SANDBOX_TOKEN, GitHubService
from pmsync.sandbox.scenario import (
    Change,
    GitHubCommit,
    GitHubIssue,
    GitHubMilestone,
    GitHubPullRef,
    GitHubRepository,
    GitHubWorld,
    Person,
    Scenario,
)
from pmsync.sandbox.server import FaultPlan, RunningService, SandboxClock, serve

T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
NOW = T0 + timedelta(days=30)


def _scenario() -> Scenario:
    people = [
        Person(id="ana", name="Ana Lima", email="ana@example.com", github_login="ana-gh"),
        Person(id="raj", name="Raj Iyer", email="raj@example.com", github_login="rajiyer"),
        Person(id="zoe", name="Zoë No-GitHub", email="zoe@example.com"),
    ]
    milestones = [
        GitHubMilestone(
            number=1,
            id=501,
            title="M1",
            created=T0,
            due_on=T0 + timedelta(days=20),
            creator="ana",
            history=[Change(at=T0 + timedelta(days=21), set={"state": "closed"})],
        ),
        GitHubMilestone(number=2, id=502, title="M2", created=T0, due_on=T0 + timedelta(days=60)),
    ]
    issues = []
    for n in range(1, 121):
        created = T0 + timedelta(hours=n)
        history = []
        if n % 3 == 0:
            history.append(Change(at=created + timedelta(days=2), set={"state": "closed"}))
        if n == 7:  # closes in the simulated future
            history.append(Change(at=NOW + timedelta(days=1), set={"state": "closed"}))
        pull = GitHubPullRef(head=f"feature-{n}") if n % 10 == 0 else None
        if pull is not None and n % 20 == 0:
            history.append(Change(at=created + timedelta(days=3), set={"merged": True}))
        issues.append(
            GitHubIssue(
                number=n,
                id=9000 + n,
                title=f"Issue {n} <script>",
                author="ana" if n % 2 else "raj",
                created=created,
                history=history,
                labels=["bug"] if n % 4 == 0 else [],
                assignees=["raj"] if n % 5 == 0 else [],
                milestone=1 if n <= 60 else 2,
                pull_request=pull,
            )
        )
    issues.append(
        GitHubIssue(
            number=500, id=9500, title="future", author="ana", created=NOW + timedelta(days=2)
        )
    )
    commits = [
        GitHubCommit(
            sha=f"{i:040x}",
            message=f"PROJ-{i} work",
            author="zoe" if i % 7 == 0 else "ana",
            authored_at=T0 + timedelta(hours=i),
            committed_at=T0 + timedelta(hours=i),
            parents=[f"{i - 1:040x}"] if i else [],
        )
        for i in range(0, 800)  # the last ones land after NOW
    ]
    commits.append(
        GitHubCommit(
            sha="f" * 40,
            branch="feature-10",
            message="feat",
            author="raj",
            authored_at=T0,
            committed_at=T0 + timedelta(hours=1),
        )
    )
    repo = GitHubRepository(
        id=77,
        full_name="acme/portal",
        created=T0 - timedelta(days=10),
        labels=["bug"],
        milestones=milestones,
        issues=issues,
        commits=commits,
    )
    return Scenario(clock=NOW, people=people, github=GitHubWorld(repositories=[repo]))


@pytest.fixture
def sandbox() -> Iterator[tuple[RunningService, GitHubService, Scenario]]:
    scenario = _scenario()
    service = GitHubService(scenario, SandboxClock(scenario.clock), rate_limit=50)
    running = serve(service)
    yield running, service, scenario
    running.stop()


def _gh(url: str) -> github.Github:
    return github.Github(
        base_url=url,
        auth=github.Auth.Token(SANDBOX_TOKEN),
        per_page=100,
        retry=None,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


def _auth() -> dict[str, str]:
    return {"Authorization": f"token {SANDBOX_TOKEN}"}


def test_pygithub_pages_through_issues_pulls_milestones_and_commits(sandbox) -> None:
    running, service, scenario = sandbox
    service.limit_per_hour = 5000
    repo = _gh(running.url).get_repo("acme/portal")
    assert repo.full_name == "acme/portal" and repo.default_branch == "main"

    issues = list(repo.get_issues(state="all"))
    assert sorted(i.number for i in issues) == list(range(1, 121))  # the future one is hidden
    assert [i.number for i in issues][:2] == [120, 119]  # created, newest first
    seven = next(i for i in issues if i.number == 7)
    assert seven.state == "open" and seven.title == "Issue 7 <script>"
    three = next(i for i in issues if i.number == 3)
    assert three.state == "closed" and three.closed_at == T0 + timedelta(hours=3, days=2)
    assert three.milestone.title == "M1" and three.user.login == "ana-gh"
    assert {i.number for i in issues if i.pull_request} == set(range(10, 121, 10))

    pulls = list(repo.get_pulls(state="all"))
    assert sorted(p.number for p in pulls) == list(range(10, 121, 10))
    twenty = repo.get_pull(20)
    assert twenty.merged and twenty.merged_at == T0 + timedelta(hours=20, days=3)
    assert twenty.head.ref == "feature-20" and twenty.base.ref == "main"

    milestones = {m.number: m for m in repo.get_milestones(state="all")}
    assert milestones[1].state == "closed" and milestones[2].state == "open"
    # 20 issues closed (multiples of 3) and the merged pull requests 20 and 40
    assert milestones[1].closed_issues == 22 and milestones[1].open_issues == 38
    assert milestones[1].due_on == T0 + timedelta(days=20)

    commits = list(repo.get_commits(sha="main", since=T0 + timedelta(hours=100)))
    visible = [
        c
        for c in scenario.github.repositories[0].commits
        if c.branch == "main" and T0 + timedelta(hours=100) <= c.committed_at <= NOW
    ]
    assert [c.sha for c in commits] == [
        c.sha for c in sorted(visible, key=lambda c: c.committed_at, reverse=True)
    ]
    zoe = next(c for c in commits if int(c.sha, 16) % 7 == 0)
    assert zoe.author is None and zoe.commit.author.email == "zoe@example.com"
    assert commits[1].author.login == "ana-gh"


def test_enterprise_flavour_serves_under_api_v3() -> None:
    scenario = _scenario()
    service = GitHubService(scenario, SandboxClock(scenario.clock), enterprise=True)
    running = serve(service, prefix="/api/v3")
    try:
        assert running.url.endswith("/api/v3")
        repo = _gh(running.url).get_repo("acme/portal")
        assert len(list(repo.get_issues(state="all", since=NOW - timedelta(days=1)))) == 0
        # issue lists page by cursor: PyGithub follows the Link header's next URLs
        assert len(list(repo.get_issues(state="all"))) == 120
        assert (
            requests.get(
                running.url.removesuffix("/api/v3") + "/repos/acme/portal", timeout=5
            ).status_code
            == 404
        )
    finally:
        running.stop()


def test_etag_gives_304_without_spending_the_rate_limit(sandbox) -> None:
    running, _, _ = sandbox
    url = f"{running.url}/repos/acme/portal/issues?state=all"
    first = requests.get(url, headers=_auth(), timeout=5)
    assert first.status_code == 200 and first.headers["ETag"].startswith('W/"')
    remaining = int(first.headers["X-RateLimit-Remaining"])
    again = requests.get(
        url, headers={**_auth(), "If-None-Match": first.headers["ETag"]}, timeout=5
    )
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["X-RateLimit-Remaining"]) == remaining
    assert again.headers["ETag"] == first.headers["ETag"]


def test_rate_limit_counts_down_and_exhausts(sandbox) -> None:
    running, _, _ = sandbox
    seen = [
        int(
            requests.get(f"{running.url}/repos/acme/portal", headers=_auth(), timeout=5).headers[
                "X-RateLimit-Remaining"
            ]
        )
        for _ in range(3)
    ]
    assert seen == [49, 48, 47]
    status = requests.get(f"{running.url}/rate_limit", headers=_auth(), timeout=5).json()
    assert status["rate"]["remaining"] == 47 and status["resources"]["core"]["used"] == 3
    for _ in range(47):
        requests.get(f"{running.url}/user", headers=_auth(), timeout=5)
    refused = requests.get(f"{running.url}/user", headers=_auth(), timeout=5)
    assert refused.status_code == 403
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert refused.json()["message"].startswith("API rate limit exceeded for")
    assert int(refused.headers["X-RateLimit-Reset"]) > datetime.now(UTC).timestamp()
    anonymous = requests.get(f"{running.url}/repos/acme/portal", timeout=5)
    assert anonymous.status_code == 200 and anonymous.headers["X-RateLimit-Limit"] == "60"


def test_issue_lists_page_by_cursor_with_absolute_urls_keeping_the_query(sandbox) -> None:
    """GitHub pages repository issues by cursor: the Link URLs carry ``after`` / ``before``."""
    running, _, _ = sandbox
    base = f"{running.url}/repos/acme/portal/issues"
    middle = requests.get(
        base, params={"state": "all", "per_page": 25, "page": 2}, headers=_auth(), timeout=5
    )
    assert len(middle.json()) == 25
    assert set(middle.links) == {"prev", "next"}  # no last or first: cursors only go on
    for rel, cursor in (("prev", "before"), ("next", "after")):
        url = middle.links[rel]["url"]
        assert url.startswith(f"{base}?state=all&per_page=25&{cursor}="), url
        assert "page=" not in url.split("?")[1].replace("per_page=", "")
    back = requests.get(middle.links["prev"]["url"], headers=_auth(), timeout=5)
    first = requests.get(base, params={"state": "all", "per_page": 25}, headers=_auth(), timeout=5)
    assert back.json() == first.json()
    seen, url = [], f"{base}?state=all&per_page=25"
    while url:
        answer = requests.get(url, headers=_auth(), timeout=5)
        seen += [i["number"] for i in answer.json()]
        url = answer.links.get("next", {}).get("url")
    assert len(seen) == len(set(seen)) == 120  # every issue and pull request, once
    bad = requests.get(base, params={"after": "not-a-cursor"}, headers=_auth(), timeout=5)
    assert bad.status_code == 422
    # state defaults to open: 120 minus 40 closed multiples of 3 minus merged pulls 20/40/80/100
    capped = requests.get(base, params={"per_page": 500}, headers=_auth(), timeout=5)
    assert len(capped.json()) == 76 and "Link" not in capped.headers


def test_pull_lists_page_by_number_with_first_and_last(sandbox) -> None:
    running, _, _ = sandbox
    base = f"{running.url}/repos/acme/portal/pulls"
    whole = requests.get(base, params={"state": "all", "per_page": 100}, headers=_auth(), timeout=5)
    total = len(whole.json())
    assert total > 10
    middle = requests.get(
        base, params={"state": "all", "per_page": 5, "page": 2}, headers=_auth(), timeout=5
    )
    last = (total + 4) // 5
    assert middle.headers["Link"] == ", ".join(
        [
            f'<{base}?state=all&per_page=5&page=1>; rel="prev"',
            f'<{base}?state=all&per_page=5&page=3>; rel="next"',
            f'<{base}?state=all&per_page=5&page={last}>; rel="last"',
            f'<{base}?state=all&per_page=5&page=1>; rel="first"',
        ]
    )


@pytest.mark.parametrize(
    ("path", "headers", "status", "message"),
    [
        ("/user", {"Authorization": "token wrong"}, 401, "Bad credentials"),
        ("/repos/acme/nope", None, 404, "Not Found"),
        ("/repos/acme/portal/issues?state=bogus", None, 422, "Validation Failed"),
        ("/repos/acme/portal/issues?milestone=99", None, 422, "Validation Failed"),
        (
            "/repos/acme/portal/commits/deadbeefdead",
            None,
            422,
            "No commit found for SHA: deadbeefdead",
        ),
    ],
)
def test_errors_have_githubs_shape(sandbox, path, headers, status, message) -> None:
    running, _, _ = sandbox
    answer = requests.get(running.url + path, headers=headers or _auth(), timeout=5)
    assert answer.status_code == status
    assert answer.json()["message"] == message
    assert answer.json()["documentation_url"].startswith("https://docs.github.com/")


def test_secondary_rate_limit_fault_sends_retry_after() -> None:
    scenario = _scenario()
    plan = FaultPlan(rate=1.0, kinds=("429",), retry_after=7)
    running = serve(GitHubService(scenario, SandboxClock(scenario.clock), plan))
    try:
        answer = requests.get(f"{running.url}/repos/acme/portal", headers=_auth(), timeout=5)
        assert answer.status_code == 403 and answer.headers["Retry-After"] == "7"
        assert "secondary rate limit" in answer.json()["message"]
    finally:
        running.stop()


def test_a_repository_without_commits_answers_409_as_github_does() -> None:
    scenario = _scenario()
    repo = scenario.github.repositories[0]
    scenario.github.repositories[0] = repo.model_copy(update={"commits": []})
    running = serve(GitHubService(scenario, SandboxClock(scenario.clock)))
    try:
        for path in ("commits", "commits?sha=main&per_page=100", "commits/main"):
            answer = requests.get(
                f"{running.url}/repos/{repo.full_name}/{path}", headers=_auth(), timeout=5
            )
            assert answer.status_code == 409, path
            assert answer.json()["message"] == "Git Repository is empty."
            assert answer.json()["documentation_url"].startswith("https://docs.github.com/")
        issues = requests.get(
            f"{running.url}/repos/{repo.full_name}/issues", headers=_auth(), timeout=5
        )
        assert issues.status_code == 200 and issues.json()  # issues need no commits
    finally:
        running.stop()


def test_since_compares_updated_at_inclusively(sandbox) -> None:
    running, _, _ = sandbox
    # issue 3 was updated (closed) at T0+3h+2d; issues 50.. were created after that
    since = (T0 + timedelta(days=2, hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    got = requests.get(
        f"{running.url}/repos/acme/portal/issues",
        params={
            "state": "all",
            "since": since,
            "per_page": 100,
            "sort": "updated",
            "direction": "asc",
        },
        headers=_auth(),
        timeout=5,
    ).json()
    assert got[0]["number"] == 3 and got[0]["updated_at"] == since
    assert all(i["updated_at"] >= since for i in got)


def test_advancing_the_clock_reveals_commits_and_closes_issues(sandbox) -> None:
    running, service, _ = sandbox
    service.limit_per_hour = 5000
    repo = _gh(running.url).get_repo("acme/portal")
    before = repo.get_commits(sha="main").totalCount
    assert repo.get_issue(7).state == "open"
    requests.post(f"{running.url}/_sandbox/advance", json={"days": 3}, timeout=5)
    assert repo.get_commits(sha="main").totalCount == before + 72
    assert repo.get_issue(7).state == "closed"
    assert repo.get_issue(500).title == "future"


@pytest.mark.slow
def test_scale_pages_of_100_from_100k_issues_and_200k_commits() -> None:
    clock = NOW
    issues = [
        GitHubIssue.model_construct(
            number=n,
            id=n,
            title=f"I{n}",
            author="ana",
            body="",
            state="open",
            labels=[],
            assignees=[],
            milestone=None,
            pull_request=None,
            created=T0 + timedelta(seconds=n),
            history=[],
            deleted_at=None,
        )
        for n in range(1, 100_001)
    ]
    commits = [
        GitHubCommit.model_construct(
            sha=f"{i:040x}",
            branch="main",
            message="m",
            author="ana",
            parents=[],
            authored_at=T0 + timedelta(seconds=i),
            committed_at=T0 + timedelta(seconds=i),
        )
        for i in range(200_000)
    ]
    repo = GitHubRepository.model_construct(
        id=1,
        full_name="big/repo",
        description="",
        private=False,
        default_branch="main",
        created=T0,
        labels=[],
        milestones=[],
        issues=issues,
        commits=commits,
    )
    scenario = Scenario(
        clock=clock,
        people=_scenario().people,
        github=GitHubWorld.model_construct(repositories=[repo]),
    )
    service = GitHubService(scenario, SandboxClock(clock))
    running = serve(service)
    try:
        base = f"{running.url}/repos/big/repo"
        deep = requests.get(
            f"{base}/issues", params={"per_page": 100, "page": 100}, headers=_auth(), timeout=30
        )
        assert deep.status_code == 422
        assert "use cursor based pagination (after/before)" in deep.json()["message"]
        page = requests.get(
            f"{base}/issues", params={"per_page": 100, "page": 99}, headers=_auth(), timeout=30
        )
        assert [i["number"] for i in page.json()] == list(range(90_200, 90_100, -1))
        while "next" in page.links:  # the cursors page on where page numbers stop
            page = requests.get(page.links["next"]["url"], headers=_auth(), timeout=30)
            assert page.status_code == 200
        assert [i["number"] for i in page.json()] == list(range(100, 0, -1))
        newest = requests.get(
            f"{base}/commits", params={"per_page": 100, "page": 2}, headers=_auth(), timeout=30
        )
        shas = [c["sha"] for c in newest.json()]
        assert shas[0] == f"{199_899:040x}" and len(shas) == 100
        assert 'page=2000>; rel="last"' in newest.headers["Link"]
    finally:
        running.stop()


def test_milestone_listing_ignores_values_it_does_not_know(sandbox) -> None:
    # "List milestones" documents the answers 200 and 404 only: an unknown sort,
    # direction or state is not refused but falls back to the documented default.
    running, _, _ = sandbox
    url = f"{running.url}/repos/acme/portal/milestones"

    def numbers(**params: str) -> list[int]:
        answer = requests.get(url, params=params, headers=_auth(), timeout=5)
        assert answer.status_code == 200, answer.text
        return [m["number"] for m in answer.json()]

    # M1 is due before M2; "updated_at" / "updated" sort as the default, due_on
    assert numbers(state="all", sort="updated_at", direction="desc") == [2, 1]
    assert numbers(state="all", sort="updated", direction="asc") == [1, 2]
    assert numbers(state="all", sort="due_on", direction="sideways") == [1, 2]
    assert numbers(state="bogus") == numbers() == [2]  # the default state is open
    # the issue listing, which documents 422 Validation Failed, still refuses them
    bad = requests.get(
        f"{running.url}/repos/acme/portal/issues",
        params={"sort": "due_on"},
        headers=_auth(),
        timeout=5,
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "sort"


def test_issues_carry_the_documented_keys(sandbox) -> None:
    running, _, _ = sandbox
    listed = requests.get(
        f"{running.url}/repos/acme/portal/issues",
        params={"state": "all"},
        headers=_auth(),
        timeout=5,
    ).json()
    single = requests.get(
        f"{running.url}/repos/acme/portal/issues/10", headers=_auth(), timeout=5
    ).json()
    assert single["pull_request"]["url"].endswith("/pulls/10")
    for issue in [*listed, single]:
        # issue types (2025): null for an issue without one
        assert "type" in issue and issue["type"] is None
        assert issue["sub_issues_summary"] == {"total": 0, "completed": 0, "percent_completed": 0}
        assert issue["issue_dependencies_summary"] == {
            "blocked_by": 0,
            "total_blocked_by": 0,
            "blocking": 0,
            "total_blocking": 0,
        }
        reactions = issue["reactions"]
        assert reactions["url"].endswith(f"/issues/{issue['number']}/reactions")
        assert set(reactions) == {
            "url",
            "total_count",
            "+1",
            "-1",
            "laugh",
            "confused",
            "heart",
            "hooray",
            "eyes",
            "rocket",
        }
