"""The pulls behind each stream: issues, worklogs, worklog deletions, fix versions.

Why the cursors look as they do (each page's cursor is valid once its records
are stored, and the engine stores both in one transaction):

* ``issues``: ``updated_ms`` is the newest ``updated`` among stored issues; the
  next pass asks for ``updated >= updated_ms - overlap`` ordered oldest first,
  so issues sharing the boundary instant (150 of them across a page boundary)
  or indexed late are read again. ``seen`` holds the ``updated`` of the issues
  inside the overlap window, so re-reading them costs one request and no
  records. ``reconciled_ms`` says when every id was last listed (deletions);
  ``fields`` and ``flavour`` spare ``/field`` and ``/serverInfo`` on every pass.
* ``worklogs`` / ``worklog_deletions``: ``since_ms`` of Jira's own change feeds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pmsync.connectors import ConnectorContext, skip_refused
from pmsync.errors import FatalSourceError
from pmsync.ids import ExternalIds
from pmsync.records import Deletion, Page, Quarantined, Record
from pmsync_jira import jql, mapping
from pmsync_jira.client import Flavour, JiraClient
from pmsync_jira.settings import JiraSettings

ISSUE_FIELDS = (
    "summary",
    "issuetype",
    "status",
    "priority",
    "assignee",
    "reporter",
    "created",
    "updated",
    "resolutiondate",
    "duedate",
    "labels",
    "components",
    "fixVersions",
    "parent",
    "project",
    "timeoriginalestimate",
    "timeestimate",
    "timespent",
)
CHANGELOG_PAGE = 100
WORKLOG_PAGE = 5000
WORKLOG_LIST_MAX = 1000


def epoch_ms(moment: datetime) -> int:
    """Return an aware datetime as epoch milliseconds."""
    return int(moment.timestamp() * 1000)


@dataclass(slots=True)
class IssueCursor:
    """The ``issues`` cursor (see the module docstring)."""

    updated_ms: int | None = None
    seen: dict[str, int] = field(default_factory=dict)
    reconciled_ms: int | None = None
    fields: dict[str, str] = field(default_factory=dict)
    """Custom field name → id, as resolved through ``/field``."""
    flavour: str | None = None

    @classmethod
    def load(cls, data: Any) -> IssueCursor:
        """Read a stored cursor; anything unreadable starts over."""
        if not isinstance(data, dict) or data.get("v") != 1:
            return cls()
        return cls(
            updated_ms=data.get("updated_ms"),
            seen={str(k): int(v) for k, v in (data.get("seen") or {}).items()},
            reconciled_ms=data.get("reconciled_ms"),
            fields={str(k): str(v) for k, v in (data.get("fields") or {}).items()},
            flavour=data.get("flavour"),
        )

    def dump(self) -> dict[str, Any]:
        """Return the cursor as JSON-ready values."""
        return {
            "v": 1,
            "updated_ms": self.updated_ms,
            "seen": dict(self.seen),
            "reconciled_ms": self.reconciled_ms,
            "fields": dict(self.fields),
            "flavour": self.flavour,
        }

    def stored(self, issue_id: str, updated_ms: int, overlap_ms: int) -> None:
        """Note an issue as stored; keep ``seen`` to the overlap window."""
        if self.updated_ms is None or updated_ms > self.updated_ms:
            self.updated_ms = updated_ms
            floor = updated_ms - overlap_ms
            self.seen = {k: v for k, v in self.seen.items() if v >= floor}
        if updated_ms >= self.updated_ms - overlap_ms:
            self.seen[issue_id] = updated_ms


class IssuePull:
    """One pass of the ``issues`` stream."""

    def __init__(
        self, client: JiraClient, settings: JiraSettings, context: ConnectorContext
    ) -> None:
        self.client, self.settings, self.context = client, settings, context
        self.overlap_ms = settings.overlap_minutes * 60_000

    def run(self, cursor: Any, full: bool, complete: bool = True) -> Iterator[Page]:
        """Yield the pages of changed issues, then the id lists that reveal deletions.

        ``complete=False`` (some configured project was left out) lists no ids and
        leaves the cursor's last reconciliation as it was.
        """
        state = IssueCursor() if full else IssueCursor.load(cursor)
        whole = full or state.updated_ms is None
        now_ms = epoch_ms(self.context.now())
        self.client.remember_flavour(state.flavour)
        flavour = state.flavour = self.client.flavour()
        ids = self._field_ids(state, whole)
        since = None if whole else (state.updated_ms or 0) - self.overlap_ms
        query = (
            jql.everything(self.settings)
            if since is None
            else jql.updated_since(self.settings, since)
        )
        fields = [*ISSUE_FIELDS, *dict.fromkeys(ids.by_logical.values())]
        every_id = ExternalIds()
        for issues in jql.search(
            self.client,
            flavour,
            query,
            fields=fields,
            expand=("changelog",),
            page_size=self.settings.page_size,
        ):
            records: list[Record] = []
            for issue in issues:
                records.extend(self._issue(issue, state, ids, flavour, since, every_id))
            yield Page(records, cursor=state.dump())
        due = state.reconciled_ms is None or (
            now_ms - state.reconciled_ms >= self.settings.reconcile_every.total_seconds() * 1000
        )
        if complete and (whole or due):
            if not whole:
                every_id = self._all_ids(flavour)
            state.reconciled_ms = now_ms
            yield from self._complete(every_id, state)

    def _field_ids(self, state: IssueCursor, whole: bool) -> mapping.FieldIds:
        wanted = self.settings.fields
        if whole or any(name not in state.fields for name in wanted.values()):
            found, _missing = self.client.field_ids(wanted)
            # A field the site lacks is simply not mapped; check() reports it.
            state.fields = {wanted[k]: v for k, v in found.items()}
        return mapping.FieldIds(
            {k: state.fields[n] for k, n in wanted.items() if n in state.fields}
        )

    def _issue(
        self,
        issue: Any,
        state: IssueCursor,
        ids: mapping.FieldIds,
        flavour: Flavour,
        since: int | None,
        every_id: ExternalIds,
    ) -> list[Record]:
        issue_id = str(issue.get("id", "")) if isinstance(issue, dict) else ""
        if issue_id:
            every_id.add(issue_id)
        try:
            updated_ms = mapping.parse_ms(issue["fields"]["updated"])
        except (KeyError, TypeError, ValueError) as err:
            return [_quarantine(issue_id or "?", "work_item", f"no usable updated: {err}", issue)]
        if state.seen.get(issue_id) == updated_ms:
            return []  # re-read by the overlap window, unchanged since it was stored
        records: list[Record] = []
        try:
            item, problem = mapping.work_item(issue, ids, self.settings.url)
            records.append(item)
            if problem is not None:
                records.append(problem)
            histories = self._histories(issue, flavour, since)
            sp_name = self.settings.fields.get("story_points", "Story Points")
            records.extend(mapping.changes(issue_id, histories, (ids.story_points, sp_name)))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            key = issue.get("key", issue_id)
            reason = f"issue {key} not understood ({type(err).__name__}: {err})"
            return [_quarantine(issue_id, "work_item", reason, issue)]
        state.stored(issue_id, updated_ms, self.overlap_ms)
        return records

    def _histories(self, issue: Any, flavour: Flavour, since: int | None) -> list[Any]:
        """Return the issue's histories, fetching the rest when search truncated them."""
        log = issue.get("changelog") or {}
        shown = list(log.get("histories") or [])
        total = log.get("total")
        if not isinstance(total, int) or total <= len(shown):
            return shown
        if since is not None and shown:
            oldest = min(mapping.parse_ms(h["created"]) for h in shown)
            if oldest < since:
                return shown  # everything newer than the last pass is already embedded
        issue_id = str(issue["id"])
        if flavour == "datacenter":
            body = self.client.get(f"issue/{issue_id}", {"expand": "changelog", "fields": "id"})
            return list((body.get("changelog") or {}).get("histories") or [])
        every: list[Any] = []
        start = 0
        while True:
            page = self.client.get(
                f"issue/{issue_id}/changelog", {"startAt": start, "maxResults": CHANGELOG_PAGE}
            )
            values = list(page.get("values") or [])
            every.extend(values)
            start += len(values)
            if page.get("isLast", True) or not values:
                return every

    def _all_ids(self, flavour: Flavour) -> ExternalIds:
        """List every issue id in scope (ids only: up to 5000 a page on Cloud)."""
        found = ExternalIds()
        for issues in jql.search(
            self.client,
            flavour,
            f"{jql.scope(self.settings)} ORDER BY id ASC",
            fields=["id"],
            page_size=jql.ID_PAGE[flavour],
        ):
            found.update(str(i["id"]) for i in issues if "id" in i)
        return found

    def _complete(self, every_id: ExternalIds, state: IssueCursor) -> Iterator[Page]:
        # Every project's scope gets the ids of *all* projects: an issue moved from
        # A to B keeps its id, and must not be deleted by A's reconciliation before
        # its update under B is stored.
        scopes: list[str | None] = list(self.settings.projects) or [None]
        for scope in scopes:
            yield Page([], cursor=state.dump(), complete_ids={"work_item": every_id}, scope=scope)


