"""Project metrics: earned value, earned schedule, forecasts, team flow and the business case.

Pure functions over plain inputs (``inputs.py``) returning plain results
(``results.py``), vectorised with numpy so a portfolio of hundreds of projects
and a million work items is a matter of seconds. ``project_health`` computes
everything for one project; ``CATALOGUE`` names and documents every figure.
"""

from pmsync.metrics.business_case import business_case, npv, payback_years
from pmsync.metrics.catalogue import CATALOGUE, Metric, catalogue_markdown, metric
from pmsync.metrics.earned_schedule import earned_schedule, earned_schedule_periods
from pmsync.metrics.evm import earned_value_indicators, evm_table, plan_arrays
from pmsync.metrics.forecast import forecast_milestones, simulate_finish_days
from pmsync.metrics.health import cost_curve, portfolio_health, project_health
from pmsync.metrics.inputs import (
    ActualCostSeries,
    BusinessCaseInputs,
    DeliverablePlan,
    EvmInputs,
    ForecastSettings,
    MetricInputError,
    MilestonePlan,
    PersonWeekHours,
    ProjectInputs,
    StatusChanges,
    TeamInputs,
)
from pmsync.metrics.results import (
    BusinessCaseResult,
    CostCurve,
    EarnedScheduleResult,
    EvmResult,
    MilestoneForecast,
    PersonWeekLoad,
    ProjectHealth,
    Series,
    TeamHealth,
)
from pmsync.metrics.team import team_health
from pmsync.metrics.workdays import CALENDAR_DAYS, WorkingCalendar

__all__ = [
    "CALENDAR_DAYS",
    "CATALOGUE",
    "ActualCostSeries",
    "BusinessCaseInputs",
    "BusinessCaseResult",
    "CostCurve",
    "DeliverablePlan",
    "EarnedScheduleResult",
    "EvmInputs",
    "EvmResult",
    "ForecastSettings",
    "Metric",
    "MetricInputError",
    "MilestoneForecast",
    "MilestonePlan",
    "PersonWeekHours",
    "PersonWeekLoad",
    "ProjectHealth",
    "ProjectInputs",
    "Series",
    "StatusChanges",
    "TeamHealth",
    "TeamInputs",
    "WorkingCalendar",
    "business_case",
    "catalogue_markdown",
    "cost_curve",
    "earned_schedule",
    "earned_schedule_periods",
    "earned_value_indicators",
    "evm_table",
    "forecast_milestones",
    "metric",
    "npv",
    "payback_years",
    "plan_arrays",
    "portfolio_health",
    "project_health",
    "simulate_finish_days",
    "team_health",
]
