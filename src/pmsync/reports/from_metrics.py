"""The metrics hook filled from ``pmsync.metrics``: ``ProjectHealth`` → report facts.

``project_health`` computes every figure of a project; this module only copies
those figures into the report's sections (renaming, never recomputing), reads
plan facts that metrics does not carry (owners, annual budgets) from the
project's configuration, and slices the cumulative actual-cost curve at month
and fiscal-year boundaries. Whatever ``ProjectHealth`` does not hold (a
milestone's burn-up history, a baseline) stays ``Unavailable`` with the reason.

``HealthMetrics`` takes a loader ``(plan, as_of) -> ProjectHealth | None``: the
step that maps the store onto ``ProjectInputs`` belongs to the plan/metrics
integration; tests pass hand-built health.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Mapping
from datetime import date, timedelta

from pmsync.config import Project as ProjectPlan
from pmsync.metrics.results import ProjectHealth
from pmsync.metrics.results import Series as MetricSeries
from pmsync.reports.facts import (
    Budget,
    BudgetLine,
    BusinessCase,
    Chart,
    EarnedValue,
    Meetings,
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


def budget(h: ProjectHealth, plan: ProjectPlan) -> Budget:
    """Return spend for the month, fiscal year and life; forecasts only where metrics give one."""
    ac, status = h.cost_curve.actual_cost, h.status_date
    month_start = status.replace(day=1)
    fy = plan.fiscal_year_of(status)
    fy_start = date(fy, plan.fiscal_year_start.month, plan.fiscal_year_start.day)
    before = lambda d: _spent_until(ac, d - timedelta(days=1))  # noqa: E731
    now = _spent_until(ac, status)
    annual = plan.annual_budgets.get(fy)
    lines = (
        BudgetLine("month", status.strftime("%B %Y"), None, now - before(month_start), None),
        BudgetLine(
            "fiscal_year",
            f"FY{fy}",
            float(annual) if annual is not None else None,
            now - before(fy_start),
            None,
        ),
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


def charts(h: ProjectHealth, plan: ProjectPlan) -> dict[str, tuple[Chart, ...]]:
    """Return the charts metrics can draw: cost curves and throughput."""
    p = h.project
    found: dict[str, tuple[Chart, ...]] = {}
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
    return found


class HealthMetrics:
    """A ``MetricsSource`` reading ``ProjectHealth`` from a loader."""

    def __init__(self, loader: Loader | Mapping[str, ProjectHealth]) -> None:
        self._loader = loader
        self._cache: dict[tuple[str, date], ProjectHealth | None] = {}

    def health(self, plan: ProjectPlan, as_of: date) -> ProjectHealth | None:
        """Return the project's health at ``as_of`` (computed once per project and day)."""
        if (plan.key, as_of) not in self._cache:
            loader = self._loader
            self._cache[(plan.key, as_of)] = (
                loader.get(plan.key) if isinstance(loader, Mapping) else loader(plan, as_of)
            )
        return self._cache[(plan.key, as_of)]

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
        return budget(h, plan) if h else Unavailable(NO_HEALTH)

    def meetings(self, plan: ProjectPlan, as_of: date) -> Meetings | Unavailable:
        return Unavailable("meeting cadence is not part of the metrics")

    def charts(self, plan: ProjectPlan, as_of: date) -> Mapping[str, tuple[Chart, ...]]:
        h = self.health(plan, as_of)
        return charts(h, plan) if h else {}
