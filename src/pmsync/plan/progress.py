"""Scope and progress per deliverable and milestone, and scope over time.

Progress is measured the way the project says (``progress_by``):

* ``count``: done items / items;
* ``story_points``: points of done items / points of all items; items without
  points are listed as *unestimated* and are not in the figure;
* ``estimates``: original estimates of done items / of all items; items
  without an estimate are *unestimated* likewise.

"Done" is the status category after the status maps (the project's map over
the source's over the tool's own category). A deliverable's figures include
its whole subtree; a milestone's include every tool that feeds it, with a
breakdown per source.

Scope over time rebuilds, day by day, which items each milestone held: from
the Jira changelog where an item moved between fix versions, and from the
creation date otherwise (GitHub does not report milestone history), so scope
added after the start, or moved out, shows as a change in the curve.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, func, select

from pmsync import model
from pmsync.plan.frames import ItemFrame, counts_as_scope, local_days

_PAIR = np.int64(1) << 31
"""(frame row, milestone id) pairs as one number: row x _PAIR + milestone id."""

MEASURES = ("count", "story_points", "estimates")


@dataclass(frozen=True, slots=True)
class Progress:
    """The scope of a deliverable or milestone and how much of it is done."""

    measure: str
    """``count``, ``story_points`` or ``estimates`` (the project's ``progress_by``)."""
    items: int
    done_items: int
    in_progress_items: int
    points: float
    done_points: float
    estimate_hours: float
    done_estimate_hours: float
    unestimated_items: int
    """Items with no value in the measure (no points, no estimate): not in the figure."""

    @property
    def scope(self) -> float:
        """Return the scope in the measure (items, points or hours)."""
        return {"count": self.items, "story_points": self.points}.get(
            self.measure, self.estimate_hours
        )

    @property
    def done(self) -> float:
        """Return how much of the scope is done, in the measure."""
        return {"count": self.done_items, "story_points": self.done_points}.get(
            self.measure, self.done_estimate_hours
        )

    @property
    def percent_complete(self) -> float | None:
        """Return done / scope (0 to 1), or None when there is no scope to measure."""
        return self.done / self.scope if self.scope else None


def _progress(frame: ItemFrame, rows: np.ndarray, measure: str) -> Progress:
    done = frame.category[rows] == 2
    points = frame.story_points[rows]
    hours = frame.estimate_seconds[rows] / 3600.0
    value = {"story_points": points, "estimates": hours}.get(measure)
    return Progress(
        measure=measure,
        items=int(rows.size),
        done_items=int(done.sum()),
        in_progress_items=int((frame.category[rows] == 1).sum()),
        points=float(np.nansum(points)),
        done_points=float(np.nansum(points[done])),
        estimate_hours=float(np.nansum(hours)),
        done_estimate_hours=float(np.nansum(hours[done])),
        unestimated_items=int(np.isnan(value).sum()) if value is not None else 0,
    )


def _sum(measure: str, parts: Iterable[Progress]) -> Progress:
    chosen = list(parts)
    return Progress(
        measure,
        sum(p.items for p in chosen),
        sum(p.done_items for p in chosen),
        sum(p.in_progress_items for p in chosen),
        sum(p.points for p in chosen),
        sum(p.done_points for p in chosen),
        sum(p.estimate_hours for p in chosen),
        sum(p.done_estimate_hours for p in chosen),
        sum(p.unestimated_items for p in chosen),
    )


def _slices(keys: np.ndarray) -> tuple[np.ndarray, dict[int, tuple[int, int]]]:
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    values, starts = np.unique(ordered, return_index=True)
    ends = [*starts[1:].tolist(), int(ordered.size)]
    return order, {int(v): (int(a), int(b)) for v, a, b in zip(values, starts, ends, strict=True)}


def progress_by_deliverable(
    frame: ItemFrame, tree: Mapping[int, int | None], measure: str
) -> dict[int, Progress]:
    """Return each deliverable's progress over its subtree (``tree``: id → parent id)."""
    order, spans = _slices(frame.deliverable_id)
    direct = {d: _progress(frame, order[a:b], measure) for d, (a, b) in spans.items() if d >= 0}
    members: dict[int, list[int]] = defaultdict(list)
    for node in tree:
        walk: int | None = node
        while walk is not None:
            members[walk].append(node)
            walk = tree.get(walk)
    return {node: _sum(measure, (direct[d] for d in members[node] if d in direct)) for node in tree}


def progress_outside_wbs(frame: ItemFrame, project_id: int, measure: str) -> Progress:
    """Return the progress of a project's items that no deliverable claims."""
    rows = np.flatnonzero((frame.project_id == project_id) & (frame.deliverable_id < 0))
    return _progress(frame, rows, measure)


def progress_of_project(frame: ItemFrame, project_id: int, measure: str) -> Progress:
    """Return the progress of every scope item of a project."""
    return _progress(frame, np.flatnonzero(frame.project_id == project_id), measure)


def progress_by_milestone(
    frame: ItemFrame, milestone_ids: Iterable[int], measure: str
) -> dict[int, Progress]:
    """Return each milestone's progress over every item it holds."""
    order, spans = _slices(frame.milestone_id)
    found = {}
    for mid in milestone_ids:
        a, b = spans.get(mid, (0, 0))
        found[mid] = _progress(frame, frame.member_row[order[a:b]], measure)
    return found


def progress_by_source(frame: ItemFrame, milestone_id: int, measure: str) -> dict[int, Progress]:
    """Return a milestone's progress per source id (what each tool contributes)."""
    rows = frame.member_row[frame.milestone_id == milestone_id]
    return {
        int(sid): _progress(frame, rows[frame.source_id[rows] == sid], measure)
        for sid in np.unique(frame.source_id[rows])
    }


def milestone_scope(
    conn: Connection, milestone_ids: Collection[int] | None = None
) -> dict[int, tuple[int, float]]:
    """Return {milestone id: (items, points)} of the scope items each milestone holds.

    Every milestone, or those of ``milestone_ids``; a milestone without scope items
    is left out.
    """
    mi = model.table_of(model.MilestoneItem)
    wi = model.table_of(model.WorkItem)
    query = (
        select(mi.c.milestone_id, func.count(), func.coalesce(func.sum(wi.c.story_points), 0.0))
        .join(wi, wi.c.id == mi.c.work_item_id)
        .where(wi.c.deleted_at.is_(None), counts_as_scope(wi))
        .group_by(mi.c.milestone_id)
    )
    if milestone_ids is not None:
        query = query.where(mi.c.milestone_id.in_(sorted(milestone_ids)))
    rows: Sequence[Any] = conn.execute(query).all()
    return {int(m): (int(n), float(p)) for m, n, p in rows}


@dataclass(frozen=True)
class ScopeSeries:
    """A milestone's scope and done work, one value per day (a burn-up)."""

    milestone_id: int
    days: np.ndarray
    """datetime64[D], first to last day inclusive."""
    items: np.ndarray
    points: np.ndarray
    done_items: np.ndarray
    done_points: np.ndarray


def _fix_version_moves(
    conn: Connection, frame: ItemFrame, milestone_ids: Sequence[int]
) -> list[tuple[int, Any, int, int]]:
    """Return (row, when, milestone id, +1 added / -1 removed) from the Jira changelog."""
    wi = model.table_of(model.WorkItem)
    ch = model.table_of(model.WorkItemChange)
    sm = model.table_of(model.SourceMilestone)
    rows: Sequence[Any] = conn.execute(
        select(wi.c.id, ch.c.at, ch.c.from_value, ch.c.to_value, wi.c.source_id)
        .join(wi, and_(wi.c.source_id == ch.c.source_id, wi.c.external_id == ch.c.item_external_id))
        .where(
            ch.c.field == "fix_version",
            ch.c.deleted_at.is_(None),
            wi.c.id.in_(frame.work_item_id.tolist()),
        )
    ).all()
    versions = {
        (r.source_id, r.external_id): r.milestone_id
        for r in conn.execute(
            select(sm.c.source_id, sm.c.external_id, sm.c.milestone_id).where(
                sm.c.milestone_id.in_(list(milestone_ids))
            )
        )
    }
    index = {int(v): n for n, v in enumerate(frame.work_item_id)}
    moves = []
    for item, at, before, after, sid in rows:
        when = np.datetime64(int(at.timestamp()), "s")
        for value, sign in ((before, -1), (after, 1)):
            mid = versions.get((sid, value)) if value else None
            if mid is not None:
                moves.append((index[item], when, mid, sign))
    return moves


def scope_history(
    conn: Connection,
    frame: ItemFrame,
    milestone_ids: Sequence[int],
    first: date,
    last: date,
    timezone: str = "UTC",
    moves: list[tuple[int, Any, int, int]] | None = None,
) -> dict[int, ScopeSeries]:
    """Return each milestone's daily scope and done work from ``first`` to ``last``.

    ``moves``: the frame's fix-version moves as ``_fix_version_moves`` returns
    them, if the caller has read them (for many projects at once).
    """
    days = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
    if moves is None:
        moves = _fix_version_moves(conn, frame, milestone_ids)
    by_pair: dict[tuple[int, int], list[tuple[np.datetime64, int]]] = defaultdict(list)
    for row, when, mid, sign in moves:
        by_pair[(row, mid)].append((when, sign))
    wanted_set = set(milestone_ids)
    wanted = np.unique(np.asarray(list(milestone_ids), dtype=np.int64))
    # A membership no fix-version change touched ran from the item's creation on
    # (most of them: read as arrays); the others are walked change by change.
    pair_row = frame.member_row.astype(np.int64)
    pair_mid = frame.milestone_id.astype(np.int64)
    plain = np.isin(pair_mid, wanted)
    if by_pair:
        moved = np.fromiter((r * _PAIR + m for r, m in by_pair), np.int64, len(by_pair))
        plain &= ~np.isin(pair_row * _PAIR + pair_mid, moved)
    order = np.lexsort((pair_row[plain], pair_mid[plain]))
    plain_row, plain_mid = pair_row[plain][order], pair_mid[plain][order]
    intervals: dict[int, list[tuple[int, np.datetime64, np.datetime64]]] = defaultdict(list)
    never = np.datetime64("NaT", "s")
    for (row, mid), changes in sorted(by_pair.items()):
        if mid not in wanted_set:
            continue
        events = sorted(changes)
        member = events[0][1] < 0  # its first change took it out: it was in before
        since = frame.created_at[row]
        for when, sign in events:
            if member and sign < 0:
                intervals[mid].append((row, since, when))
                member = False
            elif not member and sign > 0:
                member, since = True, max(when, frame.created_at[row])
        if member:
            intervals[mid].append((row, since, never))
    # Every milestone's spans in one set of arrays (plain memberships, then walked ones),
    # so the days are counted for all of them at once, not four times per milestone.
    segments, rows_of, since_of, until_of = [], [], [], []
    for n, mid in enumerate(milestone_ids):
        lo, hi = np.searchsorted(plain_mid, mid, "left"), np.searchsorted(plain_mid, mid, "right")
        spans = intervals.get(mid, [])
        rows_of += [plain_row[lo:hi], np.asarray([s[0] for s in spans], dtype="int64")]
        since_of += [
            frame.created_at[plain_row[lo:hi]].astype("datetime64[s]"),
            np.asarray([s[1] for s in spans], dtype="datetime64[s]"),
        ]
        until_of += [np.full(hi - lo, never), np.asarray([s[2] for s in spans], "datetime64[s]")]
        segments.append(np.full(hi - lo + len(spans), n, dtype=np.int64))
    count = len(milestone_ids)
    segment = np.concatenate(segments) if segments else np.zeros(0, np.int64)
    rows = np.concatenate(rows_of) if rows_of else np.zeros(0, np.int64)
    since = np.concatenate(since_of) if since_of else np.zeros(0, "datetime64[s]")
    until = np.concatenate(until_of) if until_of else np.zeros(0, "datetime64[s]")
    start, end = local_days(since, timezone), local_days(until, timezone)
    resolved = local_days(frame.resolved_at[rows], timezone)
    done = (frame.category[rows] == 2) & ~np.isnat(resolved)
    points = np.nan_to_num(frame.story_points[rows])
    ones = np.ones(rows.size)
    finished = np.where(done, np.maximum(start, resolved), end)
    items = _daily(days, segment, count, start, end, ones).astype("int64")
    scope_points = _daily(days, segment, count, start, end, points)
    done_items = _daily(days, segment, count, finished, end, ones).astype("int64")
    done_points = _daily(days, segment, count, finished, end, points)
    return {
        mid: ScopeSeries(mid, days, items[n], scope_points[n], done_items[n], done_points[n])
        for n, mid in enumerate(milestone_ids)
    }


def _daily(
    days: np.ndarray,
    segment: np.ndarray,
    count: int,
    start: np.ndarray,
    end: np.ndarray,
    weight: np.ndarray,
) -> np.ndarray:
    """Sum ``weight`` over the spans [start, end) that cover each day (NaT end: open), per
    segment: row ``n`` of the result sums the spans whose ``segment`` is ``n`` (``count`` rows).

    Each segment's day-to-day differences are added in the spans' order, the starts
    before the ends, then summed along the days: per segment, the same sums as
    counting its spans alone.
    """
    if not days.size:
        return np.zeros((count, 0))
    width = days.size + 1
    begin = np.clip((start - days[0]).astype("int64"), 0, days.size)
    stop = np.clip((end - days[0]).astype("int64"), 0, days.size)
    stop[np.isnat(end)] = days.size  # still open
    valid = ~np.isnat(start) & (stop > begin)
    base = segment[valid] * width
    diff = np.bincount(
        np.concatenate([base + begin[valid], base + stop[valid]]),
        weights=np.concatenate([weight[valid], -weight[valid]]),
        minlength=count * width,
    ).reshape(count, width)
    return np.cumsum(diff[:, :-1], axis=1)
