"""The GitHub world as of the sandbox clock, indexed so a page costs O(page).

``RepoIndex`` is built once per repository (issues by number, commits per
branch sorted by committer date). ``RepoView`` is the visible state of the
issues and milestones at one clock value; it knows the next moment anything in
it changes (``valid_until``), so a running clock rebuilds it only when the world
really moved, never per request. Commits need no view: they appear when their
committer date passes, which a bisect over the sorted dates answers directly.
Filtered and sorted issue lists are cached per view, so paging through a
100,000-issue listing sorts it once.
"""

from __future__ import annotations

import bisect
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from pmsync.sandbox.scenario import (
    GitHubCommit,
    GitHubIssue,
    GitHubMilestone,
    GitHubRepository,
    Timed,
)


@dataclass(frozen=True)
class IssueEntry:
    """An issue or pull request as it stands at the view's clock."""

    spec: GitHubIssue
    state: dict[str, Any]
    updated_at: datetime
    closed_at: datetime | None
    merged_at: datetime | None

    @property
    def is_pull(self) -> bool:
        """Tell whether this is a pull request."""
        return self.spec.pull_request is not None


@dataclass(frozen=True)
class MilestoneEntry:
    """A milestone at the view's clock, with its issue counts."""

    spec: GitHubMilestone
    state: dict[str, Any]
    updated_at: datetime
    closed_at: datetime | None
    open_issues: int
    closed_issues: int


def _last_set(timed: Timed, now: datetime, key: str, value: Any) -> datetime | None:
    for change in reversed(timed.applied(now)):
        if change.set.get(key) == value:
            return change.at
    return None


def _next_event(timed: Timed, now: datetime) -> datetime | None:
    if timed.created > now:
        return timed.created
    times = [c.at for c in timed.history]
    index = bisect.bisect_right(times, now)
    upcoming = [times[index]] if index < len(times) else []
    if timed.deleted_at is not None and timed.deleted_at > now:
        upcoming.append(timed.deleted_at)
    return min(upcoming) if upcoming else None


def issue_entry(spec: GitHubIssue, now: datetime) -> IssueEntry:
    """Return ``spec`` as of ``now``."""
    initial = {
        "state": spec.state,
        "state_reason": "completed" if spec.state == "closed" else None,
        "title": spec.title,
        "body": spec.body,
        "labels": spec.labels,
        "assignees": spec.assignees,
        "milestone": spec.milestone,
        "merged": False,
        "draft": spec.pull_request.draft if spec.pull_request else False,
    }
    state = spec.state_at(initial, now)
    merged_at = _last_set(spec, now, "merged", True) if state["merged"] else None
    if state["merged"]:
        state["state"] = "closed"
    closed_at = None
    if state["state"] == "closed":
        closed_at = _last_set(spec, now, "state", "closed") or merged_at or spec.created
        if state["state_reason"] is None and spec.pull_request is None:
            state["state_reason"] = "completed"
    elif spec.pull_request is None and state["state_reason"] in ("completed", "not_planned"):
        state["state_reason"] = "reopened" if spec.history else None
    if spec.pull_request is not None:
        state["state_reason"] = None
    return IssueEntry(spec, state, spec.updated_at(now), closed_at, merged_at)


