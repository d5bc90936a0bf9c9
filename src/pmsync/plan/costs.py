"""Actual cost: worklog hours x the rate valid that day, plus the cost sheet.

Labour cost is every worklog on a project's items, priced at the project's
rate card: the rate of the *person* valid on the worklog's day if the card has
one for them, else the rate of their *role* valid that day (a person's own
rate wins over their role's; each rate holds from its ``effective_from`` until
the next). The day is the worklog's start in the installation's time zone.
Who booked it comes from linking people (identity → person → ``pmsync.yaml``
person and role). Hours nobody can be priced for (an unknown account, a role
without a rate) are never counted as zero silently: they are reported as
*unrated hours* per person.

Money is exact: each line is kept as an integer number of 1/360000 of the
currency unit (seconds x rate in cents), summed as integers and turned into
``Decimal`` at the end, so the total equals the hand-computed figure to the
cent. Non-labour costs are the rows of the project's costs CSV.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import Connection, and_, func, select

from pmsync import model
from pmsync.config import Config
from pmsync.config.projects import Project
from pmsync.plan.frames import epoch_seconds, local_days
from pmsync.plan.sql import fetch_tuples, in_projects, most_projects

UNIT = 360_000
"""Ledger values are in 1/UNIT of the currency: seconds x rate in cents."""
CENT = Decimal("0.01")


def money(value: int) -> Decimal:
    """Return a ledger value (1/UNIT of the currency) as money, to the cent."""
    return (Decimal(int(value)) / UNIT).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class CostLedger:
    """Every cost line of one project, as arrays (one element per worklog or cost row)."""

    project: str
    currency: str
    day: np.ndarray
    """datetime64[D]: the worklog's day, or the cost row's date."""
    value: np.ndarray
    """int64, 1/UNIT of the currency (0 for unrated hours)."""
    seconds: np.ndarray
    """int64, time booked (0 for non-labour costs)."""
    labour: np.ndarray
    """bool: a worklog (True) or a cost-sheet row (False)."""
    rated: np.ndarray
    """bool: a rate was found (always True for cost-sheet rows)."""
    deliverable_id: np.ndarray
    """int64, -1 where the item or cost row is in no deliverable."""
    who: np.ndarray
    """int64 index into ``people``; -1 for cost-sheet rows."""
    people: tuple[str, ...]
    """Person ids of ``pmsync.yaml``, or ``login (source)`` for accounts nobody claims."""

    def _group(self, keys: np.ndarray, mask: np.ndarray | None = None) -> dict[object, Decimal]:
        chosen = np.ones(keys.shape, bool) if mask is None else mask
        sums: dict[object, int] = defaultdict(int)
        for key, value in zip(keys[chosen].tolist(), self.value[chosen].tolist(), strict=True):
            sums[key] += value
        return {k: money(v) for k, v in sorted(sums.items(), key=lambda kv: str(kv[0]))}

    def total(self, *, until: date | None = None) -> Decimal:
        """Return the actual cost (to ``until``, inclusive, if given)."""
        chosen = self.value if until is None else self.value[self.day <= np.datetime64(until)]
        return money(int(chosen.sum()))

    @property
    def labour_cost(self) -> Decimal:
        """Return the cost of the booked hours."""
        return money(int(self.value[self.labour].sum()))

    @property
    def other_cost(self) -> Decimal:
        """Return the cost-sheet total (invoices, licences, hardware)."""
        return money(int(self.value[~self.labour].sum()))

    @property
    def hours(self) -> float:
        """Return the hours booked."""
        return float(self.seconds.sum()) / 3600.0

    def by_deliverable(self) -> dict[int | None, Decimal]:
        """Return the cost booked directly on each deliverable id (None: outside the WBS)."""
        found = self._group(self.deliverable_id)
        return {(None if k == -1 else int(str(k))): v for k, v in found.items()}

    def by_person(self) -> dict[str, Decimal]:
        """Return the labour cost per person."""
        found = self._group(self.who, self.labour)
        return {self.people[int(str(k))]: v for k, v in found.items()}

    def by_month(self) -> dict[str, Decimal]:
        """Return the cost per calendar month (``2026-01``)."""
        months = np.datetime_as_string(self.day.astype("datetime64[M]"), unit="M")
        return {str(k): v for k, v in self._group(months).items()}

    def by_fiscal_year(self, project: Project) -> dict[int, Decimal]:
        """Return the cost per fiscal year (named by the calendar year it starts in)."""
        year = self.day.astype("datetime64[Y]")
        start = project.fiscal_year_start
        starts = (year.astype("datetime64[M]") + (start.month - 1)).astype("datetime64[D]")
        starts += start.day - 1  # that year's first day of the fiscal year
        years = year.astype("int64") + 1970
        fiscal = np.where(self.day >= starts, years, years - 1)
        return {int(str(k)): v for k, v in self._group(fiscal).items()}

    def unrated_hours(self) -> dict[str, float]:
        """Return the hours that could not be priced, per person or account."""
        mask = self.labour & ~self.rated
        hours: dict[str, float] = defaultdict(float)
        for who, seconds in zip(self.who[mask].tolist(), self.seconds[mask].tolist(), strict=True):
            hours[self.people[who]] += seconds / 3600.0
        return dict(sorted(hours.items()))

    def daily(self, first: date, last: date) -> tuple[np.ndarray, np.ndarray]:
        """Return (days, cumulative actual cost as float) from ``first`` to ``last``."""
        days = np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)
        index = np.clip((self.day - days[0]).astype("int64"), 0, None)
        spent = np.zeros(days.size + 1, dtype="int64")
        inside = index <= days.size - 1
        np.add.at(spent, index[inside], self.value[inside])
        return days, np.cumsum(spent[:-1]) / UNIT


def _rates(project: Project) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """Return {("person"|"role", name): (effective days, rates in cents)}, sorted by day."""
    entries: dict[tuple[str, str], list[tuple[date, int]]] = defaultdict(list)
    for entry in project.rate_card:
        who = ("person", entry.person) if entry.person else ("role", entry.role or "")
        entries[who].append((entry.effective_from, int((entry.rate * 100).to_integral_value())))
    return {
        who: (
            np.array([d for d, _ in sorted(rows)], "datetime64[D]"),
            np.array([r for _, r in sorted(rows)], "int64"),
        )
        for who, rows in entries.items()
    }


def _price(days: np.ndarray, card: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Return the rate in cents valid on each day (-1 where none is)."""
    if card is None:
        return np.full(days.shape, -1, "int64")
    effective, rates = card
    index = np.searchsorted(effective, days, side="right") - 1
    return np.where(index >= 0, rates[np.clip(index, 0, None)], -1)


