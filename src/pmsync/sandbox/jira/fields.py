"""Jira's field catalogue (``/field``) and the ``fields`` request parameter.

``/field`` is how clients find custom fields such as Story Points by name, so the
custom field is listed with its schema and clause names exactly where Jira puts
them; ``select`` implements ``*all``, ``*navigable``, lists and ``-field``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

# id, name, schema type, clause names, navigable, items
_SYSTEM: tuple[tuple[str, str, str, tuple[str, ...], bool, str | None], ...] = (
    ("issuekey", "Key", "", ("id", "issue", "issuekey", "key"), True, None),
    ("summary", "Summary", "string", ("summary",), True, None),
    ("description", "Description", "string", ("description",), True, None),
    ("issuetype", "Issue Type", "issuetype", ("issuetype", "type"), True, None),
    ("status", "Status", "status", ("status",), True, None),
    ("statusCategory", "Status Category", "statusCategory", ("statusCategory",), True, None),
    (
        "statuscategorychangedate",
        "Status Category Changed",
        "datetime",
        ("statusCategoryChangedDate",),
        True,
        None,
    ),
    ("priority", "Priority", "priority", ("priority",), True, None),
    ("assignee", "Assignee", "user", ("assignee",), True, None),
    ("reporter", "Reporter", "user", ("reporter",), True, None),
    ("creator", "Creator", "user", ("creator",), True, None),
    ("created", "Created", "datetime", ("created", "createdDate"), True, None),
    ("updated", "Updated", "datetime", ("updated", "updatedDate"), True, None),
    ("resolutiondate", "Resolved", "datetime", ("resolutiondate", "resolved"), True, None),
    ("resolution", "Resolution", "resolution", ("resolution",), True, None),
    ("duedate", "Due date", "date", ("due", "duedate"), True, None),
    ("labels", "Labels", "array", ("labels",), True, "string"),
    ("components", "Components", "array", ("component",), True, "component"),
    ("fixVersions", "Fix versions", "array", ("fixVersion",), True, "version"),
    ("parent", "Parent", "issuelink", ("parent",), True, None),
    ("project", "Project", "project", ("project",), True, None),
    (
        "timeoriginalestimate",
        "Original estimate",
        "number",
        ("originalEstimate", "timeoriginalestimate"),
        True,
        None,
    ),
    (
        "timeestimate",
        "Remaining Estimate",
        "number",
        ("remainingEstimate", "timeestimate"),
        True,
        None,
    ),
    ("timespent", "Time Spent", "number", ("timespent",), True, None),
    ("aggregatetimespent", "Σ Time Spent", "number", (), True, None),
    ("worklog", "Log Work", "array", (), False, "worklog"),
    # Returned by *all (and, the navigable ones, by *navigable); a scenario has no
    # comments, votes, watchers, links, attachments or affected versions, so these
    # come as Jira gives them for an issue without any (payloads.extra_fields).
    ("comment", "Comment", "comments-page", ("comment",), False, None),
    ("votes", "Votes", "votes", ("votes",), True, None),
    ("watches", "Watchers", "watches", ("watchers",), True, None),
    ("subtasks", "Sub-tasks", "array", ("subtasks",), True, "issuelinks"),
    ("issuelinks", "Linked Issues", "array", ("issueLink",), True, "issuelinks"),
    ("versions", "Affects versions", "array", ("affectedVersion",), True, "version"),
    ("attachment", "Attachment", "array", ("attachments",), False, "attachment"),
    ("environment", "Environment", "string", ("environment",), True, None),
    ("security", "Security Level", "securitylevel", ("level",), True, None),
    ("lastViewed", "Last Viewed", "datetime", ("lastViewed",), True, None),
    ("workratio", "Work Ratio", "number", ("workratio",), True, None),
    ("progress", "Progress", "progress", ("progress",), True, None),
    ("aggregateprogress", "Σ Progress", "progress", (), True, None),
    ("aggregatetimeoriginalestimate", "Σ Original Estimate", "number", (), True, None),
    ("aggregatetimeestimate", "Σ Remaining Estimate", "number", (), True, None),
    ("timetracking", "Time tracking", "timetracking", (), False, None),
)
_COMPUTED = frozenset(
    {
        "issuekey",
        "created",
        "updated",
        "resolutiondate",
        "votes",
        "watches",
        "subtasks",
        "lastViewed",
        "workratio",
        "progress",
        "aggregateprogress",
        "aggregatetimeoriginalestimate",
        "aggregatetimeestimate",
        "aggregatetimespent",
    }
)
"""Fields Jira computes, which no edit screen can hold (``orderable: false``)."""


def field_catalogue(story_points_field: str) -> list[dict[str, Any]]:
    """Return ``/field``: the system fields and the Story Points custom field."""
    result = []
    for fid, name, kind, clauses, navigable, items in _SYSTEM:
        entry: dict[str, Any] = {
            "id": fid,
            "key": fid,
            "name": name,
            "custom": False,
            "orderable": fid not in _COMPUTED,
            "navigable": navigable,
            "searchable": bool(clauses),
            "clauseNames": list(clauses),
        }
        if kind:
            schema: dict[str, Any] = {"type": kind, "system": fid}
            if items:
                schema["items"] = items
            entry["schema"] = schema
        result.append(entry)
    number = story_points_field.rsplit("_", 1)[-1]
    result.append(
        {
            "id": story_points_field,
            "key": story_points_field,
            "name": "Story Points",
            "untranslatedName": "Story Points",
            "custom": True,
            "orderable": True,
            "navigable": True,
            "searchable": True,
            "clauseNames": [f"cf[{number}]", "Story Points"],
            "schema": {
                "type": "number",
                "custom": "com.atlassian.jira.plugin.system.customfieldtypes:float",
                "customId": int(number) if number.isdigit() else 0,
            },
        }
    )
    return result


def all_fields(story_points_field: str) -> set[str]:
    """Return the ids of every field an issue payload carries."""
    return {f[0] for f in _SYSTEM if f[0] != "issuekey"} | {story_points_field}


def navigable_fields(story_points_field: str) -> set[str]:
    """Return the ids of the navigable fields (the old search's default)."""
    return {f[0] for f in _SYSTEM if f[4] and f[0] != "issuekey"} | {story_points_field}


def select(
    requested: Iterable[str] | None, story_points_field: str, default: str
) -> set[str] | None:
    """Return the field ids a ``fields`` parameter asks for (None: all of them).

    ``default`` is ``"id"`` (enhanced search: no fields unless asked),
    ``"*navigable"`` (old search) or ``"*all"`` (issue GET).
    """
    tokens = [t.strip() for item in (requested or ()) for t in str(item).split(",")]
    tokens = [t for t in tokens if t]
    if not tokens:
        tokens = [default]
    positives = [t for t in tokens if not t.startswith("-")]
    chosen: set[str] = set()
    if not positives:
        chosen = navigable_fields(story_points_field)
    for token in positives:
        if token == "*all":
            chosen |= all_fields(story_points_field)
        elif token == "*navigable":
            chosen |= navigable_fields(story_points_field)
        elif token not in ("id", "key", "issuekey", "*none"):
            chosen.add(token)
    for token in tokens:
        if token.startswith("-"):
            chosen.discard(token[1:])
    return None if chosen == all_fields(story_points_field) else chosen
