"""The plain results of the metrics, for rules, reports, snapshots and the CLI.

Each result is a frozen dataclass whose field names are the metric names of
the catalogue (``pmsync.metrics.catalogue``), so a custom rule, a report
column and a snapshot row all say ``schedule_performance_index`` for the same
number. A figure that is not defined at the status date (SPI before any value
was planned, CPI before any cost) is ``None``, never NaN or infinity: the
catalogue says when each one is undefined, and ``as_dict`` is JSON as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from datetime import date
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if hasattr(value, "as_dict"):
        return value.as_dict()
    return value


class _AsDict:
    """Mixin: ``as_dict`` gives JSON-ready values (ISO dates, lists, no NaN)."""

    def as_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-ready values."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Series(_AsDict):
    """A figure per day or per week, for charts and trends."""

    days: tuple[date, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class EvmResult(_AsDict):
    """Earned value of one WBS node (or of the whole project, code ``""``)."""

    code: str
    name: str
    parent: str | None
    budget_at_completion: float
    planned_value: float
    earned_value: float
    actual_cost: float
    percent_complete: float | None
    schedule_variance: float
    cost_variance: float
    schedule_performance_index: float | None
    cost_performance_index: float | None
    estimate_at_completion: float
    eac_basis: str
    """The formula behind ``estimate_at_completion``: at current CPI, or at the budgeted rate."""
    eac_at_current_cpi: float | None
    eac_at_budgeted_rate: float
    eac_at_cpi_and_spi: float | None
    estimate_to_complete: float
    variance_at_completion: float
    tcpi_to_bac: float | None
    tcpi_to_eac: float | None
    budget_exhausted: bool


@dataclass(frozen=True, slots=True)
class EarnedScheduleResult(_AsDict):
    """Earned schedule (Lipke) of the project, in working or calendar days."""

    time_unit: str
    project_start: date
    planned_finish: date
    planned_duration: float
    actual_time: float
    earned_schedule: float
    schedule_variance_time: float
    schedule_performance_index_time: float | None
    independent_eac_time: float | None
    to_complete_schedule_performance_index: float | None
    forecast_finish_es: date | None


@dataclass(frozen=True, slots=True)
class MilestoneForecast(_AsDict):
    """When a milestone will be done: Monte Carlo percentiles and a linear cross-check."""

    name: str
    due: date | None
    remaining_items: int
    trials: int
    mean_throughput: float | None
    forecast_p50: date | None
    forecast_p85: date | None
    forecast_p95: date | None
    probability_on_time: float | None
    linear_forecast_finish: date | None
    note: str | None
    """Why a figure is missing, in one sentence (no history, no throughput, beyond horizon)."""


@dataclass(frozen=True, slots=True)
class PersonWeekLoad(_AsDict):
    """Booked hours of one person in one week against the hours they can work."""

    person: str
    week: date
    capacity_hours: float
    booked_hours: float
    load: float | None
    overloaded: bool


@dataclass(frozen=True, slots=True)
class TeamHealth(_AsDict):
    """Throughput, cycle time, work in progress and load of the project's team."""

    throughput_by_day: Series
    throughput_by_week: Series
    throughput_per_day: float | None
    throughput_per_week: float | None
    cycle_time_median_days: float | None
    cycle_time_p85_days: float | None
    cycle_time_items: int
    work_in_progress: int
    work_in_progress_by_day: Series
    loads: tuple[PersonWeekLoad, ...]
    overloaded_person_weeks: int


@dataclass(frozen=True, slots=True)
class BusinessCaseResult(_AsDict):
    """ROI, NPV and payback of the business case."""

    discount_rate: float
    total_costs: float
    total_benefits: float
    discounted_costs: float
    discounted_benefits: float
    npv: float
    roi: float | None
    simple_roi: float | None
    payback_years: float | None
    discounted_payback_years: float | None


@dataclass(frozen=True, slots=True)
class CostCurve(_AsDict):
    """Cumulative planned value over the plan and actual cost up to the status date."""

    planned_value: Series
    actual_cost: Series


@dataclass(frozen=True, slots=True)
class ProjectHealth(_AsDict):
    """Every metric of one project at one status date."""

    key: str
    status_date: date
    project: EvmResult
    deliverables: tuple[EvmResult, ...]
    schedule: EarnedScheduleResult | None
    milestones: tuple[MilestoneForecast, ...]
    team: TeamHealth | None
    business_case: BusinessCaseResult | None
    cost_curve: CostCurve
