"""The Jira world as of the sandbox clock, kept up to date incrementally.

Rebuilding 100,000 issues' states for every request would make the sandbox the
bottleneck of every benchmark. A ``Snapshot`` instead holds each visible issue's
state at one instant, with indexes by project, by key (old keys of moved issues
included, as Jira redirects them) and by id. When the clock moves forward only
the issues with an event in between (creation, change, deletion, a worklog
booked, changed or deleted) are recomputed: each issue's next event time sits in
a heap, so an advance costs the number of events it crosses, not the world's size.
"""

from __future__ import annotations

import bisect
import functools
import heapq
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from pmsync.sandbox.scenario import (
    Change,
    JiraIssue,
    JiraProject,
    JiraStatus,
    JiraVersion,
    JiraWorklog,
    Person,
    Scenario,
    hash_id,
)


@functools.lru_cache(maxsize=65_536)
def numeric_id(text: str) -> int:
    """Return ``text`` as Jira's numeric id (a stable hash when it is not a number)."""
    return int(text) if text.isdigit() else 10_000_000 + hash_id(text) % 900_000_000


def epoch_ms(moment: datetime) -> int:
    """Return ``moment`` as epoch milliseconds."""
    return int(moment.timestamp() * 1000)


@dataclass(slots=True)
class WorklogView:
    """A worklog as of the snapshot's instant."""

    spec: JiraWorklog
    issue_id: str
    author: str
    started: datetime
    seconds: int
    comment: str
    updated: datetime
    update_author: str


@dataclass(slots=True)
class IssueView:
    """An issue as of the snapshot's instant: its state and what searches look at."""

    index: int
    spec: JiraIssue
    key: str
    project: str
    keys: tuple[str, ...]
    state: dict[str, Any]
    changes: list[Change]
    created: datetime
    updated: datetime
    created_ms: int
    updated_ms: int
    resolved: datetime | None
    resolved_ms: int | None
    id_num: int
    status: JiraStatus
    labels: tuple[str, ...]
    fix_versions: tuple[str, ...]
    worklogs: list[WorklogView]
    time_spent: int

    def key_order(self) -> tuple[str, int]:
        """Return the key's sort order: project key, then number."""
        project, _, number = self.key.rpartition("-")
        return project, int(number) if number.isdigit() else 0


