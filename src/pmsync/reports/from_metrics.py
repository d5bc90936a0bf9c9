"""The metrics hook filled from ``pmsync.metrics``: ``ProjectHealth`` → report facts.

``project_health`` computes every figure of a project; this module only copies
those figures into the report's sections (renaming, never recomputing), reads
plan facts that metrics does not carry (owners, annual budgets) from the
project's configuration, and slices the cumulative actual-cost curve at month
boundaries. The fiscal-year figures (spend, planned value, forecast) come from
``pmsync.health.burn.fiscal_year_burn``, the burn-up of each milestone from
``pmsync.health.burn.load_burnups`` (read by ``collect``) and its forecast cone
from the milestone rows, so a chart shows the same numbers as the tables.
Whatever ``ProjectHealth`` does not hold (a baseline) stays ``Unavailable``
with the reason.

``HealthMetrics`` takes a loader ``(plan, as_of) -> ProjectHealth | None``: the
step that maps the store onto ``ProjectInputs`` belongs to the plan/metrics
integration; tests pass hand-built health.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta

import numpy as np

from pmsync.config import Project as ProjectPlan
from pmsync.health.burn import FiscalYearBurn, MilestoneBurnup, fiscal_year_burn
from pmsync.metrics.results import ProjectHealth
from pmsync.metrics.results import Series as MetricSeries
from pmsync.reports.facts import (
    Budget,
    BudgetLine,
    BusinessCase,
    Chart,
    EarnedValue,
    MilestoneRow,
    Point,
    Series,
    SeriesStyle,
    Unavailable,
    WbsRow,
)

Loader = Callable[[ProjectPlan, date], ProjectHealth | None]
NO_HEALTH = "no metrics were computed for this project at this status date"


def earned_value(h: ProjectHealth) -> EarnedValue:
    """Return the project's EVM and earned-schedule figures as report facts."""
    p, s = h.project, h.schedule
    finish = s.forecast_finish_es if s else None
    return EarnedValue(
        bac=p.budget_at_completion,
        pv=p.planned_value,
        ev=p.earned_value,
        ac=p.actual_cost,
        sv=p.schedule_variance,
        cv=p.cost_variance,
        spi=p.schedule_performance_index,
        cpi=p.cost_performance_index,
        eac=p.estimate_at_completion,
        etc=p.estimate_to_complete,
        vac=p.variance_at_completion,
        tcpi_bac=p.tcpi_to_bac,
        tcpi_eac=p.tcpi_to_eac,
        es_days=s.earned_schedule if s else None,
        sv_t_days=s.schedule_variance_time if s else None,
        spi_t=s.schedule_performance_index_time if s else None,
        ieac_t_days=s.independent_eac_time if s else None,
        ieac_t_finish=finish,
    )


def milestones(h: ProjectHealth, plan: ProjectPlan) -> tuple[MilestoneRow, ...]:
    """Return each forecast milestone (baseline dates need the baseline: not in health)."""
    rows = []
    for m in h.milestones:
        late = m.due is not None and m.remaining_items > 0 and m.due < h.status_date
        if m.remaining_items == 0:
            status = "done"
        elif late:
            status = "late"
        elif m.probability_on_time is not None and m.probability_on_time < 0.7:
            status = "at_risk"
        elif m.probability_on_time is not None:
            status = "on_track"
        else:
            status = "unknown"
        rows.append(
            MilestoneRow(
                m.name,
                None,
                m.due,
                m.forecast_p50,
                m.forecast_p85,
                m.probability_on_time,
                None,
                status,  # type: ignore[arg-type]
            )
        )
    return tuple(rows)


def wbs(h: ProjectHealth, plan: ProjectPlan) -> tuple[WbsRow, ...]:
    """Return the WBS roll-up in tree order, with owners and finish dates from the plan."""
    nodes = {d.code: d for d in plan.all_deliverables()}
    rows = []
    for d in h.deliverables:
        node = nodes.get(d.code)
        rows.append(
            WbsRow(
                d.code,
                d.name or (node.name if node else d.code),
                d.code.count(".") + 1,
                node.owner if node else None,
                d.budget_at_completion,
                d.planned_value,
                d.earned_value,
                d.actual_cost,
                d.percent_complete,
                node.planned_finish if node else None,
            )
        )
    return tuple(rows)