def _quarantine(external_id: str, kind: str, reason: str, payload: Any) -> Quarantined:
    return Quarantined(external_id, kind, reason, payload)


# --- projects Jira does not know ------------------------------------------------------

_UNKNOWN_PROJECT = re.compile(r"The value '([^']+)' does not exist for the field 'project'")
"""Jira's 400 for a JQL naming a project that is gone or hidden (Cloud and Data Center)."""


def without_unknown_projects(
    settings: JiraSettings, pull: Callable[[JiraSettings, bool], Iterator[Page]]
) -> Iterator[Page]:
    """Run a stream whose JQL names the projects; skip those Jira does not know.

    Jira refuses a JQL that names a project it does not know (deleted, or no longer
    visible to the account) as a whole, so one such key in ``projects`` would stop
    the issues and worklogs of every project. Each stream's first JQL request comes
    before its first page, so the refusal is seen there: the keys Jira names are
    left out and the stream starts again without them (``pull(settings, False)``:
    its ids would not be complete, so it reconciles no deletions), and each is
    reported as skipped. The cursor moves on for the projects read: issues of
    the skipped project updated meanwhile come back with the next full pull.
    """
    refused: dict[str, str] = {}
    while True:
        pages = pull(settings, not refused)
        try:
            first = next(pages, None)
            break
        except FatalSourceError as err:
            unknown = {k for k in _UNKNOWN_PROJECT.findall(str(err)) if k in settings.projects}
            left = [k for k in settings.projects if k not in unknown]
            if not unknown or not left:
                raise
            refused.update(dict.fromkeys(sorted(unknown), str(err).splitlines()[0]))
            settings = settings.model_copy(update={"projects": left})
    for key, reason in refused.items():
        yield Page(records=(), scope=key, skipped=reason)
    if first is not None:
        yield first
        yield from pages


