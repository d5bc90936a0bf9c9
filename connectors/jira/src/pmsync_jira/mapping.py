"""Jira JSON → unified records: issues, changelog items, worklogs, fix versions.

Why a module of pure functions: the payload shape is the one thing that differs
between Cloud, Data Center and the REST versions, and pure functions over raw
JSON can be tested against Atlassian's documented examples without a server.
Times are parsed with their offset (Jira writes them in the *requesting user's*
zone, ``2026-01-05T10:00:00.000+0530``) and converted to UTC; a value that does
not parse raises ``ValueError`` and the caller quarantines the item.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from pmsync.records import (
    PersonRef,
    Quarantined,
    SourceMilestone,
    StatusCategory,
    WorkItem,
    WorkItemChange,
    Worklog,
)

STATUS_CATEGORIES: dict[str, StatusCategory] = {
    "new": "todo",
    "undefined": "todo",
    "indeterminate": "in_progress",
    "done": "done",
}
"""Jira's statusCategory key → pmsync's category (a per-project status map overrides)."""

TRACKED_CHANGES = {
    "status": "status",
    "timeoriginalestimate": "original_estimate",
    "timeestimate": "remaining_estimate",
    "assignee": "assignee",
    "fix version": "fix_version",
    "fixversions": "fix_version",
    "sprint": "sprint",
}
"""Changelog field (name or id, lower case) → the history pmsync keeps."""

_BY_ID = {"assignee", "fix_version", "original_estimate", "remaining_estimate"}
"""Histories whose ``from``/``to`` (ids, seconds) matter more than the display strings."""


@dataclass(frozen=True, slots=True)
class FieldIds:
    """The custom fields of this site, resolved by name through ``/field``."""

    by_logical: Mapping[str, str]

    @property
    def story_points(self) -> str | None:
        """Return the id of the story points field, if the site has one."""
        return self.by_logical.get("story_points")


def parse_time(value: Any) -> datetime:
    """Parse a Jira timestamp (``...T10:00:00.000+0000`` or epoch ms) as aware UTC."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, UTC)
    text = str(value).strip()
    # fromisoformat (C, Python 3.11+) reads ``.000+0530`` and ``Z`` itself; strptime,
    # ten times slower, was a third of the mapping time of a page of issues.
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is not None and parsed.tzinfo is not None:
        return parsed.astimezone(UTC)
    for pattern in ("%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z"):
        try:
            return datetime.strptime(text, pattern).astimezone(UTC)
        except ValueError:
            continue
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp without an offset: {text!r}")
    return parsed.astimezone(UTC)


def parse_ms(value: Any) -> int:
    """Return a Jira timestamp as epoch milliseconds."""
    return int(parse_time(value).timestamp() * 1000)


def parse_date(value: Any) -> date | None:
    """Parse a Jira date (``2026-02-01``); None when empty."""
    if value in (None, ""):
        return None
    return date.fromisoformat(str(value)[:10])


def parse_number(value: Any) -> float | None:
    """Return a numeric custom field value as a float; raise ``ValueError`` if it is not one."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return float(value.strip().replace(",", "."))
    raise ValueError(f"{value!r} is not a number")


def person(user: Any) -> PersonRef | None:
    """Return a Jira user (Cloud ``accountId``, Data Center ``name``/``key``) as a PersonRef."""
    if not isinstance(user, dict):
        return None
    login = user.get("accountId") or user.get("name") or user.get("key")
    if not login:
        return None
    return PersonRef(
        login=str(login),
        display_name=user.get("displayName"),
        email=user.get("emailAddress") or None,
    )


def plain_text(value: Any) -> str | None:
    """Return rich text as plain text (Cloud v3 ADF documents or v2 strings)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if value.get("type") == "text":
            return str(value.get("text", ""))
        parts = [plain_text(c) or "" for c in value.get("content") or []]
        joiner = "\n\n" if value.get("type") == "doc" else ""
        return joiner.join(parts)
    return str(value)


def _simplify(value: Any) -> Any:
    """Custom field values as their visible text: options, users and versions by name."""
    if isinstance(value, list):
        return [_simplify(v) for v in value]
    if isinstance(value, dict):
        for key in ("value", "name", "displayName", "key"):
            if key in value:
                return value[key]
    return value


def _name(value: Any) -> str | None:
    return str(value["name"]) if isinstance(value, dict) and value.get("name") else None


