"""GitHub's JSON shapes, built from scenario entities as the REST API v3 returns them.

Kept apart from the routing so that the one place to compare against GitHub's
documented example payloads is this file. Every builder takes ``Urls`` (the API
base and the web base of the request being answered), so the same objects serve
github.com-style and Enterprise-style (``/api/v3``) addresses.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pmsync.sandbox.scenario import GitHubCommit, GitHubRepository, Person, hash_id

DOCS = "https://docs.github.com/rest"


@dataclass(frozen=True)
class Urls:
    """Where the API and the web pages of the sandbox live, for one request."""

    api: str
    """e.g. ``http://127.0.0.1:8000`` or ``http://127.0.0.1:8000/api/v3``"""
    web: str


def iso(moment: datetime | None) -> str | None:
    """Format ``moment`` as GitHub does: ``2026-01-05T10:00:00Z``."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_id(kind: str, number: int) -> str:
    """Return a stable GraphQL-style node id."""
    return base64.b64encode(f"0:{kind}{number}".encode()).decode().rstrip("=")


def fake_sha(text: str) -> str:
    """Return a stable 40-hex sha for something the scenario does not name."""
    return hashlib.sha1(text.encode()).hexdigest()


def stable_id(text: str) -> int:
    """Return a stable positive integer id for ``text``."""
    return hash_id(text) % 900_000_000 + 1_000_000


class People:
    """The scenario's people as GitHub users: by person id, by login, by e-mail."""

    def __init__(self, people: list[Person]) -> None:
        self.by_id = {p.id: p for p in people}
        self.by_login = {p.github_login.lower(): p for p in people if p.github_login}
        self.by_email = {p.email.lower(): p for p in people if p.github_login}

    def login(self, person_id: str) -> str:
        """Return the GitHub login of a person id (the id itself when unknown)."""
        person = self.by_id.get(person_id)
        return person.github_login if person and person.github_login else person_id

    def user(self, person_id: str | None, urls: Urls) -> dict[str, Any] | None:
        """Return the simple-user object for a person id."""
        if person_id is None:
            return None
        return user_json(self.login(person_id), urls)


def user_json(login: str, urls: Urls, kind: str = "User") -> dict[str, Any]:
    """Return GitHub's simple-user object for ``login``."""
    uid = stable_id("user:" + login.lower())
    api = f"{urls.api}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": node_id("U", uid),
        "avatar_url": f"{urls.web}/avatars/u/{uid}?v=4",
        "gravatar_id": "",
        "url": api,
        "html_url": f"{urls.web}/{login}",
        "followers_url": f"{api}/followers",
        "following_url": f"{api}/following{{/other_user}}",
        "gists_url": f"{api}/gists{{/gist_id}}",
        "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{api}/subscriptions",
        "organizations_url": f"{api}/orgs",
        "repos_url": f"{api}/repos",
        "events_url": f"{api}/events{{/privacy}}",
        "received_events_url": f"{api}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


def label_json(repo: GitHubRepository, name: str, urls: Urls) -> dict[str, Any]:
    """Return a label object."""
    lid = stable_id(f"label:{repo.id}:{name}")
    return {
        "id": lid,
        "node_id": node_id("LA", lid),
        "url": f"{urls.api}/repos/{repo.full_name}/labels/{name}",
        "name": name,
        "color": f"{hash_id(name) % 0xFFFFFF:06x}",
        "default": name in ("bug", "enhancement", "documentation"),
        "description": None,
    }


def repo_json(
    repo: GitHubRepository, urls: Urls, owner_kind: str, extra: dict[str, Any]
) -> dict[str, Any]:
    """Return the full repository object (``extra`` adds counts and dates)."""
    api = f"{urls.api}/repos/{repo.full_name}"
    return {
        "id": repo.id,
        "node_id": node_id("R", repo.id),
        "name": repo.full_name.split("/", 1)[1],
        "full_name": repo.full_name,
        "private": repo.private,
        "owner": user_json(repo.owner, urls, owner_kind),
        "html_url": f"{urls.web}/{repo.full_name}",
        "description": repo.description or None,
        "fork": False,
        "url": api,
        "issues_url": f"{api}/issues{{/number}}",
        "pulls_url": f"{api}/pulls{{/number}}",
        "milestones_url": f"{api}/milestones{{/number}}",
        "commits_url": f"{api}/commits{{/sha}}",
        "labels_url": f"{api}/labels{{/name}}",
        "branches_url": f"{api}/branches{{/branch}}",
        "git_url": f"git://{urls.web.split('://', 1)[1]}/{repo.full_name}.git",
        "clone_url": f"{urls.web}/{repo.full_name}.git",
        "homepage": None,
        "size": 0,
        "language": None,
        "has_issues": True,
        "has_projects": True,
        "has_wiki": False,
        "archived": False,
        "disabled": False,
        "visibility": "private" if repo.private else "public",
        "forks_count": 0,
        "stargazers_count": 0,
        "watchers_count": 0,
        "default_branch": repo.default_branch,
        "permissions": {
            "admin": False,
            "maintain": False,
            "push": True,
            "triage": True,
            "pull": True,
        },
        **extra,
    }


def commit_json(
    repo: GitHubRepository, commit: GitHubCommit, people: People, urls: Urls, full: bool
) -> dict[str, Any]:
    """Return a commit as ``/commits`` lists it (``full``: as ``/commits/{sha}`` adds)."""
    person = people.by_id.get(commit.author)
    name = person.name if person else commit.author
    email = person.email if person else f"{commit.author}@users.noreply.github.com"
    user = (
        user_json(person.github_login, urls) if person is not None and person.github_login else None
    )
    api = f"{urls.api}/repos/{repo.full_name}"
    web = f"{urls.web}/{repo.full_name}"
    tree = fake_sha("tree:" + commit.sha)
    payload: dict[str, Any] = {
        "sha": commit.sha,
        "node_id": node_id("C", hash_id(commit.sha) % 10**12),
        "commit": {
            "author": {"name": name, "email": email, "date": iso(commit.authored_at)},
            "committer": {"name": name, "email": email, "date": iso(commit.committed_at)},
            "message": commit.message,
            "tree": {"sha": tree, "url": f"{api}/git/trees/{tree}"},
            "url": f"{api}/git/commits/{commit.sha}",
            "comment_count": 0,
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "url": f"{api}/commits/{commit.sha}",
        "html_url": f"{web}/commit/{commit.sha}",
        "comments_url": f"{api}/commits/{commit.sha}/comments",
        "author": user,
        "committer": user,
        "parents": [
            {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"{web}/commit/{p}"}
            for p in commit.parents
        ],
    }
    if full:
        size = len(commit.message)
        payload["stats"] = {"total": size, "additions": size, "deletions": 0}
        payload["files"] = []
    return payload
