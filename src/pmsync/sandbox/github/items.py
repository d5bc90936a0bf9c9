"""Issue, pull-request and milestone JSON, and the list filters GitHub documents.

Filters follow the REST reference for "List repository issues", "List pull
requests" and "List milestones": parameter values GitHub rejects become a
``ValidationFailed`` (answered as 422), everything else narrows and orders the
view's entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from pmsync.sandbox.github.payloads import People, Urls, iso, label_json, node_id, user_json
from pmsync.sandbox.github.world import IssueEntry, MilestoneEntry, RepoIndex, RepoView


class ValidationFailed(Exception):
    """A parameter GitHub would refuse with 422 Validation Failed."""

    def __init__(self, resource: str, field: str, value: str) -> None:
        super().__init__(f"{resource}.{field}={value!r}")
        self.error = {"value": value, "resource": resource, "field": field, "code": "invalid"}


def parse_time(value: str, resource: str, name: str) -> datetime:
    """Parse an ISO 8601 timestamp parameter (``Z`` or an offset; naive means UTC)."""

    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as err:
        raise ValidationFailed(resource, name, value) from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def choice(args: Mapping[str, str], name: str, allowed: tuple[str, ...], resource: str) -> str:
    """Return the parameter ``name`` (default: the first allowed value) or raise."""
    value = args.get(name, allowed[0])
    if value not in allowed:
        raise ValidationFailed(resource, name, value)
    return value


NO_REACTIONS = {
    "total_count": 0,
    "+1": 0,
    "-1": 0,
    "laugh": 0,
    "confused": 0,
    "heart": 0,
    "hooray": 0,
    "eyes": 0,
    "rocket": 0,
}
"""GitHub's reaction rollup with nothing in it (every key is required by the schema)."""


def milestone_json(
    repo_full: str, entry: MilestoneEntry, people: People, urls: Urls
) -> dict[str, Any]:
    """Return a milestone object."""
    spec, state = entry.spec, entry.state
    api = f"{urls.api}/repos/{repo_full}/milestones/{spec.number}"
    return {
        "url": api,
        "html_url": f"{urls.web}/{repo_full}/milestone/{spec.number}",
        "labels_url": f"{api}/labels",
        "id": spec.id,
        "node_id": node_id("MI", spec.id),
        "number": spec.number,
        "state": state["state"],
        "title": state["title"],
        "description": state["description"] or None,
        "creator": people.user(spec.creator, urls),
        "open_issues": entry.open_issues,
        "closed_issues": entry.closed_issues,
        "created_at": iso(spec.created),
        "updated_at": iso(entry.updated_at),
        "closed_at": iso(entry.closed_at),
        "due_on": iso(state["due_on"]),
    }


def _issue_common(
    index: RepoIndex, view: RepoView, entry: IssueEntry, people: People, urls: Urls
) -> dict[str, Any]:
    repo, spec, state = index.repo, entry.spec, entry.state
    assignees = [people.user(a, urls) for a in state["assignees"]]
    milestone = view.milestone_by_number.get(state["milestone"] or -1)
    return {
        "id": spec.id,
        "node_id": node_id("I", spec.id),
        "number": spec.number,
        "title": state["title"],
        "user": people.user(spec.author, urls),
        "labels": [label_json(repo, name, urls) for name in state["labels"]],
        "state": state["state"],
        "locked": False,
        "assignee": assignees[0] if assignees else None,
        "assignees": assignees,
        "milestone": milestone_json(repo.full_name, milestone, people, urls) if milestone else None,
        "created_at": iso(spec.created),
        "updated_at": iso(entry.updated_at),
        "closed_at": iso(entry.closed_at),
        "author_association": "MEMBER",
        "active_lock_reason": None,
        "body": state["body"] or None,
    }