def work_item(
    issue: Mapping[str, Any], fields_ids: FieldIds, base_url: str
) -> tuple[WorkItem, Quarantined | None]:
    """Map a search/issue payload to a WorkItem, and a quarantine note for a bad custom field."""
    issue_id, key = str(issue["id"]), str(issue["key"])
    fields = issue["fields"]
    status = fields["status"]
    category_key = str((status.get("statusCategory") or {}).get("key", "")).lower()
    category = STATUS_CATEGORIES.get(category_key)
    if category is None:
        raise ValueError(f"unknown status category {category_key!r} of status {status!r}")
    problem: Quarantined | None = None
    story_points: float | None = None
    custom: dict[str, Any] = {}
    sp_field = fields_ids.story_points
    if sp_field is not None:
        raw_points = fields.get(sp_field)
        try:
            story_points = parse_number(raw_points)
        except ValueError:
            custom["story_points_unparsed"] = raw_points
            problem = Quarantined(
                issue_id,
                "work_item",
                f"{key}: story points value {raw_points!r} ({sp_field}) is not a number; "
                "the issue is stored without story points",
                {"key": key, "field": sp_field, "value": raw_points},
            )
    for logical, field_id in fields_ids.by_logical.items():
        if logical != "story_points":
            custom[logical] = _simplify(fields.get(field_id))
    parent = fields.get("parent") if isinstance(fields.get("parent"), dict) else None
    parent_key = str(parent["key"]) if parent and parent.get("key") else None
    parent_type = ((parent or {}).get("fields") or {}).get("issuetype") or {}
    epic_key = parent_key if str(parent_type.get("name", "")).lower() == "epic" else None
    if epic_key is None and isinstance(custom.get("epic_link"), str):
        epic_key = custom["epic_link"]
    raw = {k: v for k, v in issue.items() if k not in ("changelog",)}
    raw["fields"] = {k: v for k, v in fields.items() if k != "worklog"}
    item = WorkItem(
        external_id=issue_id,
        key=key,
        title=str(fields.get("summary") or ""),
        container=str(fields["project"]["key"]),
        item_type=str(fields["issuetype"]["name"]),
        status=str(status["name"]),
        status_category=category,
        created_at=parse_time(fields["created"]),
        updated_at=parse_time(fields["updated"]),
        url=f"{base_url}/browse/{key}",
        resolved_at=parse_time(fields["resolutiondate"]) if fields.get("resolutiondate") else None,
        due_date=parse_date(fields.get("duedate")),
        priority=_name(fields.get("priority")),
        assignee=person(fields.get("assignee")),
        reporter=person(fields.get("reporter")),
        labels=tuple(str(x) for x in fields.get("labels") or ()),
        components=tuple(n for c in fields.get("components") or () if (n := _name(c))),
        parent_key=parent_key,
        epic_key=epic_key,
        milestones=tuple(str(v["id"]) for v in fields.get("fixVersions") or () if "id" in v),
        story_points=story_points,
        original_estimate_seconds=_seconds(fields.get("timeoriginalestimate")),
        remaining_estimate_seconds=_seconds(fields.get("timeestimate")),
        time_spent_seconds=_seconds(fields.get("timespent")),
        custom=custom,
        raw=raw,
    )
    return item, problem


def _seconds(value: Any) -> int | None:
    return None if value is None else int(value)


def changes(
    issue_id: str, histories: list[Any], story_points: tuple[str | None, str]
) -> Iterator[WorkItemChange | Quarantined]:
    """Yield the tracked field changes of a changelog (``story_points`` is (id, name))."""
    sp_id, sp_name = story_points
    for history in histories:
        try:
            at = parse_time(history["created"])
            author = person(history.get("author"))
            for index, item in enumerate(history.get("items") or ()):
                field = str(item.get("field") or "").lower()
                field_id = str(item.get("fieldId") or "").lower()
                tracked = TRACKED_CHANGES.get(field) or TRACKED_CHANGES.get(field_id)
                if tracked is None and (
                    (sp_id and field_id == sp_id.lower()) or field == sp_name.lower()
                ):
                    tracked = "story_points"
                if tracked is None:
                    continue
                by_id = tracked in _BY_ID
                before = item.get("from") if by_id else item.get("fromString")
                after = item.get("to") if by_id else item.get("toString")
                yield WorkItemChange(
                    external_id=f"{history['id']}-{index}",
                    item_external_id=issue_id,
                    at=at,
                    field=tracked,
                    from_value=None if before in (None, "") else str(before),
                    to_value=None if after in (None, "") else str(after),
                    author=author,
                )
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            hid = history.get("id") if isinstance(history, dict) else None
            yield Quarantined(
                f"{hid}" if hid is not None else f"{issue_id}-history",
                "work_item_change",
                f"issue {issue_id}: changelog history not understood ({type(err).__name__}: {err})",
                history,
            )


def worklog(data: Mapping[str, Any], issue_id: str | None = None) -> Worklog:
    """Map a worklog payload to a Worklog."""
    author = person(data.get("author")) or person(data.get("updateAuthor"))
    return Worklog(
        external_id=str(data["id"]),
        item_external_id=str(data.get("issueId") or issue_id),
        author=author or PersonRef(login="unknown"),
        started_at=parse_time(data["started"]),
        seconds=int(data["timeSpentSeconds"]),
        updated_at=parse_time(data.get("updated") or data["started"]),
        comment=plain_text(data.get("comment")),
    )


def milestone(data: Mapping[str, Any], project_key: str, base_url: str) -> SourceMilestone:
    """Map a fix version payload to a SourceMilestone (released → closed)."""
    version_id = str(data["id"])
    return SourceMilestone(
        external_id=version_id,
        name=str(data["name"]),
        container=project_key,
        due_date=parse_date(data.get("releaseDate")),
        state="closed" if data.get("released") else "open",
        archived=bool(data.get("archived")),
        description=data.get("description") or None,
        url=f"{base_url}/projects/{project_key}/versions/{version_id}",
        raw=dict(data),
    )