def cost_ledgers(
    conn: Connection, config: Config, project_keys: Collection[str]
) -> dict[str, CostLedger]:
    """Return each project's cost ledger, from one worklog query and one cost query.

    The worklogs (half a million at portfolio scale) come from the driver as
    plain tuples and are split by project with numpy; who booked each one is
    resolved from the identities (a few thousand) rather than joined per row.
    """
    project = model.table_of(model.Project)
    ids: dict[int, str] = dict(
        conn.execute(
            select(project.c.id, project.c.key).where(project.c.key.in_(sorted(project_keys)))
        ).all()
    )
    wl, wi = model.table_of(model.Worklog), model.table_of(model.WorkItem)
    logs = fetch_tuples(
        conn,
        select(
            wi.c.project_id,
            func.coalesce(wi.c.deliverable_id, -1),
            epoch_seconds(conn, wl.c.started_at),
            wl.c.seconds,
            wl.c.source_id,
            wl.c.author_login,
        )
        .join(wi, and_(wi.c.source_id == wl.c.source_id, wi.c.external_id == wl.c.item_external_id))
        .where(
            wl.c.deleted_at.is_(None),
            wi.c.deleted_at.is_(None),
            in_projects(wi.c.project_id, ids, scan=most_projects(conn, len(ids))),
        ),
    )
    ce = model.table_of(model.CostEntry)
    entries = conn.execute(
        select(ce.c.project_id, ce.c.deliverable_id, ce.c.entry_date, ce.c.amount).where(
            ce.c.project_id.in_(list(ids))
        )
    ).all()
    roles = {p.id: p.role for p in config.settings.people}
    columns = [list(map(itemgetter(n), logs)) for n in range(6)]  # by column: no Row objects
    project_of = np.array(columns[0], "int64")
    deliverable = np.array(columns[1], "int64")
    seconds = np.array(columns[3], "int64")
    days = local_days(
        np.array(columns[2], "int64").astype("datetime64[s]"), config.settings.timezone
    )
    name_of = _booked_by(conn, set(zip(columns[4], columns[5], strict=True)))
    names = np.array([name_of[pair] for pair in zip(columns[4], columns[5], strict=True)], object)
    order = np.argsort(project_of, kind="stable")  # each project's worklogs, in the rows' order
    pids = sorted(ids)
    bounds = np.searchsorted(project_of[order], pids, side="left")
    ends = np.searchsorted(project_of[order], pids, side="right")
    other: dict[int, list[tuple]] = defaultdict(list)
    for row in entries:
        other[row[0]].append(tuple(row))
    found: dict[str, CostLedger] = {}
    for pid, first, last in zip(pids, bounds.tolist(), ends.tolist(), strict=True):
        rows = order[first:last]
        found[ids[pid]] = _ledger(
            config,
            ids[pid],
            _Booked(days[rows], seconds[rows], deliverable[rows], names[rows]),
            other[pid],
            roles,
        )
    return dict(sorted(found.items()))


