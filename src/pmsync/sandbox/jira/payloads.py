"""Jira's JSON shapes: issues, users, changelogs, worklogs, versions, fields.

The one place (with pmsync's Jira connector) that knows what Jira's payloads
look like. Timestamps are written as Jira writes them, ``2026-01-05T10:00:00.000+0000``,
in the *requesting user's* time zone, which is exactly what trips connectors up.
REST v3 carries rich text (descriptions, worklog comments) as Atlassian Document
Format; v2 and Data Center carry plain strings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pmsync.sandbox.jira.world import IssueView, JiraData, Snapshot, WorklogView, numeric_id
from pmsync.sandbox.scenario import JiraProject, JiraStatus, JiraVersion, Person

EMBEDDED_WORKLOGS = 20
"""Search and issue GET embed at most this many worklogs, with ``total`` telling the rest."""

_CATEGORY = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
_ISSUE_TYPES = {
    "epic": "10000",
    "story": "10001",
    "task": "10002",
    "sub-task": "10003",
    "subtask": "10003",
    "bug": "10004",
}
_PRIORITIES = {"highest": "1", "high": "2", "medium": "3", "low": "4", "lowest": "5"}


@dataclass(frozen=True)
class Context:
    """What shapes a payload besides the data: who asks, through which API, where."""

    base: str
    api: str
    zone: ZoneInfo
    cloud: bool
    data: JiraData

    @property
    def rest(self) -> str:
        """Return the REST root, e.g. ``http://127.0.0.1:5000/rest/api/3``."""
        return f"{self.base}/rest/api/{self.api}"

    @property
    def adf(self) -> bool:
        """Tell whether rich text is Atlassian Document Format (Cloud REST v3)."""
        return self.cloud and self.api == "3"


def jira_time(moment: datetime, zone: ZoneInfo) -> str:
    """Format ``moment`` as Jira does, in ``zone``: ``2026-01-05T10:00:00.000+0000``."""
    text = moment.astimezone(zone).isoformat(timespec="milliseconds")
    return text[:-3] + text[-2:]  # "+05:30" -> "+0530"


def duration(seconds: int) -> str:
    """Format seconds as Jira's ``1w 2d 3h 20m`` (8-hour days, 5-day weeks)."""
    minutes = seconds // 60
    parts = []
    for unit, size in (("w", 5 * 8 * 60), ("d", 8 * 60), ("h", 60), ("m", 1)):
        if minutes >= size:
            parts.append(f"{minutes // size}{unit}")
            minutes %= size
    return " ".join(parts) or "0m"


def rich_text(text: str | None, ctx: Context) -> Any:
    """Return ``text`` as v3 ADF or a v2 string (None when empty)."""
    if not text:
        return None
    if not ctx.adf:
        return text
    paragraphs = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in str(text).split("\n\n")
        if line
    ]
    return {"type": "doc", "version": 1, "content": paragraphs}


def user_json(person: Person | None, ctx: Context) -> dict[str, Any] | None:
    """Return a user as Jira Cloud (accountId) or Data Center (name/key) shows it."""
    if person is None:
        return None
    avatar = f"{ctx.base}/secure/useravatar?ownerId={person.id}"
    result: dict[str, Any] = {}
    if ctx.cloud:
        account = person.account_id()
        result["self"] = f"{ctx.rest}/user?accountId={account}"
        result["accountId"] = account
    else:
        result["self"] = f"{ctx.rest}/user?username={person.id}"
        result["name"] = person.id
        result["key"] = f"JIRAUSER{numeric_id(person.id) % 100000}"
    result.update(
        {
            "emailAddress": person.jira_email or person.email,
            "avatarUrls": {size: f"{avatar}&size={size}" for size in ("48x48", "24x24")},
            "displayName": person.name,
            "active": True,
            "timeZone": person.time_zone,
        }
    )
    if ctx.cloud:
        result["accountType"] = "atlassian"
    return result


def person_json(person_id: Any, ctx: Context) -> dict[str, Any] | None:
    """Return the user for a scenario person id (None when unset or unknown).

    A page of 100 issues names people about a thousand times (assignee, reporter,
    changelog and worklog authors): each is rendered once per request context
    and shared, read-only, after that.
    """
    if not person_id:
        return None
    cache = ctx.data.rendered_people
    key = (str(person_id), ctx.base, ctx.api, ctx.cloud)
    if key not in cache:
        if len(cache) > 10_000:
            cache.clear()
        cache[key] = user_json(ctx.data.people.get(str(person_id)), ctx)
    return cache[key]


