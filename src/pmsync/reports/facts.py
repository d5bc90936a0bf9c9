"""The report contract: every fact a project or portfolio report shows, and nothing else.

Renderers (HTML, Markdown, JSON), the static site, e-mail and meeting packs
read only these frozen dataclasses; ``collect.py`` is the only code that fills
them from the store. That split lets every output be tested with hand-built
facts, and keeps the figures in one place: a report can never show a number
that is not in its JSON.

A section whose data pmsync cannot produce yet (a capability not installed, a
plan without a baseline) is an ``Unavailable`` with the reason, never a zero:
readers must be able to tell "nothing to report" from "not known". Money is a
``float`` in the project's currency; dates are ``date``; instants are aware UTC
``datetime``. ``to_json`` (in ``render_json``) turns the tree into the
documented JSON; ``schema.py`` derives its JSON Schema from these classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

SCHEMA_VERSION = 1

Rag = Literal["green", "amber", "red", "grey"]
"""grey: not enough data to judge (never shown as green)."""
Dimension = Literal["schedule", "cost", "scope", "risk"]
Better = Literal["higher", "lower", "neither"]
SeriesStyle = Literal["actual", "plan", "forecast", "cone", "bar"]


@dataclass(frozen=True)
class Unavailable:
    """A section pmsync cannot fill (yet): the reason is shown instead of figures."""

    reason: str
    available: bool = False


@dataclass(frozen=True)
class RagStatus:
    """A red / amber / green judgement with its reason in one sentence."""

    dimension: Dimension | Literal["overall"]
    rag: Rag
    reason: str


@dataclass(frozen=True)
class SourceFreshness:
    """How current one source's data is; ``stale`` means no good sync for 2 intervals."""

    source: str
    kind: str | None
    last_success: datetime | None
    age_hours: float | None
    stale: bool
    status: Literal["ok", "partial", "failing", "never"]
    """``partial``: the latest run skipped a scope the source refused (``error`` names it)."""
    error: str | None = None


@dataclass(frozen=True)
class Header:
    """Who, what, when, and how the project is doing at a glance."""

    project_key: str
    project_name: str
    manager: str | None
    sponsor: str | None
    currency: str
    period_start: date
    status_date: date
    generated_at: datetime
    overall: RagStatus
    dimensions: tuple[RagStatus, ...]
    stale: bool
    objectives: tuple[str, ...] = ()


@dataclass(frozen=True)
class KeyFigure:
    """A headline number, compared across reports for trend arrows."""

    name: str
    label: str
    value: float | None
    unit: Literal["ratio", "money", "days", "percent", "count"]
    better: Better


@dataclass(frozen=True)
class MilestoneRow:
    """One milestone: plan against forecast."""

    name: str
    baseline_due: date | None
    current_due: date | None
    forecast_p50: date | None
    forecast_p85: date | None
    probability_on_time: float | None
    variance_days: int | None
    """Current due (or P85 forecast, when later) minus baseline due; positive is late."""
    status: Literal["done", "on_track", "at_risk", "late", "unknown"]
    done: float | None = None
    scope: float | None = None


@dataclass(frozen=True)
class WbsRow:
    """One node of the WBS with figures rolled up from its leaves."""

    code: str
    name: str
    level: int
    owner: str | None
    planned_cost: float | None
    planned_value: float | None
    earned_value: float | None
    actual_cost: float | None
    percent_complete: float | None
    planned_finish: date | None = None


@dataclass(frozen=True)
class EarnedValue:
    """PMBOK earned value and Lipke's earned schedule at the status date."""

    bac: float
    pv: float
    ev: float
    ac: float
    sv: float
    cv: float
    spi: float | None
    cpi: float | None
    eac: float | None
    etc: float | None
    vac: float | None
    tcpi_bac: float | None
    tcpi_eac: float | None
    es_days: float | None
    sv_t_days: float | None
    spi_t: float | None
    ieac_t_days: float | None
    ieac_t_finish: date | None
    available: bool = True


@dataclass(frozen=True)
class BudgetLine:
    """Spend and forecast for one period (month, fiscal year, life)."""

    period: Literal["month", "fiscal_year", "life"]
    label: str
    budget: float | None
    spent: float
    forecast: float | None


@dataclass(frozen=True)
class BusinessCase:
    """The business case recomputed with the latest figures."""

    roi: float | None
    npv: float | None
    payback_years: float | None
    discount_rate: float
    basis: str
    available: bool = True


@dataclass(frozen=True)
class Budget:
    """Money for the month, the fiscal year and the whole life, and the business case."""

    lines: tuple[BudgetLine, ...]
    business_case: BusinessCase | Unavailable
    available: bool = True


@dataclass(frozen=True)
class Point:
    """A value on a day."""

    day: date
    value: float