def _booked_by(conn: Connection, accounts: set[tuple[int, str | None]]) -> dict[Any, str]:
    """Return who booked with each (source id, login): the person's id, else ``login (source)``."""
    ident, person = model.table_of(model.Identity), model.table_of(model.Person)
    claimed: dict[tuple[Any, Any], str] = {
        (source_id, login): str(key)
        for source_id, login, key in conn.execute(
            select(ident.c.source_id, ident.c.login, person.c.key).join(
                person, person.c.id == ident.c.person_id
            )
        )
    }
    sources = dict(conn.execute(select(model.Source.id, model.Source.name)).all())
    return {
        (source_id, login): claimed.get((source_id, login)) or f"{login} ({sources[source_id]})"
        for source_id, login in accounts
    }


@dataclass(frozen=True)
class _Booked:
    """One project's worklogs as columns: local day, seconds, deliverable id (-1: none), who."""

    days: np.ndarray
    seconds: np.ndarray
    deliverable_id: np.ndarray
    names: np.ndarray


def _ledger(
    config: Config,
    key: str,
    booked: _Booked,
    entries: list[tuple],
    roles: dict[str, str | None],
) -> CostLedger:
    project = config.projects[key]
    days, seconds = booked.days, booked.seconds
    # each name numbered in the order it first books (``people``), as the rows came
    labels, first, who = np.unique(booked.names, return_index=True, return_inverse=True)
    rank = np.argsort(first, kind="stable")
    renumber = np.empty(len(rank), "int64")
    renumber[rank] = np.arange(len(rank))
    who = renumber[who].astype("int64") if len(who) else np.empty(0, "int64")
    people = [str(labels[n]) for n in rank]
    cents = np.full(len(days), -1, "int64")
    cards = _rates(project)
    for n, name in enumerate(people):
        rows = np.flatnonzero(who == n)
        own = _price(days[rows], cards.get(("person", name)))
        role = roles.get(name)
        fallback = _price(days[rows], cards.get(("role", role)) if role else None)
        cents[rows] = np.where(own >= 0, own, fallback)
    rated = cents >= 0
    values = np.where(rated, seconds * cents, 0)
    other_days = np.array([r[2] for r in entries], "datetime64[D]")
    other_values = np.array(
        [int((Decimal(r[3]) * 100).to_integral_value()) * 3600 for r in entries], "int64"
    )
    labour = np.concatenate([np.ones(len(days), bool), np.zeros(len(entries), bool)])
    return CostLedger(
        project=key,
        currency=project.currency,
        day=np.concatenate([days, other_days]).astype("datetime64[D]"),
        value=np.concatenate([values, other_values]).astype("int64"),
        seconds=np.concatenate([seconds, np.zeros(len(entries), "int64")]),
        labour=labour,
        rated=np.concatenate([rated, np.ones(len(entries), bool)]),
        deliverable_id=np.concatenate(
            [
                booked.deliverable_id.astype("int64"),
                np.array([-1 if r[1] is None else r[1] for r in entries], "int64"),
            ]
        ),
        who=np.concatenate([who, np.full(len(entries), -1, "int64")]),
        people=tuple(people),
    )