class RepoIndex:
    """What never changes about one repository: its items, sorted and keyed."""

    def __init__(self, repo: GitHubRepository) -> None:
        self.repo = repo
        self.issues = sorted(repo.issues, key=lambda i: (i.created, i.number))
        self.issue_by_number = {i.number: i for i in repo.issues}
        self.milestones = sorted(repo.milestones, key=lambda m: m.number)
        self.milestone_by_number = {m.number: m for m in repo.milestones}
        self.branches: dict[str, list[GitHubCommit]] = {}
        for commit in repo.commits:
            self.branches.setdefault(commit.branch, []).append(commit)
        self.branch_times: dict[str, list[datetime]] = {}
        for name, commits in self.branches.items():
            commits.sort(key=lambda c: c.committed_at)
            self.branch_times[name] = [c.committed_at for c in commits]
        self.commit_by_sha = {c.sha: c for c in repo.commits}
        self.first_commit_at = min((t[0] for t in self.branch_times.values() if t), default=None)
        self._position = {
            c.sha: i for commits in self.branches.values() for i, c in enumerate(commits)
        }

    def visible_commits(
        self, branch: str, now: datetime, since: datetime | None, until: datetime | None
    ) -> tuple[list[GitHubCommit], int, int]:
        """Return the branch's commits and the [lo, hi) range visible and in the window."""
        commits = self.branches.get(branch, [])
        times = self.branch_times.get(branch, [])
        hi = bisect.bisect_right(times, now if until is None else min(now, until))
        lo = 0 if since is None else bisect.bisect_left(times, since)
        return commits, lo, max(lo, hi)

    def commit_range_upto(self, sha: str, now: datetime) -> tuple[list[GitHubCommit], int, int]:
        """Return the commits of ``sha``'s branch up to and including it (if visible)."""
        commit = self.commit_by_sha[sha]
        commits = self.branches[commit.branch]
        hi = self._position[sha] + 1 if commit.committed_at <= now else 0
        return commits, 0, hi

    def empty_at(self, now: datetime) -> bool:
        """Tell whether the repository has no commit yet (git has no ref to list)."""
        return self.first_commit_at is None or self.first_commit_at > now

    def head_sha(self, branch: str, now: datetime) -> str | None:
        """Return the newest visible commit on ``branch``."""
        commits, lo, hi = self.visible_commits(branch, now, None, None)
        return commits[hi - 1].sha if hi > lo else None

    def find_commit(self, ref: str, now: datetime) -> GitHubCommit | None:
        """Resolve a sha, a unique sha prefix (7+) or a branch name to a visible commit."""
        commit = self.commit_by_sha.get(ref)
        if commit is None and ref in self.branches:
            head = self.head_sha(ref, now)
            commit = self.commit_by_sha[head] if head else None
        if commit is None and len(ref) >= 7:
            matches = [c for sha, c in self.commit_by_sha.items() if sha.startswith(ref)]
            commit = matches[0] if len(matches) == 1 else None
        if commit is None or commit.committed_at > now:
            return None
        return commit


@dataclass
class RepoView:
    """The visible issues and milestones of a repository at one clock value."""

    now: datetime
    valid_until: datetime | None
    issues: list[IssueEntry]
    """Visible issues and pull requests, by creation time."""
    by_updated: list[IssueEntry]
    updated_keys: list[tuple[datetime, int]]
    by_number: dict[int, IssueEntry]
    milestones: list[MilestoneEntry]
    milestone_by_number: dict[int, MilestoneEntry]
    queries: dict[Any, list[IssueEntry]] = field(default_factory=dict)
    encoded: dict[Any, orjson.Fragment] = field(default_factory=dict)
    """Issues and pull requests as listings sent them (JSON), per kind and base URL."""

    @classmethod
    def build(cls, index: RepoIndex, now: datetime) -> RepoView:
        """Compute the view of ``index`` at ``now``."""
        upcoming: list[datetime] = []
        entries = []
        for spec in index.issues:
            event = _next_event(spec, now)
            if event is not None:
                upcoming.append(event)
            if spec.visible_at(now):
                entries.append(issue_entry(spec, now))
        by_updated = sorted(entries, key=lambda e: (e.updated_at, e.spec.number))
        counts: Counter[tuple[int, str]] = Counter(
            (e.state["milestone"], e.state["state"]) for e in entries if e.state["milestone"]
        )
        milestones = []
        for milestone in index.milestones:
            event = _next_event(milestone, now)
            if event is not None:
                upcoming.append(event)
            if not milestone.visible_at(now):
                continue
            initial = {
                "state": milestone.state,
                "title": milestone.title,
                "description": milestone.description,
                "due_on": milestone.due_on,
            }
            state = milestone.state_at(initial, now)
            if isinstance(state["due_on"], str):  # a change in the scenario holds ISO text
                state["due_on"] = datetime.fromisoformat(state["due_on"].replace("Z", "+00:00"))
            closed_at = None
            if state["state"] == "closed":
                closed_at = _last_set(milestone, now, "state", "closed") or milestone.created
            milestones.append(
                MilestoneEntry(
                    milestone,
                    state,
                    milestone.updated_at(now),
                    closed_at,
                    counts[(milestone.number, "open")],
                    counts[(milestone.number, "closed")],
                )
            )
        return cls(
            now=now,
            valid_until=min(upcoming) if upcoming else None,
            issues=entries,
            by_updated=by_updated,
            updated_keys=[(e.updated_at, e.spec.number) for e in by_updated],
            by_number={e.spec.number: e for e in entries},
            milestones=milestones,
            milestone_by_number={m.spec.number: m for m in milestones},
        )

    def valid_at(self, now: datetime) -> bool:
        """Tell whether nothing in this view changed between its clock and ``now``."""
        if now < self.now:
            return False
        return self.valid_until is None or now < self.valid_until

    def updated_since(self, since: datetime) -> list[IssueEntry]:
        """Return the entries updated at or after ``since``, oldest update first."""
        start = bisect.bisect_left(self.updated_keys, (since, -1))
        return self.by_updated[start:]