def _spent_until(curve: MetricSeries, day: date) -> float:
    """Return the cumulative actual cost at the end of ``day`` (0 before the first)."""
    i = bisect_right(list(curve.days), day)
    return float(curve.values[i - 1]) if i else 0.0


def budget(h: ProjectHealth, plan: ProjectPlan, fy: FiscalYearBurn | None = None) -> Budget:
    """Return spend for the month, fiscal year and life, with the year's and the life's forecast.

    ``fy``: ``fiscal_year_burn(h, plan)``, if the caller has it already.
    """
    ac, status = h.cost_curve.actual_cost, h.status_date
    month_start = status.replace(day=1)
    before = _spent_until(ac, month_start - timedelta(days=1))
    now = _spent_until(ac, status)
    fy = fy or fiscal_year_burn(h, plan)
    lines = (
        BudgetLine("month", status.strftime("%B %Y"), None, now - before, None),
        BudgetLine("fiscal_year", fy.label, fy.budget, fy.spent_to_date, fy.forecast),
        BudgetLine(
            "life",
            "Project life",
            h.project.budget_at_completion,
            now,
            h.project.estimate_at_completion,
        ),
    )
    bc = h.business_case
    case: BusinessCase | Unavailable = (
        BusinessCase(
            bc.roi,
            bc.npv,
            bc.discounted_payback_years or bc.payback_years,
            bc.discount_rate,
            "plan costs and benefits from the business case",
        )
        if bc is not None
        else Unavailable("the project has no business case")
    )
    return Budget(lines=lines, business_case=case)


def _series(name: str, style: SeriesStyle, s: MetricSeries) -> Series:
    return Series(
        name, style, tuple(Point(d, float(v)) for d, v in zip(s.days, s.values, strict=True))
    )


def _steps(name: str, style: SeriesStyle, days: Sequence[date], values: Sequence[float]) -> Series:
    """Return a daily series without the inner days of its flat runs (the line looks the same)."""
    if len(days) != len(values):
        raise ValueError(f"{name}: {len(days)} days but {len(values)} values")
    v = np.asarray(values, dtype=float)
    keep = np.ones(len(v), dtype=bool)
    keep[1:-1] = (v[:-2] != v[1:-1]) | (v[1:-1] != v[2:])  # an inner day of a flat run goes
    return Series(
        name,
        style,
        tuple(
            Point(days[i], value)
            for i, value in zip(np.flatnonzero(keep).tolist(), v[keep].tolist(), strict=True)
        ),
    )


BURNUP = "Burn-up per milestone with forecast cone"
FY_BURN = "Budget burn for the fiscal year"


def _burnup_alt(row: MilestoneRow, b: MilestoneBurnup, done: float, scope: float) -> str:
    text = f"{row.name}: {done:.0f} of {scope:.0f} items done on {b.days[-1]}"
    if b.scope[0] != scope:
        text += f" (scope {b.scope[0]} on {b.days[0]})"
    if row.forecast_p50 is not None:
        text += f". Forecast: P50 {row.forecast_p50}"
        text += f", P85 {row.forecast_p85}" if row.forecast_p85 is not None else ""
    else:
        text += ". No forecast date could be computed (see the milestone table)"
    if row.current_due is not None:
        text += f"; due {row.current_due}"
        if row.current_due < b.days[-1]:
            text += ", passed"
        elif row.probability_on_time is not None:
            text += f", {row.probability_on_time:.0%} chance of meeting it"
    return text + "."


