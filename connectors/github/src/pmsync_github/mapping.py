"""GitHub's REST JSON → pmsync's unified records.

Why from raw JSON rather than PyGithub objects: the payload is kept as ``raw``
(re-mapping without re-fetching; without GitHub's API links, see
``without_api_links``), mapping needs no extra lazy requests, and a
payload that does not fit is quarantined with its reason instead of failing the
page. This is the only place in pmsync that knows GitHub's issue, pull-request,
milestone and commit shapes (besides the sandbox's imitation of them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from pmsync.records import (
    Commit,
    PersonRef,
    PullRequest,
    Quarantined,
    Record,
    SourceMilestone,
    StatusCategory,
    WorkItem,
)
from pmsync_github.links import ReferenceFinder

JSON = Mapping[str, Any]


def parse_time(value: str | None) -> datetime | None:
    """Parse GitHub's ``2011-04-22T13:33:48Z`` into an aware UTC datetime."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _required_time(value: str | None, name: str) -> datetime:
    try:
        moment = parse_time(value)
    except ValueError as err:
        raise ValueError(f"{name}: {err}") from err
    if moment is None:
        raise ValueError(f"{name} is missing")
    return moment


def person(user: JSON | None) -> PersonRef | None:
    """Return a GitHub user (simple-user object) as a person reference."""
    if not user or not user.get("login"):
        return None
    return PersonRef(
        login=str(user["login"]), display_name=user.get("name"), email=user.get("email")
    )


def milestone_key(repository: str, milestone: JSON | None) -> str | None:
    """Return ``owner/repo#<number>`` for an embedded milestone."""
    if not milestone:
        return None
    return f"{repository}#{int(milestone['number'])}"


API_LINKS = frozenset(
    {
        "url",
        "repository_url",
        "labels_url",
        "comments_url",
        "events_url",
        "timeline_url",
        "avatar_url",
        "followers_url",
        "following_url",
        "gists_url",
        "organizations_url",
        "received_events_url",
        "repos_url",
        "starred_url",
        "subscriptions_url",
        "diff_url",
        "patch_url",
    }
)
"""The API links of an issue and the objects in it: addresses GitHub derives from
ids and names (``url``, ``comments_url``, ``avatar_url`` ...). ``html_url``, the
page a person opens, is not one of them."""
_NESTED = ("user", "assignee", "closed_by", "creator", "milestone", "reactions", "pull_request")
_NESTED_LISTS = ("assignees", "labels")


def _lean(obj: JSON) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in API_LINKS}


def without_api_links(data: JSON) -> dict[str, Any]:
    """Return an issue (or milestone) payload without the API links in it; ``data`` is unchanged.

    They are three fifths of an issue's JSON (a user object alone carries eleven)
    and nothing maps from them, so keeping them as ``raw`` cost storage and the
    time to serialise, hash and write them, for every issue of every sync. Only
    the places GitHub puts them are walked (the payload itself, its people,
    labels, reactions, pull-request stub, milestone and that milestone's
    creator), not the whole tree: a third of the cost of a recursive walk.
    """
    out = _lean(data)
    for name in _NESTED:
        value = out.get(name)
        if type(value) is dict:
            out[name] = _lean(value)
    milestone = out.get("milestone")
    if type(milestone) is dict and type(milestone.get("creator")) is dict:
        milestone["creator"] = _lean(milestone["creator"])
    for name in _NESTED_LISTS:
        values = out.get(name)
        if type(values) is list and values:
            out[name] = [_lean(v) if type(v) is dict else v for v in values]
    return out


def status_category(data: JSON) -> StatusCategory:
    """Closed is done; open with an assignee, or a pull request, is in progress; else todo."""
    if data.get("state") == "closed":
        return "done"
    if data.get("assignee") or data.get("assignees") or "pull_request" in data:
        return "in_progress"
    return "todo"