def _kept(ctx: Context, key: tuple[Any, ...], make: Callable[[], Any]) -> Any:
    """Return ``make()``, rendered once per ``key`` and request context, shared read-only after.

    Statuses, issue types, priorities and fix versions repeat on every issue of a
    page; rendering each once keeps a search page's first serving cheap.
    """
    cache = ctx.data.rendered_parts
    full = (*key, ctx.base, ctx.api, ctx.cloud)
    found = cache.get(full, cache)
    if found is cache:
        if len(cache) > 10_000:
            cache.clear()
        found = cache[full] = make()
    return found


def status_json(status: JiraStatus, ctx: Context) -> dict[str, Any]:
    """Return a status with its category."""
    return _kept(
        ctx, ("status", status.id, status.name, status.category), lambda: _status(status, ctx)
    )


def _status(status: JiraStatus, ctx: Context) -> dict[str, Any]:
    category = _CATEGORY[status.category]
    return {
        "self": f"{ctx.rest}/status/{status.id}",
        "description": "",
        "iconUrl": "",
        "name": status.name,
        "id": status.id,
        "statusCategory": {"self": f"{ctx.rest}/statuscategory/{category['id']}", **category},
    }


def transitions_json(status: JiraStatus, ctx: Context) -> list[dict[str, Any]]:
    """Return the transitions an issue in ``status`` offers (``expand=transitions``).

    The sandbox's workflow lets every status move to every other one, as Jira's
    "allow all statuses to transition to this one" global transitions do: one
    transition per other status, named after it.
    """
    return _kept(ctx, ("transitions", status.id), lambda: _transitions(status, ctx))


def _transitions(current: JiraStatus, ctx: Context) -> list[dict[str, Any]]:
    return [
        {
            "id": str(10 * number + 1),
            "name": status.name,
            "to": status_json(status, ctx),
            "hasScreen": False,
            "isGlobal": True,
            "isInitial": False,
            "isAvailable": True,
            "isConditional": False,
            "looped": False,
        }
        for number, status in enumerate(ctx.data.statuses, start=1)
        if status.id != current.id
    ]


def issuetype_json(name: str, ctx: Context) -> dict[str, Any]:
    """Return an issue type by name."""
    return _kept(ctx, ("issuetype", name), lambda: _issuetype(name, ctx))


def _issuetype(name: str, ctx: Context) -> dict[str, Any]:
    type_id = _ISSUE_TYPES.get(name.lower(), str(numeric_id(name) % 100000))
    subtask = name.lower() in ("sub-task", "subtask")
    return {
        "self": f"{ctx.rest}/issuetype/{type_id}",
        "id": type_id,
        "description": "",
        "iconUrl": "",
        "name": name,
        "subtask": subtask,
        "hierarchyLevel": -1 if subtask else (1 if name.lower() == "epic" else 0),
    }


def priority_json(name: Any, ctx: Context) -> dict[str, Any] | None:
    """Return a priority by name."""
    if not name:
        return None
    return _kept(ctx, ("priority", name), lambda: _priority(name, ctx))


def _priority(name: Any, ctx: Context) -> dict[str, Any]:
    pid = _PRIORITIES.get(str(name).lower(), str(numeric_id(str(name)) % 1000))
    return {"self": f"{ctx.rest}/priority/{pid}", "iconUrl": "", "name": name, "id": pid}


def _day(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, date) else str(value)


def version_json(
    project: JiraProject, version: JiraVersion, now: datetime, ctx: Context
) -> dict[str, Any]:
    """Return a fix version as of ``now``."""
    key = ("version", project.key, version.id, now, ctx.zone.key)
    return _kept(ctx, key, lambda: _version(project, version, now, ctx))


def _version(
    project: JiraProject, version: JiraVersion, now: datetime, ctx: Context
) -> dict[str, Any]:
    fields = version.fields_at(now)
    release = fields.get("release_date")
    if isinstance(release, str):
        release = date.fromisoformat(release)
    result: dict[str, Any] = {
        "self": f"{ctx.rest}/version/{version.id}",
        "id": version.id,
        "description": fields.get("description") or "",
        "name": fields["name"],
        "archived": bool(fields.get("archived")),
        "released": bool(fields.get("released")),
    }
    if fields.get("start_date"):
        result["startDate"] = _day(fields["start_date"])
    if release:
        result["releaseDate"] = _day(release)
        result["userReleaseDate"] = f"{release:%d/%b/%y}"
        if not result["released"]:
            result["overdue"] = release < now.astimezone(ctx.zone).date()
    result["projectId"] = int(project.id) if project.id.isdigit() else numeric_id(project.id)
    return result