# --- worklogs -------------------------------------------------------------------------


def pull_worklogs(
    client: JiraClient,
    settings: JiraSettings,
    context: ConnectorContext,
    cursor: Any,
    full: bool,
    complete: bool = True,
) -> Iterator[Page]:
    """Yield worklogs: every issue's on a full pull, else Jira's ``/worklog/updated`` feed.

    ``complete=False`` (some configured project was left out): a full pull lists
    no ids for deletions.
    """
    since = None if full or not isinstance(cursor, dict) else cursor.get("since_ms")
    if since is None:
        yield from _all_worklogs(client, settings, context, complete)
        return
    while True:
        feed = client.get("worklog/updated", {"since": int(since)})
        ids = [str(v["worklogId"]) for v in feed.get("values") or () if "worklogId" in v]
        records: list[Record] = []
        for start in range(0, len(ids), WORKLOG_LIST_MAX):
            records.extend(_listed(client, settings, ids[start : start + WORKLOG_LIST_MAX]))
        since, last = _next_since(feed, int(since), bool(ids))
        yield Page(records, cursor={"since_ms": since})
        if last:
            return


def _next_since(feed: Any, since: int, any_values: bool) -> tuple[int, bool]:
    """Return where a worklog feed resumes after this page, and whether it was the last.

    ``since`` is inclusive and the feed withholds its last minute, so after the
    last page everything up to ``until`` is final: resume one millisecond later
    (else the newest worklog comes back on every pass). Inside a pass, Jira's
    ``nextPage`` repeats ``until``, and so do we.
    """
    until = feed.get("until")
    last = bool(feed.get("lastPage", True)) or not any_values
    if not isinstance(until, int) or not any_values:
        return since, True
    if not last and until <= since:
        raise FatalSourceError(
            f"worklog feed: more than a page of worklogs at one instant ({until}); cannot page on"
        )
    return (until + 1 if last else until), last


def _listed(client: JiraClient, settings: JiraSettings, ids: list[str]) -> list[Record]:
    """Fetch worklogs by id and keep those of issues in scope (the feed is site-wide)."""
    answer = client.post("worklog/list", {"ids": [int(i) for i in ids]})
    if not isinstance(answer, list):
        raise FatalSourceError("POST /worklog/list: the answer is not a list")
    issue_ids = sorted({str(w.get("issueId")) for w in answer if isinstance(w, dict)})
    issue_ids = [i for i in issue_ids if i.isdigit()]
    in_scope: set[str] = set()
    flavour = client.flavour()
    for start in range(0, len(issue_ids), WORKLOG_LIST_MAX):
        chunk = issue_ids[start : start + WORKLOG_LIST_MAX]
        for issues in jql.search(
            client, flavour, jql.among(settings, chunk), fields=["id"], page_size=len(chunk)
        ):
            in_scope.update(str(i["id"]) for i in issues if "id" in i)
    records: list[Record] = []
    for data in answer:
        if isinstance(data, dict) and str(data.get("issueId")) in in_scope:
            records.append(_worklog(data, None))
    return records


