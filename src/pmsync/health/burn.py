"""What the burn charts of a status report draw: scope and done work per day, money per year.

``ProjectHealth`` holds the figures at the status date; a burn chart needs how
they got there:

* **burn-up per milestone** (``load_burnups``): the items a milestone held and
  the items of it that were done, at the end of every day up to the status
  date. It is the plan layer's ``scope_history`` (scope from the Jira
  fix-version history, or from the creation date where a tool keeps none;
  done from the resolution date), counted in items like the milestone
  forecast, so its last day equals the milestone's scope and done items.
* **budget burn for the fiscal year** (``fiscal_year_burn``): cumulative actual
  cost and planned value from the start of the fiscal year of the status date,
  its annual budget, and the spend expected by its end. Computed from the
  cost curve of ``ProjectHealth``, never from the store.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select

from pmsync import model
from pmsync.config import Config
from pmsync.config import Project as ProjectPlan
from pmsync.health.history import Ints, fix_version_moves, project_fix_version_moves
from pmsync.health.parallel import items_of
from pmsync.metrics.results import ProjectHealth, Series
from pmsync.plan.frames import ItemFrame, load_items
from pmsync.plan.progress import ScopeSeries, scope_history
from pmsync.store import Store


@dataclass(frozen=True, slots=True)
class MilestoneBurnup:
    """A milestone's items and done items at the end of each day, oldest first."""

    name: str
    days: tuple[date, ...]
    """From the first day the milestone held an item to the status date, every day."""
    scope: tuple[int, ...]
    done: tuple[int, ...]


CHUNK_ITEMS = 20_000
"""Items whose daily scope history is built at once (each group's arrays stay small)."""


def load_burnups(
    store: Store, config: Config, key: str, *, as_of: date
) -> tuple[MilestoneBurnup, ...]:
    """Return the daily burn-up of each milestone of ``key`` up to ``as_of``, in plan order.

    Days start with the project's start (items created earlier count from it);
    a milestone that never held an item by ``as_of`` is left out, and so is
    every milestone of a project the store does not hold yet.
    """
    return load_portfolio_burnups(store, config, [key], as_of=as_of).get(key, ())


def load_portfolio_burnups(
    store: Store,
    config: Config,
    keys: Collection[str],
    *,
    as_of: date,
    items: ItemFrame | None = None,
    moves: Ints | None = None,
) -> dict[str, tuple[MilestoneBurnup, ...]]:
    """Return ``load_burnups`` of every project of ``keys`` in a few statements.

    The items of all of them are read at once (or given: ``items``, the
    ``load_items`` of these projects or more), and their fix-version history
    (or given: ``moves``, ``read_fix_version_moves`` of these projects or more);
    the daily scope is built in groups of projects of about ``CHUNK_ITEMS``
    items. A project that starts after ``as_of`` or has no milestone in the
    store gets ``()``.
    """
    chosen = sorted(k for k in keys if as_of >= config.projects[k].start)
    found: dict[str, tuple[MilestoneBurnup, ...]] = {k: () for k in keys}
    if not chosen:
        return found
    with store.session(readonly=True) as session:
        conn = session.connection()
        milestone, project = model.table_of(model.Milestone), model.table_of(model.Project)
        rows: dict[str, list[tuple[int, str]]] = defaultdict(list)
        ids: dict[str, int] = {}
        for r in conn.execute(
            select(project.c.key, project.c.id, milestone.c.id.label("mid"), milestone.c.name)
            .join(project, project.c.id == milestone.c.project_id)
            .where(project.c.key.in_(chosen))
            .order_by(project.c.key, milestone.c.position, milestone.c.id)
        ):
            rows[str(r.key)].append((int(r.mid), str(r.name)))
            ids[str(r.key)] = int(r.id)
        if not rows:
            return found
        # given items of more projects (a whole portfolio's): only these projects' are read on
        frame = (
            items.of_projects(ids.values())
            if items is not None
            else load_items(conn, config, sorted(rows))
        )
        if moves is None:
            moves = fix_version_moves(conn, frame, after=-1)  # all of theirs, in one read
        groups = _groups(frame, sorted(rows), ids)
        parts = frame.parts([[ids[k] for k in group] for group in groups])
        for group, own in zip(groups, parts, strict=True):
            first = min(config.projects[k].start for k in group)
            series = scope_history(
                conn,
                own,
                [mid for k in group for mid, _ in rows[k]],
                first,
                as_of,
                config.settings.timezone,
                moves=_moves_of(own, moves),
            )
            for key in group:
                skip = (config.projects[key].start - first).days
                found[key] = _burnups(rows[key], series, skip)
    return found


def read_fix_version_moves(store: Store, keys: Collection[str]) -> Ints:
    """Return the fix-version moves of every item of ``keys``, for ``load_portfolio_burnups``.

    For a job that counts the burn-ups of many projects in parts (the report job):
    read once, the history costs what one part's does. SQLite reads a part's through
    the project index, item by item (0.6 s for 50 of 500 projects at a million
    items), and all of them through the table (0.16 s).
    """
    chosen = sorted(keys)
    items = items_of(store, chosen)
    with store.session(readonly=True) as session:
        conn = session.connection()
        project = model.table_of(model.Project)
        ids = [
            int(row[0])
            for row in conn.execute(select(project.c.id).where(project.c.key.in_(chosen)))
        ]
        return project_fix_version_moves(conn, ids, items, after=-1)