def project_json(project: JiraProject, ctx: Context, full: bool = False) -> dict[str, Any]:
    """Return a project (the short form embedded in issues, or the full one)."""
    result: dict[str, Any] = {
        "self": f"{ctx.rest}/project/{project.id}",
        "id": project.id,
        "key": project.key,
        "name": project.name,
        "projectTypeKey": "software",
        "simplified": False,
        "avatarUrls": {"48x48": f"{ctx.base}/secure/projectavatar?pid={project.id}"},
    }
    if full:
        result["lead"] = person_json(project.lead, ctx)
        result["description"] = ""
        result["style"] = "classic"
        result["components"] = [component_json(c, ctx) for c in project.components]
        result["issueTypes"] = [issuetype_json(n, ctx) for n in ("Epic", "Story", "Task", "Bug")]
    return result


def component_json(name: str, ctx: Context) -> dict[str, Any]:
    """Return a component by name."""
    cid = str(numeric_id(name) % 100000)
    return {"self": f"{ctx.rest}/component/{cid}", "id": cid, "name": name}


def worklog_json(worklog: WorklogView, issue_id: int, ctx: Context) -> dict[str, Any]:
    """Return a worklog."""
    wid = str(numeric_id(worklog.spec.id))
    result: dict[str, Any] = {
        "self": f"{ctx.rest}/issue/{issue_id}/worklog/{wid}",
        "author": person_json(worklog.author, ctx),
        "updateAuthor": person_json(worklog.update_author, ctx),
    }
    comment = rich_text(worklog.comment, ctx)
    if comment is not None:
        result["comment"] = comment
    result.update(
        {
            "created": jira_time(worklog.spec.created, ctx.zone),
            "updated": jira_time(worklog.updated, ctx.zone),
            "started": jira_time(worklog.started, ctx.zone),
            "timeSpent": duration(worklog.seconds),
            "timeSpentSeconds": worklog.seconds,
            "id": wid,
            "issueId": str(issue_id),
        }
    )
    return result


def worklog_field(view: IssueView, ctx: Context) -> dict[str, Any]:
    """Return the ``worklog`` field: the first worklogs, with the ``total`` telling the rest."""
    return {
        "startAt": 0,
        "maxResults": EMBEDDED_WORKLOGS,
        "total": len(view.worklogs),
        "worklogs": [worklog_json(w, view.id_num, ctx) for w in view.worklogs[:EMBEDDED_WORKLOGS]],
    }


def estimates(view: IssueView) -> tuple[int | None, int | None]:
    """Return the original and remaining estimates in seconds (remaining derived if unset)."""
    original = view.state.get("original_estimate")
    remaining = view.state.get("remaining_estimate")
    if remaining is None and original is not None:
        remaining = max(int(original) - view.time_spent, 0)
    return original, remaining


EXTRA_FIELDS = frozenset(
    {
        "comment",
        "votes",
        "watches",
        "subtasks",
        "issuelinks",
        "versions",
        "attachment",
        "environment",
        "security",
        "lastViewed",
        "workratio",
        "progress",
        "aggregateprogress",
        "aggregatetimeoriginalestimate",
        "aggregatetimeestimate",
        "timetracking",
    }
)
"""Fields ``*all`` returns that a scenario never fills: rendered only when asked for."""


def extra_fields(view: IssueView, ctx: Context) -> dict[str, Any]:
    """Return the ``EXTRA_FIELDS`` of an issue, as Jira shows them on an issue without
    comments, votes, watchers, links, sub-tasks, attachments or affected versions."""
    original, remaining = estimates(view)
    spent = view.time_spent
    total = spent + (remaining or 0)
    progress: dict[str, Any] = {"progress": spent, "total": total}
    if total:
        progress["percent"] = spent * 100 // total
    tracking: dict[str, Any] = {}
    if original is not None:
        tracking["originalEstimate"] = duration(int(original))
    if remaining is not None:
        tracking["remainingEstimate"] = duration(int(remaining))
    if spent:
        tracking["timeSpent"] = duration(spent)
    if original is not None:
        tracking["originalEstimateSeconds"] = original
    if remaining is not None:
        tracking["remainingEstimateSeconds"] = remaining
    if spent:
        tracking["timeSpentSeconds"] = spent
    issue = f"{ctx.rest}/issue/{view.key}"
    return {
        "comment": {"comments": [], "maxResults": 0, "total": 0, "startAt": 0},
        "votes": {"self": f"{issue}/votes", "votes": 0, "hasVoted": False},
        "watches": {"self": f"{issue}/watchers", "watchCount": 0, "isWatching": False},
        "subtasks": [],
        "issuelinks": [],
        "versions": [],
        "attachment": [],
        "environment": None,
        "security": None,
        "lastViewed": None,
        "workratio": spent * 100 // int(original) if original else -1,
        "progress": progress,
        "aggregateprogress": dict(progress),
        "aggregatetimeoriginalestimate": original,
        "aggregatetimeestimate": remaining,
        "timetracking": tracking,
    }


