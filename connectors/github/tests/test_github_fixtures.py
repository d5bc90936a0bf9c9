"""GitHub's documented example payloads (docs.github.com REST reference), through ``responses``.

The payloads below are the examples of "Get an issue", "Get a pull request",
"Get a milestone" and "List commits", trimmed to the fields pmsync reads plus
their neighbours; each is served as GitHub serves it and checked field by field
after mapping. Also: GitHub App installation auth, and a ``since`` in UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pmsync.connectors import ConnectorContext
from pmsync.records import Commit, PullRequest, SourceMilestone, WorkItem
from pmsync_github import GitHubConnector, GitHubSettings
from pmsync_github.client import github_time

API = "https://api.github.com"
MOCK = "https://api.github.com:443"  # PyGithub names the port
OCTOCAT = {
    "login": "octocat",
    "id": 1,
    "avatar_url": "https://github.com/images/error/octocat_happy.gif",
    "gravatar_id": "",
    "url": f"{API}/users/octocat",
    "html_url": "https://github.com/octocat",
    "followers_url": f"{API}/users/octocat/followers",
    "following_url": f"{API}/users/octocat/following{{/other_user}}",
    "gists_url": f"{API}/users/octocat/gists{{/gist_id}}",
    "starred_url": f"{API}/users/octocat/starred{{/owner}}{{/repo}}",
    "subscriptions_url": f"{API}/users/octocat/subscriptions",
    "organizations_url": f"{API}/users/octocat/orgs",
    "repos_url": f"{API}/users/octocat/repos",
    "events_url": f"{API}/users/octocat/events{{/privacy}}",
    "received_events_url": f"{API}/users/octocat/received_events",
    "type": "User",
    "site_admin": False,
}
MILESTONE = {
    "url": f"{API}/repos/octocat/Hello-World/milestones/1",
    "html_url": "https://github.com/octocat/Hello-World/milestones/v1.0",
    "labels_url": f"{API}/repos/octocat/Hello-World/milestones/1/labels",
    "id": 1002604,
    "number": 1,
    "state": "open",
    "title": "v1.0",
    "description": "Tracking milestone for version 1.0",
    "creator": OCTOCAT,
    "open_issues": 4,
    "closed_issues": 8,
    "created_at": "2011-04-10T20:09:31Z",
    "updated_at": "2014-03-03T18:58:10Z",
    "closed_at": "2013-02-12T13:22:01Z",
    "due_on": "2012-10-09T23:39:01Z",
}
ISSUE = {
    "id": 1,
    "url": f"{API}/repos/octocat/Hello-World/issues/1347",
    "repository_url": f"{API}/repos/octocat/Hello-World",
    "labels_url": f"{API}/repos/octocat/Hello-World/issues/1347/labels{{/name}}",
    "comments_url": f"{API}/repos/octocat/Hello-World/issues/1347/comments",
    "events_url": f"{API}/repos/octocat/Hello-World/issues/1347/events",
    "html_url": "https://github.com/octocat/Hello-World/issues/1347",
    "number": 1347,
    "state": "open",
    "title": "Found a bug",
    "body": "I'm having a problem with this.",
    "user": OCTOCAT,
    "labels": [
        {
            "id": 208045946,
            "url": f"{API}/repos/octocat/Hello-World/labels/bug",
            "name": "bug",
            "color": "f29513",
            "default": True,
        }
    ],
    "assignee": OCTOCAT,
    "assignees": [OCTOCAT],
    "milestone": MILESTONE,
    "locked": True,
    "comments": 0,
    "pull_request": {
        "url": f"{API}/repos/octocat/Hello-World/pulls/1347",
        "html_url": "https://github.com/octocat/Hello-World/pull/1347",
        "diff_url": "https://github.com/octocat/Hello-World/pull/1347.diff",
        "patch_url": "https://github.com/octocat/Hello-World/pull/1347.patch",
    },
    "closed_at": None,
    "created_at": "2011-04-22T13:33:48Z",
    "updated_at": "2011-04-22T13:33:48Z",
    "closed_by": OCTOCAT,
    "author_association": "COLLABORATOR",
    "state_reason": "completed",
}
PULL = {
    "url": f"{API}/repos/octocat/Hello-World/pulls/1347",
    "id": 1,
    "html_url": "https://github.com/octocat/Hello-World/pull/1347",
    "number": 1347,
    "state": "open",
    "locked": True,
    "title": "Amazing new feature",
    "user": OCTOCAT,
    "body": "Please pull these awesome changes in!",
    "labels": [{"id": 208045946, "name": "bug"}],
    "milestone": MILESTONE,
    "active_lock_reason": "too heated",
    "created_at": "2011-01-26T19:01:12Z",
    "updated_at": "2011-01-26T19:01:12Z",
    "closed_at": "2011-01-26T19:01:12Z",
    "merged_at": "2011-01-26T19:01:12Z",
    "merge_commit_sha": "e5bd3914e2e596debea16f433f57875b5b90bcd6",
    "assignee": OCTOCAT,
    "head": {
        "label": "octocat:new-topic",
        "ref": "new-topic",
        "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "user": OCTOCAT,
    },
    "base": {
        "label": "octocat:master",
        "ref": "master",
        "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "user": OCTOCAT,
    },
    "author_association": "OWNER",
    "draft": False,
}
COMMIT = {
    "url": f"{API}/repos/octocat/Hello-World/commits/6dcb09b5b57875f334f61aebed695e2e4193db5e",
    "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
    "html_url": "https://github.com/octocat/Hello-World/commit/6dcb09b5b57875f334f61aebed695e2e4193db5e",
    "commit": {
        "url": f"{API}/repos/octocat/Hello-World/git/commits/6dcb09b5b57875f334f61aebed695e2e4193db5e",  # noqa: E501
        "author": {
            "name": "Monalisa Octocat",
            "email": "support@github.com",
            "date": "2011-04-14T16:00:49Z",
        },
        "committer": {
            "name": "Monalisa Octocat",
            "email": "support@github.com",
            "date": "2011-04-14T16:00:49Z",
        },
        "message": "Fix all the bugs",
        "tree": {"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"},
        "comment_count": 0,
    },
    "author": OCTOCAT,
    "committer": OCTOCAT,
    "parents": [{"sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"}],
}
REPO = "octocat/Hello-World"


def _connector(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> GitHubConnector:
    monkeypatch.setenv("GH_FIXTURE_TOKEN", "ghp_fixture")
    settings = GitHubSettings.model_validate(
        {"token": "${GH_FIXTURE_TOKEN}", "repositories": [REPO], **extra}
    )
    return GitHubConnector(settings, ConnectorContext("github", sleep=lambda s: None))


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every scalar of a payload by its path (``labels[].name``; lists of one item here)."""
    if isinstance(value, dict):
        found: dict[str, Any] = {}
        for key, inner in value.items():
            found.update(_leaves(inner, f"{path}.{key}" if path else key))
        return found
    if isinstance(value, list):
        return {k: v for item in value for k, v in _leaves(item, f"{path}[]").items()}
    return {path: value}