@dataclass(frozen=True)
class Series:
    """A named line; ``style`` chooses how it is drawn and what it means."""

    name: str
    style: SeriesStyle
    points: tuple[Point, ...]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickle the points as two columns: each day's ordinal and the values.

        Reports cross to the processes that draw them pickled, and two thirds of
        their objects are points: pickled one by one (a class and a dict of two
        fields each), the 500 reports of the benchmark were 26 MB and took 0.70 s
        to pickle; as columns, 11 MB and 0.13 s, unpickled no slower. Equal
        either way; a point of another type, or an instant, goes as it is.
        """
        points = self.points
        if all(type(p) is Point and type(p.day) is date for p in points):
            days = [p.day.toordinal() for p in points]
            return _series, (self.name, self.style, days, [p.value for p in points])
        return Series, (self.name, self.style, points)


def _series(name: str, style: SeriesStyle, days: list[int], values: list[float]) -> Series:
    """Return the series ``Series.__reduce__`` pickled as columns."""
    return Series(name, style, tuple(map(Point, map(date.fromordinal, days), values)))


@dataclass(frozen=True)
class Chart:
    """A chart to draw: series, optional marker lines, and its text alternative."""

    id: str
    title: str
    alt: str
    unit: str
    series: tuple[Series, ...]
    markers: tuple[Point, ...] = ()
    """Vertical dated markers: a due date (value unused) or the status date."""
    marker_labels: tuple[str, ...] = ()
    level: float | None = None
    """A horizontal reference level (BAC, the annual budget)."""
    level_label: str | None = None


@dataclass(frozen=True)
class RiskRow:
    """An entry of the risk register."""

    key: str
    title: str
    probability: float | None
    impact: float | None
    exposure: float | None
    owner: str | None
    response: str | None
    status: str
    next_review: date | None
    days_overdue: int | None


@dataclass(frozen=True)
class Risks:
    """The top risks by exposure and the reviews that are overdue."""

    top: tuple[RiskRow, ...]
    overdue_reviews: tuple[RiskRow, ...]
    open_count: int
    total_exposure: float
    available: bool = True


@dataclass(frozen=True)
class Evidence:
    """One fact behind an alert: a number or an item, with a link when there is one."""

    label: str
    value: str
    url: str | None = None


@dataclass(frozen=True)
class AlertRow:
    """A firing alert and why."""

    rule: str
    severity: Literal["info", "warning", "critical"]
    summary: str
    subject: str
    since: datetime
    evidence: tuple[Evidence, ...]
    suggested_action: str | None


@dataclass(frozen=True)
class PlanChangeRow:
    """A change of plan dates, budget or scope against the baseline."""

    at: datetime
    subject: str
    field: str
    old: str | None
    new: str | None
    approved: bool


@dataclass(frozen=True)
class Trend:
    """A key figure now and at the previous report."""

    name: str
    label: str
    previous: float | None
    current: float | None
    direction: Literal["up", "down", "flat", "new", "gone"]
    verdict: Literal["better", "worse", "same", "unknown"]


@dataclass(frozen=True)
class Changes:
    """What moved since the previous report."""

    previous_status_date: date | None
    plan_changes: tuple[PlanChangeRow, ...]
    trends: tuple[Trend, ...]
    available: bool = True


@dataclass(frozen=True)
class Meeting:
    """A calendar event that belongs to the project's meeting cadence."""

    kind: str
    title: str
    starts_at: datetime
    attendees: tuple[str, ...] = ()
    url: str | None = None


@dataclass(frozen=True)
class CadenceRow:
    """Meetings of one kind held and missed in the report period."""

    kind: str
    every_days: int
    held: int
    missed: int
    last_held: date | None


@dataclass(frozen=True)
class Meetings:
    """The meeting cadence against the calendars."""

    cadence: tuple[CadenceRow, ...]
    held: tuple[Meeting, ...]
    available: bool = True


@dataclass(frozen=True)
class UpcomingItem:
    """A milestone or deliverable due in the next two weeks."""

    kind: Literal["milestone", "deliverable"]
    name: str
    due: date
    note: str | None = None


@dataclass(frozen=True)
class Upcoming:
    """The next two weeks."""

    until: date
    items: tuple[UpcomingItem, ...]
    meetings: tuple[Meeting, ...] | Unavailable


@dataclass(frozen=True)
class Decision:
    """Something the sponsor or steering committee has to decide."""

    title: str
    why: str
    source: Literal["plan_change", "risk", "alert", "milestone"]
    by: date | None = None


@dataclass(frozen=True)
class ProjectReport:
    """Everything one project status report shows."""

    header: Header
    key_figures: tuple[KeyFigure, ...]
    milestones: tuple[MilestoneRow, ...] | Unavailable
    wbs: tuple[WbsRow, ...] | Unavailable
    earned_value: EarnedValue | Unavailable
    budget: Budget | Unavailable
    charts: tuple[Chart | Unavailable, ...]
    risks: Risks | Unavailable
    alerts: tuple[AlertRow, ...] | Unavailable
    changes: Changes | Unavailable
    meetings: Meetings | Unavailable
    upcoming: Upcoming
    decisions: tuple[Decision, ...]
    freshness: tuple[SourceFreshness, ...]
    schema_version: int = SCHEMA_VERSION
    kind: Literal["project"] = "project"


@dataclass(frozen=True)
class PortfolioRow:
    """One project on the portfolio page."""

    project_key: str
    project_name: str
    manager: str | None
    currency: str
    overall: RagStatus
    dimensions: tuple[RagStatus, ...]
    stale: bool
    key_figures: tuple[KeyFigure, ...]
    next_milestone: MilestoneRow | None
    critical_alerts: int
    warning_alerts: int
    risk_score: float
    """What the page is sorted by, highest first (see ``rag.risk_score``)."""
    sparkline: Series | None = None
    report_href: str | None = None


@dataclass(frozen=True)
class PortfolioReport:
    """Every project on one page, sorted by risk."""

    status_date: date
    generated_at: datetime
    projects: tuple[PortfolioRow, ...]
    freshness: tuple[SourceFreshness, ...]
    rag_counts: dict[str, int] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION
    kind: Literal["portfolio"] = "portfolio"


Report = ProjectReport | PortfolioReport


def is_available(section: object) -> bool:
    """Tell whether a section holds facts (not an ``Unavailable``)."""
    return not isinstance(section, Unavailable)


def figure(report: ProjectReport | PortfolioRow, name: str) -> float | None:
    """Return the value of key figure ``name`` (None when absent or unknown)."""
    return next((k.value for k in report.key_figures if k.name == name), None)