def burnup_chart(plan: ProjectPlan, index: int, row: MilestoneRow, b: MilestoneBurnup) -> Chart:
    """Return one milestone's burn-up: done and scope per day, due date, P50-P85 cone."""
    today = b.days[-1]
    done = row.done if row.done is not None else float(b.done[-1])
    scope = row.scope if row.scope is not None else float(b.scope[-1])
    series = [
        _steps("done", "actual", b.days, b.done),
        _steps("scope", "plan", b.days, b.scope),
    ]
    if row.forecast_p50 is not None and row.forecast_p85 is not None:
        series += [
            Series("P50", "cone", (Point(today, done), Point(row.forecast_p50, scope))),
            Series("P85", "cone", (Point(today, done), Point(row.forecast_p85, scope))),
        ]
    elif row.forecast_p50 is not None:
        series.append(
            Series("P50", "forecast", (Point(today, done), Point(row.forecast_p50, scope)))
        )
    markers = [Point(today, 0.0)]
    labels = ["status date"]
    if row.current_due is not None:
        markers.append(Point(row.current_due, 0.0))
        labels.append("due")
    return Chart(
        id=f"burnup-{plan.key}-{index}",
        title=f"{row.name}: burn-up",
        alt=_burnup_alt(row, b, done, scope),
        unit="items",
        series=tuple(series),
        markers=tuple(markers),
        marker_labels=tuple(labels),
    )


def burnup_charts(
    plan: ProjectPlan, rows: Sequence[MilestoneRow], burnups: Sequence[MilestoneBurnup]
) -> tuple[Chart | Unavailable, ...]:
    """Return a burn-up for each milestone with work left, or why there is none to draw.

    ``rows`` are the report's milestone rows (their forecast is the cone),
    ``burnups`` the daily history ``pmsync.health.load_burnups`` read.
    """
    if not rows:
        return (Unavailable(f"{BURNUP}: the plan has no milestones."),)
    history = {b.name: b for b in burnups}
    # a milestone with no item at all has no work left either, but it is not done
    open_rows = [(i, r) for i, r in enumerate(rows, 1) if r.status != "done" or r.scope == 0]
    if not open_rows:
        return (Unavailable(f"{BURNUP}: every milestone is done; nothing is left to forecast."),)
    charts: list[Chart | Unavailable] = [
        burnup_chart(plan, i, r, history[r.name]) for i, r in open_rows if r.name in history
    ]
    if not charts:
        names = ", ".join(r.name for _, r in open_rows)
        return (
            Unavailable(
                f"{BURNUP}: no work item of {plan.key} has been synced into {names} by "
                "the status date, so there is no scope history to draw."
            ),
        )
    return tuple(charts)


def fiscal_year_chart(
    h: ProjectHealth, plan: ProjectPlan, fy: FiscalYearBurn | None = None
) -> Chart | Unavailable:
    """Return the fiscal year's budget burn: spent, planned, forecast to its end, budget.

    ``fy``: ``fiscal_year_burn(h, plan)``, if the caller has it already.
    """
    fy = fy or fiscal_year_burn(h, plan)
    if not any(fy.planned.values) and not any(fy.spent.values):
        return Unavailable(f"{FY_BURN}: nothing is planned or spent in {fy.label}.")
    money = lambda v: f"{plan.currency} {v:,.0f}"  # noqa: E731
    status = h.status_date
    planned_now = fy.planned.values[(status - fy.start).days]
    budget = (
        f"annual budget {money(fy.budget)}"
        if fy.budget is not None
        else f"no annual budget is set for {fy.label}"
    )
    return Chart(
        id=f"fy-burn-{plan.key}",
        title=f"{fy.label} budget burn ({fy.start} to {fy.end})",
        alt=f"{fy.label}: {money(fy.spent_to_date)} spent by {status} against "
        f"{money(planned_now)} planned by then and {money(fy.planned_in_year)} for the year; "
        f"forecast {money(fy.forecast)} by {fy.end}; {budget}.",
        unit=plan.currency,
        series=(
            _steps("spent (AC)", "actual", fy.spent.days, fy.spent.values),
            _steps("planned (PV)", "plan", fy.planned.days, fy.planned.values),
            Series(
                "forecast",
                "forecast",
                (Point(status, fy.spent_to_date), Point(fy.end, fy.forecast)),
            ),
        ),
        markers=(Point(status, 0.0),),
        marker_labels=("status date",),
        level=fy.budget,
        level_label=f"{fy.label} budget" if fy.budget is not None else None,
    )


