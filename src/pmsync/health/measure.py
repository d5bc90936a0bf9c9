"""What the items and costs of every project add up to at the status date, as arrays.

Progress per deliverable, scope per milestone, money per deliverable and day
and the status history per project are computed for the whole portfolio at
once: items are rows of the plan's ``ItemFrame`` (as they stood at the status
date, ``timelines.ItemsAt``), grouped with ``np.unique`` and summed with
``np.bincount``, never looped over one by one.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

from pmsync.config import Config
from pmsync.health.history import DONE, STATUS_NAMES
from pmsync.health.timelines import ItemsAt, wall_clock
from pmsync.metrics import ActualCostSeries, StatusChanges
from pmsync.plan.costs import UNIT, CostLedger
from pmsync.plan.frames import ItemFrame

MEASURES = {"count": 0, "story_points": 1, "estimates": 2}
"""``progress_by`` → the code of the value each item contributes."""


Progress = dict[int, tuple[float, float, int, int]]
"""Deliverable id → (scope in the measure, done in the measure, items, done items)."""


def deliverable_progress(
    config: Config, frame: ItemFrame, state: ItemsAt, projects: list[Any]
) -> Progress:
    """Return each deliverable's own scope and done work at the status date."""
    measure_of = np.zeros(max([p.id for p in projects], default=0) + 1, dtype=np.int8)
    for p in projects:
        plan = config.projects.get(p.key)
        measure_of[p.id] = MEASURES[plan.progress_by] if plan else 0
    measure = measure_of[frame.project_id] if len(frame) else np.zeros(0, np.int8)
    value = np.where(
        measure == 1,
        frame.story_points,
        np.where(measure == 2, frame.estimate_seconds / 3600.0, 1.0),
    )
    chosen = state.exists & (frame.deliverable_id >= 0)
    done = (state.category == DONE)[chosen]
    value, valid = np.nan_to_num(value[chosen]), ~np.isnan(value[chosen])
    ids, node = np.unique(frame.deliverable_id[chosen], return_inverse=True)
    size = len(ids)
    columns = (
        np.bincount(node, valid * value, size),
        np.bincount(node, valid * value * done, size),
        np.bincount(node, minlength=size),
        np.bincount(node, done, size),
    )
    return {
        int(d): (float(a), float(b), int(c), int(e))
        for d, a, b, c, e in zip(ids, *columns, strict=True)
    }


def pct_complete(nodes: list[Any], progress: Progress) -> dict[str, float]:
    """Return each WBS code's fraction complete: its own items, or its subtree's if it has none.

    The fraction is in the project's measure; where the items have no value in
    it (no story points, no estimates) it is the share of items done instead.
    """
    children: dict[int | None, list[int]] = defaultdict(list)
    for n in nodes:
        children[n.parent_id].append(n.id)

    def subtree(node: int) -> tuple[float, float, int, int]:
        parts = [progress.get(node, (0.0, 0.0, 0, 0)), *(subtree(c) for c in children[node])]
        return (
            sum(p[0] for p in parts),
            sum(p[1] for p in parts),
            sum(p[2] for p in parts),
            sum(p[3] for p in parts),
        )

    found: dict[str, float] = {}
    for n in nodes:
        own = progress.get(n.id)
        scope, done, items, done_items = own if own is not None and own[2] else subtree(n.id)
        if scope > 0:
            found[n.code] = min(1.0, done / scope)
        elif items:
            found[n.code] = done_items / items
    return found


def cost_series(ledger: CostLedger, codes: dict[int, str]) -> ActualCostSeries:
    """Return the ledger as money per deliverable code and day (one row per pair)."""
    if not len(ledger.value):
        return ActualCostSeries.empty()
    ids, node = np.unique(ledger.deliverable_id, return_inverse=True)
    names = np.array([codes.get(int(i), "") for i in ids], dtype=object).astype(str)
    day = ledger.day.astype("datetime64[D]").astype(np.int64)
    first = int(day.min())
    pair, index = np.unique(node.reshape(-1) * 1_000_000 + (day - first), return_inverse=True)
    amount = np.bincount(index.reshape(-1), ledger.value / UNIT, len(pair))
    return ActualCostSeries(
        deliverable=names[pair // 1_000_000],
        day=(pair % 1_000_000 + first).astype("datetime64[D]"),
        amount=amount,
    )


MilestoneCounts = dict[int, tuple[int, int, dict[str, int]]]


def milestone_scopes(frame: ItemFrame, state: ItemsAt, sources: dict[int, str]) -> MilestoneCounts:
    """Return each milestone's items, done items and items per tool at the status date."""
    rows = state.member_row
    alive = state.exists[rows] if len(rows) else np.zeros(0, bool)
    mids, rows = state.milestone_id[alive], rows[alive]
    done = state.category[rows] == DONE
    found: MilestoneCounts = {}
    ids, index = np.unique(mids, return_inverse=True)
    items = np.bincount(index, minlength=len(ids))
    finished = np.bincount(index, done, len(ids))
    width = int(frame.source_id.max(initial=0)) + 1
    pairs, counts = np.unique(mids * width + frame.source_id[rows], return_counts=True)
    per_source: dict[int, dict[str, int]] = defaultdict(dict)
    for pair, n in zip(pairs.tolist(), counts.tolist(), strict=True):
        sid = pair % width
        per_source[pair // width][sources.get(sid, str(sid))] = n
    for mid, n, d in zip(ids.tolist(), items.tolist(), finished.tolist(), strict=True):
        found[mid] = (n, int(d), per_source[mid])
    return found


def history_by_project(frame: ItemFrame, state: ItemsAt, timezone: str) -> dict[int, StatusChanges]:
    """Return each project's status history, times as local wall-clock (local days)."""
    project = frame.project_id[state.event_row]
    order = np.argsort(project, kind="stable")
    project = project[order]
    ids, starts = np.unique(project, return_index=True)
    if not len(ids):
        return {}
    ends = [*starts[1:].tolist(), len(project)]
    rows = state.event_row[order]
    at = wall_clock(state.event_at[order], timezone)
    status = STATUS_NAMES[state.event_status[order]]
    return {
        int(pid): StatusChanges(item=rows[a:b], at=at[a:b], to_status=status[a:b])
        for pid, a, b in zip(ids.tolist(), starts.tolist(), ends, strict=True)
    }
