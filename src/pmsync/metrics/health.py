"""One call for everything: ``project_health(inputs)`` computes all metrics of a project.

This is the seam the integration uses: it maps the store and the
configuration onto ``ProjectInputs`` and gets back a ``ProjectHealth`` whose
``as_dict()`` is what the daily snapshot stores, the CLI prints, the rules
read and the reports render. The status date is the only "now": nothing here
reads a clock, and the forecasts draw from a random generator seeded by
``ForecastSettings.seed``, so the same inputs always give the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pmsync.metrics.business_case import business_case
from pmsync.metrics.earned_schedule import earned_schedule
from pmsync.metrics.evm import PlanArrays, evm_table, plan_arrays, planned_value_curve
from pmsync.metrics.forecast import forecast_milestones
from pmsync.metrics.inputs import EvmInputs, ProjectInputs
from pmsync.metrics.results import CostCurve, ProjectHealth, Series
from pmsync.metrics.team import item_timelines, team_health, throughput_history
from pmsync.metrics.workdays import WorkingCalendar, as_days, dates_of


def project_health(inputs: ProjectInputs) -> ProjectHealth:
    """Return every metric of one project at its status date."""
    evm = inputs.evm
    status = evm.status_date
    calendar = WorkingCalendar(evm.weekmask, tuple(evm.holidays))
    plan = plan_arrays(evm)
    table = evm_table(evm, plan)
    project, deliverables = table[0], table[1:]
    history = timelines = None
    if inputs.team is not None:
        timelines = item_timelines(inputs.team.changes, status)
        window = inputs.forecast.history_working_days
        history = throughput_history(timelines, status, window, calendar).tolist()
    return ProjectHealth(
        key=inputs.key,
        status_date=status,
        project=project,
        deliverables=deliverables,
        schedule=earned_schedule(plan, project.earned_value, status),
        milestones=forecast_milestones(
            inputs.milestones, history, status, inputs.forecast, calendar
        ),
        team=None if inputs.team is None else team_health(inputs.team, status, calendar, timelines),
        business_case=None if inputs.business_case is None else business_case(inputs.business_case),
        cost_curve=cost_curve(evm, plan),
    )


def portfolio_health(projects: Sequence[ProjectInputs]) -> list[ProjectHealth]:
    """Return the health of every project (each one vectorised inside)."""
    return [project_health(project) for project in projects]


def cost_curve(inputs: EvmInputs, plan: PlanArrays | None = None) -> CostCurve:
    """Return cumulative PV over the plan and cumulative AC up to the status date."""
    plan = plan or plan_arrays(inputs)
    days, planned = planned_value_curve(plan)
    status = np.datetime64(inputs.status_date, "D")
    series = inputs.actual_cost_by_day
    spent_on = as_days(series.day) if len(series.amount) else np.zeros(0, "datetime64[D]")
    amount = np.asarray(series.amount, dtype=np.float64)
    booked = spent_on <= status
    if not booked.any():
        return CostCurve(Series(dates_of(days), tuple(planned.tolist())), Series((), ()))
    first = min(spent_on[booked].min(), days[0]) if len(days) else spent_on[booked].min()
    span = np.arange(first, status + 1)
    daily = np.bincount(
        (spent_on[booked] - first).astype(np.int64), weights=amount[booked], minlength=len(span)
    )
    return CostCurve(
        planned_value=Series(dates_of(days), tuple(planned.tolist())),
        actual_cost=Series(dates_of(span), tuple(np.cumsum(daily).tolist())),
    )