def _links(payload: Any) -> set[str]:
    """The paths of the API links in a payload: ``url`` and ``*_url`` but ``html_url``."""
    names = (p.rsplit(".", 1)[-1] for p in _leaves(payload))
    paths = list(_leaves(payload))
    return {
        p
        for p, n in zip(paths, names, strict=True)
        if n == "url" or (n.endswith("_url") and n != "html_url")
    }


def _serve(path: str, payload: Any) -> None:
    responses.get(f"{MOCK}/repos/{REPO}/{path}", json=payload, headers={"ETag": '"e1"'})


@responses.activate
def test_documented_issue_maps_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    _serve("issues", [ISSUE])
    pages = list(_connector(monkeypatch).pull("issues", None))
    item = pages[0].records[0]
    assert isinstance(item, WorkItem)
    assert item.external_id == item.key == "octocat/Hello-World#1347"
    assert (item.title, item.container, item.status) == ("Found a bug", REPO, "open")
    assert item.status_category == "in_progress"  # open, assigned (and a pull request)
    assert item.item_type == "pull_request" and item.is_pull_request
    assert item.url == "https://github.com/octocat/Hello-World/issues/1347"
    assert item.created_at == item.updated_at == datetime(2011, 4, 22, 13, 33, 48, tzinfo=UTC)
    assert item.resolved_at is None
    assert item.labels == ("bug",)
    assert item.assignee is not None and item.assignee.login == "octocat"
    assert item.reporter is not None and item.reporter.login == "octocat"
    assert item.milestones == ("octocat/Hello-World#1",)
    assert item.custom == {"state_reason": "completed"}
    # raw keeps the payload but GitHub's API links; html_url, the page, stays everywhere
    assert item.raw is not None and _links(item.raw) == set()
    assert _links(ISSUE) >= {"url", "user.avatar_url", "labels[].url", "milestone.creator.url"}
    assert _leaves(item.raw) == {k: v for k, v in _leaves(ISSUE).items() if k not in _links(ISSUE)}
    assert item.raw["user"]["html_url"] == "https://github.com/octocat"
    assert item.raw["pull_request"] == {
        "html_url": "https://github.com/octocat/Hello-World/pull/1347"
    }
    sent = responses.calls[0].request.url
    assert "state=all" in sent and "sort=updated" in sent and "direction=asc" in sent
    assert "since" not in sent and "per_page=100" in sent
    assert responses.calls[0].request.headers["Authorization"] == "token ghp_fixture"
    assert len(responses.calls) == 1  # one page, whose ETag the next pass sends
    assert pages[-1].cursor["repos"][REPO]["etag"] == '"e1"'  # type: ignore[index]


