"""Issue changelogs as Jira writes them, derived from the scenario's timed history.

Each scenario change becomes one history with one item per field it set, carrying
Jira's ``from``/``fromString``/``to``/``toString`` (ids and display strings), so
a connector can rebuild status, estimate, assignee and fix-version histories.
Search embeds only the most recent histories (``changelog.total`` tells how many
there are); ``/issue/{key}/changelog`` pages through all of them, oldest first.
"""

from __future__ import annotations

from typing import Any

from pmsync.sandbox.jira.payloads import Context, jira_time, person_json
from pmsync.sandbox.jira.world import IssueView, numeric_id

_PLAIN = {
    "summary": "summary",
    "description": "description",
    "due_date": "duedate",
    "issuetype": "issuetype",
    "resolution": "resolution",
    "priority": "priority",
}
_SECONDS = {"original_estimate": "timeoriginalestimate", "remaining_estimate": "timeestimate"}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _user_ref(person_id: Any, ctx: Context) -> tuple[str | None, str | None]:
    user = person_json(person_id, ctx)
    if user is None:
        return None, None
    return user.get("accountId") or user.get("name"), user["displayName"]


def _items(name: str, old: Any, new: Any, ctx: Context) -> list[dict[str, Any]]:
    data = ctx.data
    if name == "status":
        before, after = data.status(old or "To Do"), data.status(new)
        return [
            {
                "field": "status",
                "fieldtype": "jira",
                "fieldId": "status",
                "from": before.id,
                "fromString": before.name,
                "to": after.id,
                "toString": after.name,
            }
        ]
    if name in ("assignee", "reporter"):
        (old_id, old_name), (new_id, new_name) = _user_ref(old, ctx), _user_ref(new, ctx)
        return [
            {
                "field": name,
                "fieldtype": "jira",
                "fieldId": name,
                "from": old_id,
                "fromString": old_name,
                "to": new_id,
                "toString": new_name,
            }
        ]
    if name in ("fix_versions", "components"):
        was, now = [str(x) for x in old or ()], [str(x) for x in new or ()]
        field, field_id = (
            ("Fix Version", "fixVersions")
            if name == "fix_versions"
            else ("Component", "components")
        )

        def label(value: str) -> tuple[str, str]:
            if name == "fix_versions":
                version = data.versions.get(value)
                return value, version[1].name if version else value
            return str(numeric_id(value) % 100000), value

        items = []
        for removed in (x for x in was if x not in now):
            rid, rname = label(removed)
            items.append(
                {
                    "field": field,
                    "fieldtype": "jira",
                    "fieldId": field_id,
                    "from": rid,
                    "fromString": rname,
                    "to": None,
                    "toString": None,
                }
            )
        for added in (x for x in now if x not in was):
            aid, aname = label(added)
            items.append(
                {
                    "field": field,
                    "fieldtype": "jira",
                    "fieldId": field_id,
                    "from": None,
                    "fromString": None,
                    "to": aid,
                    "toString": aname,
                }
            )
        return items
    if name == "labels":
        return [
            {
                "field": "labels",
                "fieldtype": "jira",
                "fieldId": "labels",
                "from": None,
                "fromString": " ".join(old or ()),
                "to": None,
                "toString": " ".join(new or ()),
            }
        ]
    if name == "story_points":
        return [
            {
                "field": "Story Points",
                "fieldtype": "custom",
                "fieldId": data.story_points_field,
                "from": None,
                "fromString": _text(old),
                "to": None,
                "toString": _text(new),
            }
        ]
    if name in _SECONDS:
        return [
            {
                "field": _SECONDS[name],
                "fieldtype": "jira",
                "fieldId": _SECONDS[name],
                "from": _text(old),
                "fromString": _text(old),
                "to": _text(new),
                "toString": _text(new),
            }
        ]
    if name == "key":
        return [
            {
                "field": "Key",
                "fieldtype": "jira",
                "from": None,
                "fromString": _text(old),
                "to": None,
                "toString": _text(new),
            }
        ]
    if name == "project":
        before_p = data.projects.get(str(old).upper()) if old else None
        after_p = data.projects.get(str(new).upper()) if new else None
        return [
            {
                "field": "project",
                "fieldtype": "jira",
                "fieldId": "project",
                "from": before_p.id if before_p else None,
                "fromString": before_p.name if before_p else _text(old),
                "to": after_p.id if after_p else None,
                "toString": after_p.name if after_p else _text(new),
            }
        ]
    field = _PLAIN.get(name, name)
    return [
        {
            "field": field,
            "fieldtype": "jira",
            "fieldId": field,
            "from": None,
            "fromString": _text(old),
            "to": None,
            "toString": _text(new),
        }
    ]


def histories(view: IssueView, ctx: Context) -> list[dict[str, Any]]:
    """Return every history of the issue up to the snapshot's instant, oldest first."""
    state: dict[str, Any] = dict(view.spec.fields)
    state.setdefault("key", view.spec.key)
    state.setdefault("project", view.spec.project)
    result = []
    for number, change in enumerate(view.changes, start=1):
        items: list[dict[str, Any]] = []
        for name, new in change.set.items():
            old = state.get(name)
            if old != new:
                items.extend(_items(name, old, new, ctx))
            state[name] = new
        if not items:
            continue
        history: dict[str, Any] = {"id": f"{view.id_num}{number:04d}"}
        author = person_json(change.author, ctx)
        if author is not None:
            history["author"] = author
        history["created"] = jira_time(change.at, ctx.zone)
        history["items"] = items
        result.append(history)
    return result


def embedded(view: IssueView, ctx: Context, cap: int | None) -> dict[str, Any]:
    """Return the changelog a search embeds: the ``cap`` most recent histories (None: all)."""
    every = histories(view, ctx)
    shown = list(reversed(every))[:cap] if cap else list(reversed(every))
    return {"startAt": 0, "maxResults": len(shown), "total": len(every), "histories": shown}