def _worklog(data: Any, issue_id: str | None) -> Record:
    try:
        return mapping.worklog(data, issue_id)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        wid = str(data.get("id", "?")) if isinstance(data, dict) else "?"
        return _quarantine(wid, "worklog", f"worklog not understood ({err})", data)


def _all_worklogs(
    client: JiraClient, settings: JiraSettings, context: ConnectorContext, complete: bool
) -> Iterator[Page]:
    """Read every in-scope issue's worklogs: embedded in search, the rest page by page."""
    # The feed cursor starts before the pull, so nothing logged meanwhile is missed.
    since = epoch_ms(client.server_time()) - settings.overlap_minutes * 60_000
    cursor = {"since_ms": since}
    every = ExternalIds()  # one scope: at a million items, hundreds of thousands of ids
    flavour = client.flavour()
    for issues in jql.search(
        client,
        flavour,
        f"{jql.scope(settings)} ORDER BY id ASC",
        fields=["worklog"],
        page_size=settings.page_size,
    ):
        records: list[Record] = []
        for issue in issues:
            issue_id = str(issue.get("id"))
            embedded = (issue.get("fields") or {}).get("worklog") or {}
            logs = list(embedded.get("worklogs") or [])
            total = embedded.get("total")
            if isinstance(total, int) and total > len(logs):
                logs = _issue_worklogs(client, issue_id)
            for data in logs:
                record = _worklog(data, issue_id)
                every.add(record.external_id)
                records.append(record)
        yield Page(records, cursor=None)
    yield Page([], cursor=cursor, complete_ids={"worklog": every} if complete else None)


def _issue_worklogs(client: JiraClient, issue_id: str) -> list[Any]:
    """Page through one issue's worklogs."""
    every: list[Any] = []
    start = 0
    while True:
        page = client.get(
            f"issue/{issue_id}/worklog", {"startAt": start, "maxResults": WORKLOG_PAGE}
        )
        values = list(page.get("worklogs") or [])
        every.extend(values)
        start += len(values)
        total = page.get("total")
        if not values or not isinstance(total, int) or start >= total:
            return every


def pull_worklog_deletions(
    client: JiraClient, settings: JiraSettings, context: ConnectorContext, cursor: Any, full: bool
) -> Iterator[Page]:
    """Yield a Deletion per worklog Jira reports deleted since the cursor."""
    since = None if full or not isinstance(cursor, dict) else cursor.get("since_ms")
    if since is None:
        # A full worklog pull reconciles deletions itself; the feed starts from now.
        start = epoch_ms(client.server_time()) - settings.overlap_minutes * 60_000
        yield Page([], cursor={"since_ms": start})
        return
    while True:
        feed = client.get("worklog/deleted", {"since": int(since)})
        values = [v for v in feed.get("values") or () if "worklogId" in v]
        records: list[Record] = [Deletion(str(v["worklogId"]), "worklog") for v in values]
        since, last = _next_since(feed, int(since), bool(values))
        yield Page(records, cursor={"since_ms": since})
        if last:
            return


# --- fix versions -----------------------------------------------------------------------


def pull_versions(client: JiraClient, settings: JiraSettings) -> Iterator[Page]:
    """Yield every configured project's fix versions, each project a complete scope.

    A project Jira refuses (deleted, renamed, or no longer visible: 404) is skipped
    with its reason, and the other projects' versions are still read.
    """
    for key in settings.projects:
        yield from skip_refused(key, _project_versions(client, settings, key))


def _project_versions(client: JiraClient, settings: JiraSettings, key: str) -> Iterator[Page]:
    """Yield one project's fix versions as one complete page."""
    answer = client.get(f"project/{key}/versions")
    if not isinstance(answer, list):
        raise FatalSourceError(f"GET /project/{key}/versions: the answer is not a list")
    records: list[Record] = []
    for data in answer:
        try:
            records.append(mapping.milestone(data, key, settings.url))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            vid = str(data.get("id", "?")) if isinstance(data, dict) else "?"
            records.append(_quarantine(vid, "source_milestone", f"version: {err}", data))
    ids = frozenset(r.external_id for r in records)
    yield Page(records, cursor={}, complete_ids={"source_milestone": ids}, scope=key)