def issue_json(
    index: RepoIndex, view: RepoView, entry: IssueEntry, people: People, urls: Urls
) -> dict[str, Any]:
    """Return an issue (a pull request carries a ``pull_request`` key, as on GitHub)."""
    full, number = index.repo.full_name, entry.spec.number
    api = f"{urls.api}/repos/{full}/issues/{number}"
    kind = "pull" if entry.is_pull else "issues"
    payload = {
        "url": api,
        "repository_url": f"{urls.api}/repos/{full}",
        "labels_url": f"{api}/labels{{/name}}",
        "comments_url": f"{api}/comments",
        "events_url": f"{api}/events",
        "html_url": f"{urls.web}/{full}/{kind}/{number}",
        **_issue_common(index, view, entry, people, urls),
        "comments": 0,
        "draft": entry.state["draft"] if entry.is_pull else None,
        "state_reason": entry.state["state_reason"],
        "reactions": {"url": f"{api}/reactions", **NO_REACTIONS},
        "timeline_url": f"{api}/timeline",
        "performed_via_github_app": None,
        # Issue types (2025): the organisation's type of the issue, null without one.
        "type": None,
        "sub_issues_summary": {"total": 0, "completed": 0, "percent_completed": 0},
        "issue_dependencies_summary": {
            "blocked_by": 0,
            "total_blocked_by": 0,
            "blocking": 0,
            "total_blocking": 0,
        },
    }
    if entry.is_pull:
        web = f"{urls.web}/{full}/pull/{number}"
        payload["pull_request"] = {
            "url": f"{urls.api}/repos/{full}/pulls/{number}",
            "html_url": web,
            "diff_url": f"{web}.diff",
            "patch_url": f"{web}.patch",
            "merged_at": iso(entry.merged_at),
        }
    else:
        del payload["draft"]
    return payload


def pull_json(
    index: RepoIndex,
    view: RepoView,
    entry: IssueEntry,
    people: People,
    urls: Urls,
    now: datetime,
    full: bool,
) -> dict[str, Any]:
    """Return a pull request as ``/pulls`` lists it (``full``: as ``/pulls/{n}`` adds)."""
    repo, spec = index.repo, entry.spec
    assert spec.pull_request is not None
    api = f"{urls.api}/repos/{repo.full_name}"
    web = f"{urls.web}/{repo.full_name}/pull/{spec.number}"
    owner = repo.owner

    def ref(branch: str) -> dict[str, Any]:
        from pmsync.sandbox.github.payloads import fake_sha

        sha = index.head_sha(branch, now) or fake_sha(f"{repo.full_name}:{branch}")
        return {
            "label": f"{owner}:{branch}",
            "ref": branch,
            "sha": sha,
            "user": user_json(owner, urls, "Organization"),
            "repo": {
                "id": repo.id,
                "name": repo.full_name.split("/")[1],
                "full_name": repo.full_name,
                "url": api,
            },
        }

    payload = {
        "url": f"{api}/pulls/{spec.number}",
        "id": spec.id + 2_000_000_000,
        "node_id": node_id("PR", spec.id),
        "html_url": web,
        "diff_url": f"{web}.diff",
        "patch_url": f"{web}.patch",
        "issue_url": f"{api}/issues/{spec.number}",
        "commits_url": f"{api}/pulls/{spec.number}/commits",
        "review_comments_url": f"{api}/pulls/{spec.number}/comments",
        "comments_url": f"{api}/issues/{spec.number}/comments",
        **_issue_common(index, view, entry, people, urls),
        "merged_at": iso(entry.merged_at),
        "merge_commit_sha": None,
        "requested_reviewers": [],
        "requested_teams": [],
        "head": ref(spec.pull_request.head),
        "base": ref(spec.pull_request.base),
        "draft": entry.state["draft"],
        "auto_merge": None,
    }
    if full:
        merged = entry.merged_at is not None
        payload.update(
            merged=merged,
            mergeable=None if merged or entry.state["state"] == "closed" else True,
            rebaseable=None if merged else True,
            mergeable_state="unknown" if merged else "clean",
            merged_by=people.user(spec.author, urls) if merged else None,
            comments=0,
            review_comments=0,
            maintainer_can_modify=False,
            commits=1,
            additions=0,
            deletions=0,
            changed_files=0,
        )
    return payload