def _groups(frame: ItemFrame, keys: list[str], ids: dict[str, int]) -> list[list[str]]:
    """Return ``keys`` in groups of about ``CHUNK_ITEMS`` items (a big project alone)."""
    counts = np.bincount(frame.project_id, minlength=max(ids.values()) + 1) if len(frame) else None
    groups: list[list[str]] = [[]]
    size = 0
    for key in keys:
        n = int(counts[ids[key]]) if counts is not None else 0
        if groups[-1] and size + n > CHUNK_ITEMS:
            groups.append([])
            size = 0
        groups[-1].append(key)
        size += n
    return groups


def _moves_of(frame: ItemFrame, moves: np.ndarray) -> list[tuple[int, Any, int, int]]:
    """Return the fix-version moves of the frame's items as ``scope_history`` takes them.

    ``moves``: (item id, seconds, milestone left or -1, milestone joined or -1)
    rows, as ``pmsync.health.history.fix_version_moves`` reads them.
    """
    if not len(moves) or not len(frame):
        return []
    item = moves[:, 0]
    row = np.minimum(np.searchsorted(frame.work_item_id, item), len(frame) - 1)
    inside = frame.work_item_id[row] == item
    found: list[tuple[int, Any, int, int]] = []
    for at, (_, seconds, left, joined) in zip(
        row[inside].tolist(), moves[inside].tolist(), strict=True
    ):
        when = np.datetime64(seconds, "s")
        if left >= 0:
            found.append((at, when, left, -1))
        if joined >= 0:
            found.append((at, when, joined, 1))
    return found


def _burnups(
    rows: list[tuple[int, str]], series: dict[int, ScopeSeries], skip: int
) -> tuple[MilestoneBurnup, ...]:
    """Return the burn-ups of one project's milestones from their series (``skip``: days before
    the project's start, which a series read for several projects may begin with)."""
    found = []
    for mid, name in rows:
        s = series[mid]
        items = s.items[skip:]
        held = np.flatnonzero(items > 0)
        if not len(held):
            continue
        first = skip + int(held[0])
        found.append(
            MilestoneBurnup(
                name=name,
                days=tuple(s.days[first:].astype(object)),
                scope=tuple(int(v) for v in s.items[first:]),
                done=tuple(int(v) for v in s.done_items[first:]),
            )
        )
    return tuple(found)


@dataclass(frozen=True, slots=True)
class FiscalYearBurn:
    """Money in the fiscal year of the status date: spent, planned, budget, forecast."""

    year: int
    label: str
    """``FY2026``: a fiscal year is named by the calendar year it starts in."""
    start: date
    end: date
    budget: float | None
    """The annual budget of the plan (``annual_budgets``), if one is set."""
    spent: Series
    """Actual cost booked since the start of the year, at the end of each day to the status date."""
    planned: Series
    """Planned value falling in the year, cumulative, at the end of each day of the year."""
    forecast: float
    """Spend expected by the end of the year: spent so far plus the estimate to complete
    (EAC - AC) times the share of the planned value still to come that the plan puts in
    this year (all of it once the plan has no planned value left)."""

    @property
    def spent_to_date(self) -> float:
        """Return what was spent in the year up to the status date."""
        return self.spent.values[-1] if self.spent.values else 0.0

    @property
    def planned_in_year(self) -> float:
        """Return the planned value of the whole year."""
        return self.planned.values[-1] if self.planned.values else 0.0


def _cumulative(curve: Series) -> Callable[[np.ndarray], np.ndarray]:
    """Return the cumulative daily curve as a function: its value at the end of each day given.

    0 before its first day, its last value after its last. The curve's days are
    turned into numbers once, however many times it is asked.
    """
    if not curve.days:
        return lambda days: np.zeros(len(days))
    known = np.array(curve.days, dtype="datetime64[D]")
    values = np.concatenate([[0.0], np.asarray(curve.values, dtype=np.float64)])
    return lambda days: values[np.searchsorted(known, days, side="right")]


def fiscal_year_burn(health: ProjectHealth, plan: ProjectPlan) -> FiscalYearBurn:
    """Return the budget burn of the fiscal year the status date falls in."""
    status = health.status_date
    year = plan.fiscal_year_of(status)
    first = date(year, plan.fiscal_year_start.month, plan.fiscal_year_start.day)
    last = date(year + 1, first.month, first.day) - timedelta(days=1)
    before = np.datetime64(first - timedelta(days=1), "D")
    curve = health.cost_curve
    to_date = np.arange(np.datetime64(first, "D"), np.datetime64(status, "D") + 1)
    whole = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
    actual, planned_value = _cumulative(curve.actual_cost), _cumulative(curve.planned_value)
    spent = actual(to_date) - actual(np.array([before]))
    pv_before = float(planned_value(np.array([before]))[0])
    planned = planned_value(whole) - pv_before
    pv_now, pv_end, pv_total = planned_value(
        np.array([status, last, curve.planned_value.days[-1] if curve.planned_value.days else last],
                 dtype="datetime64[D]"),
    )  # fmt: skip
    remaining = pv_total - pv_now
    share = (pv_end - pv_now) / remaining if remaining > 0 else 1.0
    etc = max(health.project.estimate_to_complete, 0.0)
    spent_now = float(spent[-1]) if len(spent) else 0.0
    budget = plan.annual_budgets.get(year)
    return FiscalYearBurn(
        year=year,
        label=f"FY{year}",
        start=first,
        end=last,
        budget=None if budget is None else float(budget),
        spent=Series(tuple(to_date.astype(object)), tuple(float(v) for v in spent)),
        planned=Series(tuple(whole.astype(object)), tuple(float(v) for v in planned)),
        forecast=spent_now + etc * float(share),
    )