def render_fields(view: IssueView, snap: Snapshot, ctx: Context) -> dict[str, Any]:
    """Return every field of an issue but ``worklog`` (cached until the issue changes)."""
    cache_key = (ctx.base, ctx.api, ctx.zone.key, ctx.cloud)
    cached = snap.rendered.get(view.index, {}).get(cache_key)
    if cached is not None:
        return cached
    data, state = ctx.data, view.state
    project = data.projects.get(view.project)
    versions = [data.versions[v] for v in view.fix_versions if v in data.versions]
    original, remaining = estimates(view)
    resolution = state.get("resolution") or ("Done" if view.status.category == "done" else None)
    fields: dict[str, Any] = {
        "summary": state.get("summary", ""),
        "description": rich_text(state.get("description"), ctx),
        "issuetype": issuetype_json(str(state.get("issuetype", "Task")), ctx),
        "status": status_json(view.status, ctx),
        "statuscategorychangedate": jira_time(view.updated, ctx.zone),
        "priority": priority_json(state.get("priority", "Medium"), ctx),
        "assignee": person_json(state.get("assignee"), ctx),
        "reporter": person_json(state.get("reporter"), ctx),
        "creator": person_json(state.get("reporter"), ctx),
        "created": jira_time(view.created, ctx.zone),
        "updated": jira_time(view.updated, ctx.zone),
        "resolutiondate": jira_time(view.resolved, ctx.zone) if view.resolved else None,
        "resolution": {
            "self": f"{ctx.rest}/resolution/10000",
            "id": "10000",
            "description": "",
            "name": resolution,
        }
        if resolution
        else None,
        "duedate": _day(state.get("due_date")),
        "labels": list(view.labels),
        "components": [component_json(str(c), ctx) for c in state.get("components") or ()],
        "fixVersions": [version_json(p, v, snap.now, ctx) for p, v in versions],
        "project": project_json(project, ctx) if project else None,
        "timeoriginalestimate": original,
        "timeestimate": remaining,
        "timespent": view.time_spent or None,
        "aggregatetimespent": view.time_spent or None,
        data.story_points_field: state.get("story_points"),
    }
    parent_key = state.get("parent")
    if parent_key:
        parent = snap.find(str(parent_key))
        if parent is not None:
            fields["parent"] = {
                "id": str(parent.id_num),
                "key": parent.key,
                "self": f"{ctx.rest}/issue/{parent.id_num}",
                "fields": {
                    "summary": parent.state.get("summary", ""),
                    "status": status_json(parent.status, ctx),
                    "issuetype": issuetype_json(str(parent.state.get("issuetype", "Epic")), ctx),
                },
            }
    snap.remember_render(view.index, cache_key, fields)
    return fields


def issue_json(
    view: IssueView, snap: Snapshot, ctx: Context, wanted: set[str] | None
) -> dict[str, Any]:
    """Return an issue with the ``wanted`` fields (None: all of them)."""
    result: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,"
        "versionedRepresentations",
        "id": str(view.id_num),
        "self": f"{ctx.rest}/issue/{view.id_num}",
        "key": view.key,
    }
    if wanted is None or wanted:
        fields = render_fields(view, snap, ctx)
        if wanted is None:
            fields = {**fields, **extra_fields(view, ctx), "worklog": worklog_field(view, ctx)}
        else:
            fields = {k: v for k, v in fields.items() if k in wanted}
            if not wanted.isdisjoint(EXTRA_FIELDS):
                extra = extra_fields(view, ctx)
                fields.update((k, v) for k, v in extra.items() if k in wanted)
            if "worklog" in wanted:  # rendered only when asked: it is the costly one
                fields["worklog"] = worklog_field(view, ctx)
        result["fields"] = fields
    else:
        result["fields"] = {}
    return result