def _filter_issues(
    entries: Iterable[IssueEntry], args: Mapping[str, str], view: RepoView, people: People
) -> list[IssueEntry]:
    checks: list[Callable[[IssueEntry], bool]] = []
    state = choice(args, "state", ("open", "closed", "all"), "Issue")
    if state != "all":
        checks.append(lambda e: e.state["state"] == state)
    if args.get("labels"):
        wanted = {name.strip().lower() for name in args["labels"].split(",") if name.strip()}
        checks.append(lambda e: wanted <= {n.lower() for n in e.state["labels"]})
    milestone = args.get("milestone")
    if milestone == "*":
        checks.append(lambda e: e.state["milestone"] is not None)
    elif milestone == "none":
        checks.append(lambda e: e.state["milestone"] is None)
    elif milestone:
        if not milestone.isdigit() or int(milestone) not in view.milestone_by_number:
            raise ValidationFailed("Issue", "milestone", milestone)
        checks.append(lambda e: e.state["milestone"] == int(milestone))
    assignee = args.get("assignee")
    if assignee == "*":
        checks.append(lambda e: bool(e.state["assignees"]))
    elif assignee == "none":
        checks.append(lambda e: not e.state["assignees"])
    elif assignee:
        login = assignee.lower()
        checks.append(lambda e: any(people.login(a).lower() == login for a in e.state["assignees"]))
    if args.get("creator"):
        creator = args["creator"].lower()
        checks.append(lambda e: people.login(e.spec.author).lower() == creator)
    return [e for e in entries if all(check(e) for check in checks)]


def list_issues(view: RepoView, args: Mapping[str, str], people: People) -> list[IssueEntry]:
    """Return the issues (pull requests included) that ``GET .../issues`` lists, in order."""
    sort = choice(args, "sort", ("created", "updated", "comments"), "Issue")
    direction = choice(args, "direction", ("desc", "asc"), "Issue")
    since = parse_time(args["since"], "Issue", "since") if args.get("since") else None
    if since is not None:
        base: list[IssueEntry] = view.updated_since(since)
        if sort != "updated":
            base = sorted(base, key=lambda e: (e.spec.created, e.spec.number))
    else:
        base = view.by_updated if sort == "updated" else view.issues
    result = _filter_issues(base, args, view, people)
    if direction == "desc":
        result.reverse()
    return result


def list_pulls(view: RepoView, args: Mapping[str, str]) -> list[IssueEntry]:
    """Return the pull requests that ``GET .../pulls`` lists, in order."""
    state = choice(args, "state", ("open", "closed", "all"), "PullRequest")
    sort = choice(args, "sort", ("created", "updated", "popularity", "long-running"), "PullRequest")
    default_direction = "desc" if sort == "created" else "asc"
    direction = args.get("direction", default_direction)
    if direction not in ("asc", "desc"):
        raise ValidationFailed("PullRequest", "direction", direction)
    head = args.get("head", "")
    head_ref = head.split(":", 1)[1] if ":" in head else head
    base_ref = args.get("base")
    source = view.by_updated if sort == "updated" else view.issues
    result = []
    for entry in source:
        pull = entry.spec.pull_request
        if pull is None or (state != "all" and entry.state["state"] != state):
            continue
        if (head_ref and pull.head != head_ref) or (base_ref and pull.base != base_ref):
            continue
        result.append(entry)
    if direction == "desc":
        result.reverse()
    return result


def lenient(args: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    """Return the parameter ``name``, or its default (the first allowed value) when unknown."""
    value = args.get(name, allowed[0])
    return value if value in allowed else allowed[0]


def list_milestones(view: RepoView, args: Mapping[str, str]) -> list[MilestoneEntry]:
    """Return the milestones that ``GET .../milestones`` lists, in order.

    Unlike the issue and pull-request listings, "List milestones" validates none
    of its parameters: GitHub's REST reference gives this operation the response
    codes 200 and 404 only (no ``422 Validation failed``, which "List repository
    issues" and "List pull requests" do list), and clients that send
    ``sort=updated_at`` or ``sort=updated`` have synced milestones from
    api.github.com for years (singer-io tap-github's ``issue_milestones``, whose
    integration suite runs against a real repository, and MeltanoLabs
    tap-github's ``milestones``). An unknown ``state``, ``sort`` or
    ``direction`` is therefore ignored: the documented default applies
    (``open``, ``due_on``, ``asc``).
    """
    state = lenient(args, "state", ("open", "closed", "all"))
    sort = lenient(args, "sort", ("due_on", "completeness"))
    direction = lenient(args, "direction", ("asc", "desc"))
    chosen = [m for m in view.milestones if state == "all" or m.state["state"] == state]

    def key(m: MilestoneEntry) -> tuple[Any, ...]:
        if sort == "completeness":
            total = m.open_issues + m.closed_issues
            return (m.closed_issues / total if total else 0.0, m.spec.number)
        due = m.state["due_on"]
        return (due is None, due or m.spec.created, m.spec.number)

    chosen.sort(key=key, reverse=direction == "desc")
    return chosen
