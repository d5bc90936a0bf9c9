"""Earned value management as PMI's PMBOK Guide defines it, at any status date.

Planned value (PV) is time-phased from the deliverable plans: each work
package's planned cost is spread linearly over the working days from its
planned start to its planned finish, both inclusive (``spread="calendar_days"``
spreads it over every day instead). PV at a status date is what was planned up
to the end of that day. Earned value (EV) is each work package's budget (BAC)
times its fraction complete, from the progress measure the project uses
(story points, estimates or item counts); actual cost (AC) is every cost dated
up to and including the status date. Parents and the project sum their
children, and every index is recomputed from those sums (``wbs.py``).

When a figure has no meaning it is ``None`` instead of a misleading number:
SPI before any value is planned (PV = 0), CPI and EAC = BAC/CPI before any
value is earned or cost booked (EV = 0 or AC = 0; the estimate then falls back
to AC + (BAC - EV), named in ``eac_basis``), TCPI once the work is done, and
TCPI to BAC once the budget is spent with work left (``budget_exhausted`` is
then true: no efficiency can finish within budget). Once EV reaches BAC every
EAC is the actual cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from pmsync.metrics.inputs import EvmInputs, MetricInputError
from pmsync.metrics.results import EvmResult
from pmsync.metrics.wbs import Wbs, build_wbs
from pmsync.metrics.workdays import CALENDAR_DAYS, Days, WorkingCalendar, as_days

Floats = npt.NDArray[np.float64]
_DONE = 1e-9
"""Relative tolerance under which the work remaining counts as none."""


@dataclass(frozen=True, slots=True)
class PlanArrays:
    """The validated plan as arrays, one entry per WBS node (the project last)."""

    wbs: Wbs
    start: Days
    finish: Days
    cost: Floats
    calendar: WorkingCalendar
    """The calendar the cost is spread over (and earned schedule counts in)."""


def plan_arrays(inputs: EvmInputs) -> PlanArrays:
    """Validate the deliverable plans and return them as arrays."""
    wbs = build_wbs(inputs.deliverables)
    plans = inputs.deliverables
    cost = np.array([float(p.planned_cost) for p in plans] + [0.0])
    problems: list[str] = []
    if not np.isfinite(cost).all() or (cost < 0).any():
        problems.append(f"planned costs must be finite and >= 0: {_codes(wbs, ~(cost >= 0))}")
    undated = [
        p.code for p in plans if p.planned_cost and None in (p.planned_start, p.planned_finish)
    ]
    if undated:
        problems.append(
            f"deliverables with a planned cost need a planned start and finish: {undated}"
        )
    backwards = [
        p.code
        for p in plans
        if p.planned_start and p.planned_finish and p.planned_finish < p.planned_start
    ]
    if backwards:
        problems.append(f"deliverables that finish before they start: {backwards}")
    if problems:
        raise MetricInputError("; ".join(problems))
    start = as_days([p.planned_start for p in plans] + [None])
    finish = as_days([p.planned_finish for p in plans] + [None])
    calendar = (
        CALENDAR_DAYS
        if inputs.spread == "calendar_days"
        else WorkingCalendar(inputs.weekmask, tuple(inputs.holidays))
    )
    return PlanArrays(wbs, start, finish, cost, calendar)


def planned_fraction(plan: PlanArrays, at: np.datetime64) -> Floats:
    """Return the share of each node's own planned cost due by the end of day ``at``."""
    dated = ~np.isnat(plan.start) & ~np.isnat(plan.finish)
    start = np.where(dated, plan.start, at)
    finish = np.where(dated, plan.finish, at)
    length = plan.calendar.count(start, finish + 1)
    elapsed = plan.calendar.count(start, np.minimum(at, finish) + 1).clip(min=0)
    fraction = np.where(length > 0, elapsed / np.maximum(length, 1), (at >= finish) * 1.0)
    return np.where(dated, fraction, 0.0)


def planned_value_curve(plan: PlanArrays) -> tuple[Days, Floats]:
    """Return every day from the first planned start to the last finish, and cumulative PV."""
    costed = plan.cost > 0
    if not costed.any():
        return np.zeros(0, dtype="datetime64[D]"), np.zeros(0)
    start, finish, cost = plan.start[costed], plan.finish[costed], plan.cost[costed]
    first, last = start.min(), finish.max()
    days = np.arange(first, last + 1)
    length = plan.calendar.count(start, finish + 1)
    begin = (start - first).astype(np.int64)
    end = (finish - first).astype(np.int64)
    rate = np.where(length > 0, cost / np.maximum(length, 1), 0.0)
    change = np.zeros(len(days) + 1)
    np.add.at(change, begin, rate)
    np.add.at(change, end + 1, -rate)
    daily = np.cumsum(change[:-1]) * plan.calendar.is_working(days)
    # A plan whose dates hold no working day is due, in full, on its finish.
    np.add.at(daily, end[length == 0], cost[length == 0])
    curve = np.maximum.accumulate(np.cumsum(daily).clip(min=0.0))
    curve[-1] = cost.sum()  # exact at the end, whatever the rounding on the way
    return days, curve


def actual_cost_by_node(inputs: EvmInputs, wbs: Wbs, through: np.datetime64) -> Floats:
    """Return each node's own actual cost dated up to and including ``through``."""
    series = inputs.actual_cost_by_day
    amount = np.asarray(series.amount, dtype=np.float64)
    if not np.isfinite(amount).all():
        raise MetricInputError("actual costs must be finite numbers")
    node = wbs.node_of(series.deliverable, "the actual cost series")
    due = as_days(series.day) <= through if len(amount) else np.zeros(0, dtype=bool)
    spent = np.bincount(node[due], weights=amount[due], minlength=len(wbs.codes))
    return spent.astype(np.float64)


