"""The worklog change feeds: ``/worklog/updated`` and ``/worklog/deleted``.

Both feeds are answered from timelines built once from the scenario (every
worklog creation and change, every deletion, worklogs of deleted issues
included), so a ``since`` query is a binary search. As documented by Atlassian,
a page holds at most 1000 entries, ``since`` is inclusive, entries of the last
minute are withheld, and ``nextPage`` repeats the page's ``until``.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta

from pmsync.sandbox.jira.world import JiraData, epoch_ms, numeric_id

PAGE = 1000
WITHHELD = timedelta(minutes=1)


@dataclass(frozen=True)
class FeedEntry:
    """One worklog in a feed page."""

    worklog_id: int
    updated_ms: int


class WorklogFeeds:
    """Timelines of worklog updates and deletions for a scenario."""

    def __init__(self, data: JiraData) -> None:
        updates: list[tuple[int, str, int, int]] = []  # ms, worklog id, issue index, end ms
        deletions: list[tuple[int, str]] = []
        never = 1 << 62
        for index, issue in enumerate(data.issues):
            issue_end = epoch_ms(issue.deleted_at) if issue.deleted_at else never
            for worklog in issue.worklogs:
                created = epoch_ms(worklog.created)
                end = min(epoch_ms(worklog.deleted_at) if worklog.deleted_at else never, issue_end)
                if created >= end:
                    continue
                for at in (created, *(epoch_ms(c.at) for c in worklog.history)):
                    if at < end:
                        updates.append((at, worklog.id, index, end))
                if end != never:
                    deletions.append((end, worklog.id))
        updates.sort()
        deletions.sort()
        self._updates = updates
        self._update_times = [u[0] for u in updates]
        self._deletions = deletions
        self._deletion_times = [d[0] for d in deletions]

    def updated(self, since_ms: int, now: datetime) -> tuple[list[FeedEntry], bool]:
        """Return worklogs updated at or after ``since_ms`` and still present, and lastPage."""
        now_ms = epoch_ms(now)
        cutoff = epoch_ms(now - WITHHELD)
        start = bisect.bisect_left(self._update_times, since_ms)
        stop = bisect.bisect_right(self._update_times, cutoff)
        latest: dict[str, int] = {}
        for at, wid, _, end in self._updates[start:stop]:
            if end > now_ms:
                latest[wid] = at
        entries = sorted(
            (FeedEntry(numeric_id(w), at) for w, at in latest.items()),
            key=lambda e: (e.updated_ms, e.worklog_id),
        )
        return entries[:PAGE], len(entries) <= PAGE

    def deleted(self, since_ms: int, now: datetime) -> tuple[list[FeedEntry], bool]:
        """Return worklogs deleted at or after ``since_ms``, and lastPage."""
        cutoff = epoch_ms(now - WITHHELD)
        start = bisect.bisect_left(self._deletion_times, since_ms)
        stop = bisect.bisect_right(self._deletion_times, cutoff)
        entries = [FeedEntry(numeric_id(w), at) for at, w in self._deletions[start:stop]]
        entries.sort(key=lambda e: (e.updated_ms, e.worklog_id))
        return entries[:PAGE], len(entries) <= PAGE