@responses.activate
def test_documented_pull_request_maps_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    _serve("pulls", [PULL])
    pages = list(_connector(monkeypatch).pull("pull_requests", None, full=True))
    pull = pages[0].records[0]
    assert isinstance(pull, PullRequest)
    moment = datetime(2011, 1, 26, 19, 1, 12, tzinfo=UTC)
    assert (pull.external_id, pull.number, pull.repository) == (f"{REPO}#1347", 1347, REPO)
    assert (pull.title, pull.state, pull.draft) == ("Amazing new feature", "open", False)
    assert pull.merged and pull.merged_at == moment
    assert pull.created_at == pull.updated_at == pull.closed_at == moment
    assert (pull.head_ref, pull.base_ref) == ("new-topic", "master")
    assert pull.author is not None and pull.author.login == "octocat"
    assert pull.milestone == f"{REPO}#1"
    assert pull.url == "https://github.com/octocat/Hello-World/pull/1347"
    assert pull.body == "Please pull these awesome changes in!"
    assert pages[-1].complete_ids == {"pull_request": frozenset({f"{REPO}#1347"})}
    assert "direction=desc" in responses.calls[0].request.url


@responses.activate
def test_documented_milestone_keeps_due_on_as_the_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = {**MILESTONE, "state": "closed"}
    _serve("milestones", [closed])
    pages = list(_connector(monkeypatch).pull("milestones", None))
    milestone = pages[0].records[0]
    assert isinstance(milestone, SourceMilestone)
    assert (milestone.external_id, milestone.name, milestone.container) == (
        f"{REPO}#1",
        "v1.0",
        REPO,
    )
    assert milestone.due_date == date(2012, 10, 9)  # not the close date, 2013-02-12
    assert milestone.state == "closed"
    assert milestone.closed_at == datetime(2013, 2, 12, 13, 22, 1, tzinfo=UTC)
    assert milestone.description == "Tracking milestone for version 1.0"
    assert (milestone.open_items, milestone.closed_items) == (4, 8)
    assert milestone.url == "https://github.com/octocat/Hello-World/milestones/v1.0"
    assert milestone.raw is not None and _links(milestone.raw) == set()
    assert _leaves(milestone.raw) == {
        k: v for k, v in _leaves(closed).items() if k not in _links(closed)
    }
    assert milestone.raw["creator"]["login"] == "octocat"
    assert "state=all" in responses.calls[0].request.url


@responses.activate
def test_documented_commit_maps_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    _serve("commits", [COMMIT])
    pages = list(_connector(monkeypatch).pull("commits", None))
    commit = pages[0].records[0]
    assert isinstance(commit, Commit)
    sha = "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert (commit.external_id, commit.sha, commit.repository) == (f"{REPO}@{sha}", sha, REPO)
    assert (commit.message, commit.branch) == ("Fix all the bugs", None)  # the default branch
    moment = datetime(2011, 4, 14, 16, 0, 49, tzinfo=UTC)
    assert commit.authored_at == commit.committed_at == moment
    assert commit.author is not None
    assert (commit.author.login, commit.author.display_name, commit.author.email) == (
        "octocat",
        "Monalisa Octocat",
        "support@github.com",
    )
    assert commit.url == COMMIT["html_url"]
    assert len(responses.calls) == 1  # no GET /repos/{o}/{r} to learn the default branch
    assert "sha=" not in responses.calls[0].request.url  # GitHub lists the default branch


