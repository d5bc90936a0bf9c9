"""The plain inputs of the metrics: what the data layer hands over, nothing more.

The metrics never read the database or the configuration. The plan layer
(planned values per deliverable, actual cost from worklogs x rates, progress,
status histories) and the calendar layer (capacity and leave) fill these
frozen dataclasses, and ``project_health`` computes everything from them, so
the integration is a thin mapping and every figure can be tested from a few
literal values. Large series (costs, status changes) are parallel sequences
or numpy arrays rather than one object per row, so a million work items cross
the boundary without a million objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pmsync.errors import PmsyncError

Spread = Literal["working_days", "calendar_days"]
"""How a deliverable's planned cost is spread over its planned dates, and the unit of time."""


class MetricInputError(PmsyncError, ValueError):
    """The inputs of a metric are inconsistent; the message says which and why."""


@dataclass(frozen=True, slots=True)
class DeliverablePlan:
    """One node of the WBS as planned: its dates and the cost of its own work."""

    code: str
    parent: str | None
    planned_start: date | None
    planned_finish: date | None
    planned_cost: float = 0.0
    name: str = ""


@dataclass(frozen=True, slots=True)
class ActualCostSeries:
    """Money spent per day and deliverable (worklogs x rates, plus cost entries).

    ``deliverable`` is a WBS code, or ``None`` for cost booked on the project
    as a whole; ``day`` holds dates or a ``datetime64[D]`` array.
    """

    deliverable: Sequence[str | None]
    day: Sequence[date] | Any
    amount: Sequence[float] | Any

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str | None, date, float]]) -> ActualCostSeries:
        """Build the series from ``(deliverable, day, amount)`` rows."""
        listed = list(rows)
        return cls(
            deliverable=[r[0] for r in listed],
            day=[r[1] for r in listed],
            amount=[float(r[2]) for r in listed],
        )

    @classmethod
    def empty(cls) -> ActualCostSeries:
        """Return a series with no cost at all."""
        return cls(deliverable=[], day=[], amount=[])


@dataclass(frozen=True, slots=True)
class EvmInputs:
    """Everything earned value and earned schedule need, at one status date."""

    status_date: date
    deliverables: Sequence[DeliverablePlan]
    pct_complete: Mapping[str, float]
    """Fraction complete (0..1) per WBS code, from the project's progress measure."""
    actual_cost_by_day: ActualCostSeries = field(default_factory=ActualCostSeries.empty)
    spread: Spread = "working_days"
    """Planned cost is spread linearly over the working days (default) or calendar days."""
    weekmask: str = "1111100"
    holidays: tuple[date, ...] = ()


@dataclass(frozen=True, slots=True)
class MilestonePlan:
    """A milestone to forecast: its due date and the work items still open."""

    name: str
    due: date | None
    remaining_items: int
    throughput_history: Sequence[int] | None = None
    """Items done per working day, oldest first; ``None`` uses the project's history."""


@dataclass(frozen=True, slots=True)
class ForecastSettings:
    """How milestone forecasts are simulated."""

    trials: int = 10_000
    seed: int = 0
    history_working_days: int = 60
    """How many working days, up to the status date, make the throughput history."""
    capacity: Mapping[date, float] = field(default_factory=dict)
    """Share of the team available per future day (0..1, leave); days not listed are 1."""
    horizon_working_days: int = 1305
    """Trials that have not finished after this many working days (five years) are censored."""


@dataclass(frozen=True, slots=True)
class StatusChanges:
    """Status changes of work items: item, when (aware UTC) and the new normalised status.

    ``at`` may be a ``datetime64`` array in UTC (what the store hands over for
    large projects) or a sequence of aware datetimes; ``to_status`` is one of
    ``todo``, ``in_progress``, ``done``. The item's creation counts as a
    change to its first status.
    """

    item: Sequence[Any] | Any
    at: Sequence[datetime] | Any
    to_status: Sequence[str] | Any

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[Any, datetime, str]]) -> StatusChanges:
        """Build the changes from ``(item, at, to_status)`` rows."""
        listed = list(rows)
        return cls(
            item=[r[0] for r in listed], at=[r[1] for r in listed], to_status=[r[2] for r in listed]
        )


@dataclass(frozen=True, slots=True)
class PersonWeekHours:
    """Hours of one person in one ISO week (``week`` is its Monday)."""

    person: str
    week: date
    hours: float


@dataclass(frozen=True, slots=True)
class TeamInputs:
    """Work item histories and the people's weekly capacity and bookings."""

    changes: StatusChanges
    capacity_hours: Sequence[PersonWeekHours] = ()
    """Hours each person can work per week, leave already taken out."""
    booked_hours: Sequence[PersonWeekHours] = ()
    """Hours booked or assigned to each person per week."""
    window_working_days: int = 60
    """Throughput, cycle time and WIP series cover this many working days up to the status date."""


@dataclass(frozen=True, slots=True)
class BusinessCaseInputs:
    """Costs and benefits per year (index 0 = the start year, undiscounted)."""

    discount_rate: float
    costs_by_year: Sequence[float]
    benefits_by_year: Sequence[float]

    @classmethod
    def from_years(
        cls, discount_rate: float, costs: Mapping[int, float], benefits: Mapping[int, float]
    ) -> BusinessCaseInputs:
        """Build the case from ``{year: amount}`` mappings (missing years are 0)."""
        years = max([*costs, *benefits], default=0) + 1
        return cls(
            discount_rate=discount_rate,
            costs_by_year=[float(costs.get(y, 0.0)) for y in range(years)],
            benefits_by_year=[float(benefits.get(y, 0.0)) for y in range(years)],
        )


@dataclass(frozen=True, slots=True)
class ProjectInputs:
    """Everything ``project_health`` needs for one project at one status date.

    The working calendar of ``evm`` (week mask and holidays) is the project's
    calendar for every metric: forecasts and team figures count the same days.
    """

    key: str
    evm: EvmInputs
    milestones: Sequence[MilestonePlan] = ()
    forecast: ForecastSettings = field(default_factory=ForecastSettings)
    team: TeamInputs | None = None
    business_case: BusinessCaseInputs | None = None