def work_item(repository: str, data: JSON, finder: ReferenceFinder) -> WorkItem:
    """Map an issue (or a pull request as the issues listing shows it) to a work item."""
    number = int(data["number"])
    key = f"{repository}#{number}"
    is_pull = "pull_request" in data
    refs = finder.find(repository, data.get("title"), data.get("body"))
    custom: dict[str, Any] = refs.as_custom()
    if data.get("state_reason"):
        custom["state_reason"] = data["state_reason"]
    assignees = [a["login"] for a in data.get("assignees") or [] if a and a.get("login")]
    if len(assignees) > 1:
        custom["assignees"] = assignees
    if is_pull and (data.get("pull_request") or {}).get("merged_at"):
        custom["merged_at"] = data["pull_request"]["merged_at"]
    milestone = milestone_key(repository, data.get("milestone"))
    return WorkItem(
        external_id=key,
        key=key,
        title=str(data["title"]),
        container=repository,
        item_type="pull_request" if is_pull else "issue",
        status=str(data["state"]),
        status_category=status_category(data),
        created_at=_required_time(data.get("created_at"), "created_at"),
        updated_at=_required_time(data.get("updated_at"), "updated_at"),
        url=data.get("html_url"),
        resolved_at=parse_time(data.get("closed_at")),
        assignee=person(data.get("assignee")),
        reporter=person(data.get("user")),
        labels=tuple(str(label["name"]) for label in data.get("labels") or []),
        milestones=(milestone,) if milestone else (),
        is_pull_request=is_pull,
        custom=custom,
        raw=without_api_links(data),
    )


def pull_request(repository: str, data: JSON) -> PullRequest:
    """Map a pull request (``/pulls`` listing or single) to a pull-request record."""
    number = int(data["number"])
    merged_at = parse_time(data.get("merged_at"))
    state = str(data["state"])
    if state not in ("open", "closed"):
        raise ValueError(f"unknown pull request state {state!r}")
    return PullRequest(
        external_id=f"{repository}#{number}",
        number=number,
        repository=repository,
        title=str(data["title"]),
        state="open" if state == "open" else "closed",
        created_at=_required_time(data.get("created_at"), "created_at"),
        updated_at=_required_time(data.get("updated_at"), "updated_at"),
        merged=bool(data.get("merged")) or merged_at is not None,
        merged_at=merged_at,
        closed_at=parse_time(data.get("closed_at")),
        draft=bool(data.get("draft")),
        head_ref=(data.get("head") or {}).get("ref"),
        base_ref=(data.get("base") or {}).get("ref"),
        author=person(data.get("user")),
        milestone=milestone_key(repository, data.get("milestone")),
        url=data.get("html_url"),
        body=data.get("body"),
    )


def due_date(value: str | None) -> date | None:
    """Return the planned date of a milestone's ``due_on`` (GitHub stores a day)."""
    moment = parse_time(value)
    return None if moment is None else moment.date()


def source_milestone(repository: str, data: JSON) -> SourceMilestone:
    """Map a milestone; ``due_on`` is the planned date and is never replaced by closed_at."""
    number = int(data["number"])
    state = str(data["state"])
    if state not in ("open", "closed"):
        raise ValueError(f"unknown milestone state {state!r}")
    return SourceMilestone(
        external_id=f"{repository}#{number}",
        name=str(data["title"]),
        container=repository,
        due_date=due_date(data.get("due_on")),
        state="open" if state == "open" else "closed",
        closed_at=parse_time(data.get("closed_at")),
        description=data.get("description"),
        url=data.get("html_url"),
        open_items=data.get("open_issues"),
        closed_items=data.get("closed_issues"),
        raw=without_api_links(data),
    )


def commit(repository: str, branch: str | None, data: JSON) -> Commit:
    """Map a commit of ``/commits``; the GitHub user when known, else the git e-mail."""
    sha = str(data["sha"])
    git = data["commit"]
    git_author = git.get("author") or {}
    git_committer = git.get("committer") or {}
    user = person(data.get("author"))
    email = git_author.get("email")
    if user is not None:
        author: PersonRef | None = PersonRef(user.login, git_author.get("name"), email)
    elif email:
        author = PersonRef(login=email, display_name=git_author.get("name"), email=email)
    else:
        author = None
    authored = _required_time(git_author.get("date"), "commit.author.date")
    return Commit(
        external_id=f"{repository}@{sha}",
        sha=sha,
        repository=repository,
        message=str(git.get("message") or ""),
        authored_at=authored,
        committed_at=parse_time(git_committer.get("date")) or authored,
        author=author,
        branch=branch,
        url=data.get("html_url"),
    )


def guarded(kind: str, external_id: str, payload: Any, build: Callable[[], Record]) -> Record:
    """Return ``build()``, or the payload quarantined with the reason it does not map."""
    try:
        return build()
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        reason = f"{kind} {external_id} cannot be mapped: {type(err).__name__}: {err}"
        return Quarantined(
            external_id=external_id, record_kind=kind, reason=reason, payload=payload
        )