@responses.activate
def test_malformed_record_is_quarantined_and_the_page_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = {**ISSUE, "number": 2, "created_at": "yesterday"}
    _serve("issues", [broken, ISSUE])
    records = next(iter(_connector(monkeypatch).pull("issues", None))).records
    assert [r.kind for r in records] == ["quarantined", "work_item"]
    assert records[0].external_id == "octocat/Hello-World#2"
    assert "created_at" in records[0].reason  # type: ignore[attr-defined]


def test_since_is_sent_in_utc() -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    assert github_time(datetime(2026, 3, 2, 5, 30, tzinfo=kolkata)) == "2026-03-02T00:00:00Z"
    with pytest.raises(ValueError, match="naive"):
        github_time(datetime(2026, 3, 2))


@responses.activate
def test_github_app_installation_auth(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    (tmp_path / "app.pem").write_bytes(pem)
    expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    responses.post(
        f"{MOCK}/app/installations/42/access_tokens",
        json={"token": "ghs_installation", "expires_at": expires},
        status=201,
    )
    responses.get(f"{MOCK}/repos/{REPO}", json={"full_name": REPO, "permissions": {"pull": True}})
    settings = GitHubSettings(
        app_id=7,
        private_key=f"file:{tmp_path / 'app.pem'}",  # type: ignore[arg-type]
        installation_id=42,
        repositories=[REPO],
    )
    context = ConnectorContext("github", sleep=lambda s: None)
    assert GitHubConnector(settings, context).check() == []
    token_call, repo_call = responses.calls
    assert token_call.request.headers["Authorization"].startswith("Bearer ey")  # the App's JWT
    assert repo_call.request.headers["Authorization"] == "token ghs_installation"


@responses.activate
def test_classic_token_without_repo_scope_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    responses.get(f"{MOCK}/user", json=OCTOCAT, headers={"X-OAuth-Scopes": "read:user, gist"})
    responses.get(f"{MOCK}/repos/{REPO}", json={"full_name": REPO})
    problems = _connector(monkeypatch).check()
    assert problems == [
        "token: classic token without the 'repo' or 'public_repo' scope (it has: gist, read:user)"
    ]


@responses.activate
def test_fine_grained_token_without_scopes_header_is_fine(monkeypatch: pytest.MonkeyPatch) -> None:
    responses.get(f"{MOCK}/user", json=OCTOCAT)
    responses.get(f"{MOCK}/repos/{REPO}", json={"full_name": REPO})
    assert _connector(monkeypatch).check() == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"repositories": ["a/b"]}, "give a token, or all of app_id"),
        ({"token": "${T}", "app_id": 1, "repositories": ["a/b"]}, "not both"),
        ({"token": "${T}", "repositories": ["nope"]}, "owner/repo"),
        ({"token": "${T}", "repositories": []}, "at least 1"),
        ({"token": "${T}", "repositories": ["a/b", "A/B"]}, "repeated"),
        ({"token": "${T}", "repositories": ["a/b"], "branches": {"c/d": ["x"]}}, "c/d"),
        ({"token": "${T}", "repositories": ["a/b"], "key_patterns": ["(["]}, "not a regular"),
        ({"token": "${T}", "repositories": ["a/b"], "issue_ref_pattern": "#\\d+"}, "'number'"),
        ({"token": "${T}", "repositories": ["a/b"], "base_url": "api.github.com"}, "http"),
        ({"token": "ghp_plain", "repositories": ["a/b"]}, "reference"),
        ({"token": "${T}", "repositories": ["a/b"], "per_page": 101}, "100"),
    ],
)
def test_bad_settings_are_refused(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GitHubSettings.model_validate(values)


def test_enterprise_base_url_is_kept() -> None:
    settings = GitHubSettings(
        base_url="https://ghe.example.com/api/v3/",
        token="${T}",  # type: ignore[arg-type]
        repositories=["a/b"],
    )
    assert settings.base_url == "https://ghe.example.com/api/v3"
    assert json.loads(settings.model_dump_json())["token"] == "${T}"