def charts(
    h: ProjectHealth, plan: ProjectPlan, fy: FiscalYearBurn | None = None
) -> dict[str, tuple[Chart | Unavailable, ...]]:
    """Return the charts drawn from the health: cost curves, fiscal-year burn, throughput."""
    p = h.project
    found: dict[str, tuple[Chart | Unavailable, ...]] = {}
    found["cost"] = (
        Chart(
            id=f"cost-{plan.key}",
            title="Cost curves: PV and AC, with BAC and EAC",
            alt=f"Planned value to {p.budget_at_completion:,.0f} and actual cost to date "
            f"{p.actual_cost:,.0f}; EAC {p.estimate_at_completion:,.0f}.",
            unit=plan.currency,
            series=(
                _series("PV", "plan", h.cost_curve.planned_value),
                _series("AC", "forecast", h.cost_curve.actual_cost),
            ),
            markers=(Point(h.status_date, 0.0),),
            marker_labels=("status date",),
            level=p.estimate_at_completion,
            level_label="EAC",
        ),
    )
    found["fy-burn"] = (fiscal_year_chart(h, plan, fy),)
    if h.team is not None and h.team.throughput_by_week.days:
        week = h.team.throughput_by_week
        found["throughput"] = (
            Chart(
                id=f"throughput-{plan.key}",
                title="Throughput (items done per week)",
                alt=f"Items done per week: {len(week.days)} weeks, last {week.values[-1]:.0f}.",
                unit="items",
                series=(_series("done", "bar", week),),
            ),
        )
    else:
        found["throughput"] = (
            Unavailable("Throughput: no status history of the project's items to count from."),
        )
    return found


class HealthMetrics:
    """A ``MetricsSource`` reading ``ProjectHealth`` from a loader."""

    def __init__(self, loader: Loader | Mapping[str, ProjectHealth]) -> None:
        self._loader = loader
        self._cache: dict[tuple[str, date], ProjectHealth | None] = {}
        self._years: dict[tuple[str, date], FiscalYearBurn] = {}

    def health(self, plan: ProjectPlan, as_of: date) -> ProjectHealth | None:
        """Return the project's health at ``as_of`` (computed once per project and day)."""
        if (plan.key, as_of) not in self._cache:
            loader = self._loader
            self._cache[(plan.key, as_of)] = (
                loader.get(plan.key) if isinstance(loader, Mapping) else loader(plan, as_of)
            )
        return self._cache[(plan.key, as_of)]

    def _fiscal_year(self, plan: ProjectPlan, as_of: date, h: ProjectHealth) -> FiscalYearBurn:
        """Return the fiscal year's burn (the budget table and its chart both show it)."""
        if (plan.key, as_of) not in self._years:
            self._years[(plan.key, as_of)] = fiscal_year_burn(h, plan)
        return self._years[(plan.key, as_of)]

    def earned_value(self, plan: ProjectPlan, as_of: date) -> EarnedValue | Unavailable:
        h = self.health(plan, as_of)
        return earned_value(h) if h else Unavailable(NO_HEALTH)

    def milestones(self, plan: ProjectPlan, as_of: date) -> tuple[MilestoneRow, ...] | Unavailable:
        h = self.health(plan, as_of)
        return milestones(h, plan) if h else Unavailable(NO_HEALTH)

    def wbs(self, plan: ProjectPlan, as_of: date) -> tuple[WbsRow, ...] | Unavailable:
        h = self.health(plan, as_of)
        return wbs(h, plan) if h else Unavailable(NO_HEALTH)

    def budget(self, plan: ProjectPlan, as_of: date) -> Budget | Unavailable:
        h = self.health(plan, as_of)
        return budget(h, plan, self._fiscal_year(plan, as_of, h)) if h else Unavailable(NO_HEALTH)

    def charts(
        self, plan: ProjectPlan, as_of: date
    ) -> Mapping[str, tuple[Chart | Unavailable, ...]]:
        h = self.health(plan, as_of)
        return charts(h, plan, self._fiscal_year(plan, as_of, h)) if h else {}