def percent_complete_by_node(inputs: EvmInputs, wbs: Wbs) -> Floats:
    """Return each node's own fraction complete (0 where the progress measure says nothing)."""
    pct = np.zeros(len(wbs.codes))
    unknown = [code for code in inputs.pct_complete if code not in wbs.index]
    if unknown:
        raise MetricInputError(f"percent complete given for codes not in the WBS: {unknown}")
    for code, value in inputs.pct_complete.items():
        pct[wbs.index[code]] = value
    bad = ~((pct >= 0) & (pct <= 1))
    if bad.any():
        raise MetricInputError(f"percent complete is a fraction 0..1: {_codes(wbs, bad)}")
    return pct


def earned_value_indicators(bac: Floats, pv: Floats, ev: Floats, ac: Floats) -> dict[str, Floats]:
    """Return SV, CV, SPI, CPI, the EACs, ETC, VAC and TCPIs elementwise (NaN = undefined)."""
    nan = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        remaining = bac - ev
        done = remaining <= _DONE * np.maximum(bac, 1.0)
        spi = np.where(pv > 0, ev / pv, nan)
        cpi = np.where(ac > 0, ev / ac, nan)
        at_cpi = np.where(done, ac, np.where((ev > 0) & (ac > 0), bac * ac / ev, nan))
        at_budget = ac + remaining
        efficiency = cpi * spi
        at_both = np.where(done, ac, np.where(efficiency > 0, ac + remaining / efficiency, nan))
        eac = np.where(np.isnan(at_cpi), at_budget, at_cpi)
        etc = eac - ac
        exhausted = ~done & (bac > 0) & (ac >= bac)
        return {
            "percent_complete": np.where(bac > 0, ev / bac, nan),
            "schedule_variance": ev - pv,
            "cost_variance": ev - ac,
            "schedule_performance_index": spi,
            "cost_performance_index": cpi,
            "estimate_at_completion": eac,
            "uses_current_cpi": (~np.isnan(at_cpi)).astype(np.float64),
            "eac_at_current_cpi": at_cpi,
            "eac_at_budgeted_rate": at_budget,
            "eac_at_cpi_and_spi": at_both,
            "estimate_to_complete": etc,
            "variance_at_completion": bac - eac,
            "tcpi_to_bac": np.where(~done & (bac - ac > 0), remaining / (bac - ac), nan),
            "tcpi_to_eac": np.where(~done & (etc > 0), remaining / etc, nan),
            "budget_exhausted": exhausted.astype(np.float64),
        }


def evm_table(inputs: EvmInputs, plan: PlanArrays | None = None) -> tuple[EvmResult, ...]:
    """Return earned value for the project (first) and every WBS node at the status date."""
    plan = plan or plan_arrays(inputs)
    wbs = plan.wbs
    status = np.datetime64(inputs.status_date, "D")
    pct = percent_complete_by_node(inputs, wbs)
    own = np.stack(
        [
            plan.cost,
            plan.cost * planned_fraction(plan, status),
            plan.cost * pct,
            actual_cost_by_node(inputs, wbs, status),
        ],
        axis=1,
    )
    bac, pv, ev, ac = wbs.roll_up(own).T
    figures = earned_value_indicators(bac, pv, ev, ac)
    order = [wbs.root, *range(wbs.root)]
    return tuple(_result(wbs, i, bac, pv, ev, ac, figures) for i in order)


def _result(
    wbs: Wbs, i: int, bac: Floats, pv: Floats, ev: Floats, ac: Floats, f: dict[str, Floats]
) -> EvmResult:
    def opt(name: str) -> float | None:
        value = float(f[name][i])
        return None if np.isnan(value) else value

    return EvmResult(
        code=wbs.codes[i],
        name=wbs.names[i],
        parent=wbs.parent_code(i),
        budget_at_completion=float(bac[i]),
        planned_value=float(pv[i]),
        earned_value=float(ev[i]),
        actual_cost=float(ac[i]),
        percent_complete=opt("percent_complete"),
        schedule_variance=float(f["schedule_variance"][i]),
        cost_variance=float(f["cost_variance"][i]),
        schedule_performance_index=opt("schedule_performance_index"),
        cost_performance_index=opt("cost_performance_index"),
        estimate_at_completion=float(f["estimate_at_completion"][i]),
        eac_basis="eac_at_current_cpi" if f["uses_current_cpi"][i] else "eac_at_budgeted_rate",
        eac_at_current_cpi=opt("eac_at_current_cpi"),
        eac_at_budgeted_rate=float(f["eac_at_budgeted_rate"][i]),
        eac_at_cpi_and_spi=opt("eac_at_cpi_and_spi"),
        estimate_to_complete=float(f["estimate_to_complete"][i]),
        variance_at_completion=float(f["variance_at_completion"][i]),
        tcpi_to_bac=opt("tcpi_to_bac"),
        tcpi_to_eac=opt("tcpi_to_eac"),
        budget_exhausted=bool(f["budget_exhausted"][i]),
    )


def _codes(wbs: Wbs, mask: npt.NDArray[np.bool_]) -> list[str]:
    return [wbs.codes[i] for i in np.flatnonzero(mask)]