class JiraData:
    """The scenario's Jira part, indexed once: projects, versions, statuses, people."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        world = scenario.jira
        self.issues: list[JiraIssue] = list(world.issues)
        self.people: dict[str, Person] = scenario.people_by_id()
        self.statuses = list(world.statuses)
        self.status_by_name = {s.name.lower(): s for s in world.statuses}
        self.status_by_id = {s.id: s for s in world.statuses}
        self.projects: dict[str, JiraProject] = {p.key.upper(): p for p in world.projects}
        self.project_by_id = {p.id: p for p in world.projects}
        self.versions: dict[str, tuple[JiraProject, JiraVersion]] = {
            v.id: (p, v) for p in world.projects for v in p.versions
        }
        self.story_points_field = world.story_points_field
        self.events: list[list[float]] = [_event_times(issue) for issue in self.issues]
        self.worklog_owner: dict[str, int] = {
            w.id: i for i, issue in enumerate(self.issues) for w in issue.worklogs
        }
        self.rendered_people: dict[tuple[str, str, str, bool], dict[str, Any] | None] = {}
        """Users as payloads render them, per request context (see ``person_json``)."""
        self.rendered_parts: dict[tuple[Any, ...], Any] = {}
        """Statuses, issue types, priorities and versions as rendered, per request context."""

    def status(self, name: str) -> JiraStatus:
        """Return the status called ``name`` (made up, in progress, when unknown)."""
        found = self.status_by_name.get(str(name).lower()) or self.status_by_id.get(str(name))
        if found is not None:
            return found
        return JiraStatus(name=str(name), category="indeterminate", id=str(numeric_id(name)))


def _event_times(issue: JiraIssue) -> list[float]:
    times = [issue.created.timestamp(), *(c.at.timestamp() for c in issue.history)]
    if issue.deleted_at is not None:
        times.append(issue.deleted_at.timestamp())
    for worklog in issue.worklogs:
        times.append(worklog.created.timestamp())
        times.extend(c.at.timestamp() for c in worklog.history)
        if worklog.deleted_at is not None:
            times.append(worklog.deleted_at.timestamp())
    times.sort()
    return times


def build_view(data: JiraData, index: int, now: datetime) -> IssueView | None:
    """Return issue ``index`` as of ``now``, or None when it does not exist then."""
    issue = data.issues[index]
    if not issue.visible_at(now):
        return None
    state = dict(issue.fields)
    key, project = issue.key, issue.project
    keys = [key]
    status = data.status(state.get("status", "To Do"))
    resolved: datetime | None = issue.created if status.category == "done" else None
    updated = issue.created
    changes: list[Change] = []
    for change in issue.history:
        if change.at > now:
            break
        changes.append(change)
        state.update(change.set)
        updated = change.at
        if "key" in change.set and change.set["key"] != key:
            key = str(change.set["key"])
            keys.append(key)
        if "project" in change.set:
            project = str(change.set["project"])
        if "status" in change.set:
            new_status = data.status(change.set["status"])
            if new_status.category == "done" and status.category != "done":
                resolved = change.at
            elif new_status.category != "done":
                resolved = None
            status = new_status
    worklogs: list[WorklogView] = []
    for worklog in issue.worklogs:
        if worklog.created > now:
            continue
        if worklog.created > updated:
            updated = worklog.created
        if worklog.deleted_at is not None and worklog.deleted_at <= now:
            updated = max(updated, worklog.deleted_at)
            continue
        wstate: dict[str, Any] = {
            "started": worklog.started,
            "seconds": worklog.seconds,
            "comment": worklog.comment,
        }
        wupdated, wauthor = worklog.created, worklog.author
        for change in worklog.history:
            if change.at > now:
                break
            wstate.update(change.set)
            wupdated, wauthor = change.at, change.author or wauthor
        updated = max(updated, wupdated)
        started = wstate["started"]
        if isinstance(started, str):
            started = datetime.fromisoformat(started.replace("Z", "+00:00"))
        worklogs.append(
            WorklogView(
                worklog,
                issue.id,
                worklog.author,
                started,
                int(wstate["seconds"]),
                str(wstate["comment"] or ""),
                wupdated,
                wauthor,
            )
        )
    worklogs.sort(key=lambda w: (w.spec.created, w.spec.id))
    return IssueView(
        index=index,
        spec=issue,
        key=key,
        project=project.upper(),
        keys=tuple(keys),
        state=state,
        changes=changes,
        created=issue.created,
        updated=updated,
        created_ms=epoch_ms(issue.created),
        updated_ms=epoch_ms(updated),
        resolved=resolved,
        resolved_ms=epoch_ms(resolved) if resolved else None,
        id_num=numeric_id(issue.id),
        status=status,
        labels=tuple(state.get("labels") or ()),
        fix_versions=tuple(str(v) for v in state.get("fix_versions") or ()),
        worklogs=worklogs,
        time_spent=sum(w.seconds for w in worklogs),
    )


class Snapshot:
    """Every visible issue as of ``now``, with indexes; ``advance`` moves it forward."""

    QUERY_CACHE_SIZE = 128

    def __init__(self, data: JiraData, now: datetime) -> None:
        self.data = data
        self.now = now
        self.version = 0
        self.views: dict[int, IssueView] = {}
        self.by_project: dict[str, set[int]] = {}
        self.by_key: dict[str, int] = {}
        self.by_id: dict[str, int] = {}
        self.rendered: dict[int, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self.encoded: dict[int, dict[tuple[Any, ...], tuple[orjson.Fragment, int]]] = {}
        self._encoded_bytes = 0
        self.queries: OrderedDict[tuple[Any, ...], list[int]] = OrderedDict()
        self._heap: list[tuple[float, int]] = []
        stamp = now.timestamp()
        for index in range(len(data.issues)):
            view = build_view(data, index, now)
            if view is not None:
                self._add(view)
            self._schedule(index, stamp)
        heapq.heapify(self._heap)

    def _schedule(self, index: int, stamp: float) -> None:
        times = self.data.events[index]
        position = bisect.bisect_right(times, stamp)
        if position < len(times):
            self._heap.append((times[position], index))

    def _add(self, view: IssueView) -> None:
        self.views[view.index] = view
        self.by_project.setdefault(view.project, set()).add(view.index)
        for key in view.keys:
            self.by_key[key.upper()] = view.index
        self.by_id[view.spec.id] = view.index
        self.by_id[str(view.id_num)] = view.index

    def _remove(self, index: int) -> None:
        old = self.views.pop(index, None)
        if old is None:
            return
        self.by_project.get(old.project, set()).discard(index)
        for key in old.keys:
            if self.by_key.get(key.upper()) == index:
                del self.by_key[key.upper()]
        self.by_id.pop(old.spec.id, None)
        self.by_id.pop(str(old.id_num), None)

    def advance(self, now: datetime) -> None:
        """Bring every issue with an event up to ``now`` (later than the snapshot's)."""
        stamp = now.timestamp()
        changed: set[int] = set()
        while self._heap and self._heap[0][0] <= stamp:
            _, index = heapq.heappop(self._heap)
            changed.add(index)
        for index in changed:
            self._remove(index)
            self.rendered.pop(index, None)
            self._forget_encoded(index)
            view = build_view(self.data, index, now)
            if view is not None:
                self._add(view)
            times = self.data.events[index]
            position = bisect.bisect_right(times, stamp)
            if position < len(times):
                heapq.heappush(self._heap, (times[position], index))
        if changed:
            self.version += 1
            self.queries.clear()
        self.now = now

    def find(self, id_or_key: str) -> IssueView | None:
        """Return the issue with this id, key or former key (moved issues), if visible."""
        index = self.by_key.get(id_or_key.upper())
        if index is None:
            index = self.by_id.get(id_or_key)
        return self.views.get(index) if index is not None else None

    RENDER_CACHE_SIZE = 20_000

    def remember_render(self, index: int, key: tuple[Any, ...], payload: dict[str, Any]) -> None:
        """Keep an issue's rendered fields until it changes (bounded)."""
        if len(self.rendered) >= self.RENDER_CACHE_SIZE:
            self.rendered.clear()
        self.rendered.setdefault(index, {})[key] = payload

    ENCODED_CACHE_BYTES = 1 << 30

    def encoded_issue(self, index: int, key: tuple[Any, ...]) -> orjson.Fragment | None:
        """Return an issue as a search already sent it (JSON bytes), for this request shape."""
        kept = self.encoded.get(index, {}).get(key)
        return None if kept is None else kept[0]

    def remember_encoded(self, index: int, key: tuple[Any, ...], body: bytes) -> orjson.Fragment:
        """Keep an issue's JSON for a request shape until it changes (bounded in bytes).

        A page of 100 issues with their changelogs is about 700 KB of JSON; built
        from the world it takes 10-15 ms, joined from kept bytes about one. The
        budget (1 GiB) holds every issue of a 100,000-issue world in one shape,
        so a benchmark's second pass meets a warm server throughout.
        """
        if self._encoded_bytes + len(body) > self.ENCODED_CACHE_BYTES:
            self.encoded.clear()
            self._encoded_bytes = 0
        fragment = orjson.Fragment(body)
        self.encoded.setdefault(index, {})[key] = (fragment, len(body))
        self._encoded_bytes += len(body)
        return fragment

    def _forget_encoded(self, index: int) -> None:
        for _, size in self.encoded.pop(index, {}).values():
            self._encoded_bytes -= size

    def cached_query(self, key: tuple[Any, ...]) -> list[int] | None:
        """Return a cached ordered result for ``key``."""
        found = self.queries.get(key)
        if found is not None:
            self.queries.move_to_end(key)
        return found

    def cache_query(self, key: tuple[Any, ...], result: list[int]) -> None:
        """Remember an ordered result, evicting the least recently used."""
        self.queries[key] = result
        if len(self.queries) > self.QUERY_CACHE_SIZE:
            self.queries.popitem(last=False)
