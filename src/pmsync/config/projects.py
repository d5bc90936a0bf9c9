"""``projects/*.yaml``: one project's plan, the yardstick every metric is read against.

A project file is what the PM approved: dates, budget, the rate card, the
milestones and the WBS deliverables, each with *match selectors* that gather
work from several tools at once (a Jira fix version and a GitHub milestone
under one milestone), the risk register, the business case, the communication
plan and the meeting cadence. Shapes are checked here; checks that need the
whole file or other files (unique WBS codes, known people and sources) are in
``pmsync.config.checks`` so each problem can point at its own line.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Literal

from pydantic import Field, field_validator, model_validator

from pmsync.config.meetings import CalendarLink, TitlePattern
from pmsync.config.types import (
    CronExpression,
    Duration,
    Email,
    Identifier,
    IsoDate,
    Money,
    MonthDay,
    Probability,
    StatusCategory,
    StrictModel,
)

# --- match selectors ------------------------------------------------------------------


class JiraFixVersion(StrictModel):
    """A Jira fix version in one Jira source."""

    source: Identifier
    name: str = Field(min_length=1)


class GithubMilestone(StrictModel):
    """A GitHub milestone of one repository in one GitHub source."""

    source: Identifier
    repo: str = Field(pattern=r"^[\w.-]+/[\w.-]+$", description="owner/name")
    title: str = Field(min_length=1)


class JqlQuery(StrictModel):
    """The synced issues of one Jira source that a JQL query selects (a subset pmsync evaluates).

    pmsync evaluates the query itself over the issues it stores; anything outside
    the subset it understands is refused here (see ``pmsync.plan.jql``).
    """

    source: Identifier
    query: str = Field(min_length=1)

    @field_validator("query")
    @classmethod
    def _evaluable(cls, value: str) -> str:
        from pmsync.plan.jql import check_jql  # pmsync.plan imports this module

        return check_jql(value)


class _OneOf(StrictModel):
    """A selector sets exactly one of its keys."""

    @model_validator(mode="after")
    def _exactly_one(self) -> _OneOf:
        chosen = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(chosen) != 1:
            keys = ", ".join(type(self).model_fields)
            raise ValueError(
                f"a selector sets exactly one of: {keys} (this one sets {len(chosen)})"
            )
        return self


class MilestoneSelector(_OneOf):
    """Which work belongs to a milestone (one kind per list entry)."""

    jira_fix_version: JiraFixVersion | None = None
    github_milestone: GithubMilestone | None = None
    jql: JqlQuery | None = None
    label: str | None = Field(default=None, min_length=1, description="In any source.")
    epic: str | None = Field(default=None, min_length=1, description="An epic's issue key.")


class DeliverableSelector(_OneOf):
    """Which work belongs to a deliverable (one kind per list entry)."""

    epic: str | None = Field(default=None, min_length=1, description="An epic's issue key.")
    component: str | None = Field(default=None, min_length=1, description="A Jira component.")
    label: str | None = Field(default=None, min_length=1, description="In any source.")
    repository: str | None = Field(
        default=None, pattern=r"^[\w.-]+/[\w.-]+$", description="A repository, owner/name."
    )


# --- plan -------------------------------------------------------------------------------


class Milestone(StrictModel):
    """A dated point the sponsor cares about, fed from any number of tools."""

    name: str = Field(min_length=1)
    due: IsoDate
    description: str = ""
    match: list[MilestoneSelector] = Field(default_factory=list)


class Raci(StrictModel):
    """Who is Responsible, Accountable (one person), Consulted and Informed."""

    responsible: list[Identifier] = Field(default_factory=list)
    accountable: Identifier | None = None
    consulted: list[Identifier] = Field(default_factory=list)
    informed: list[Identifier] = Field(default_factory=list)


class Deliverable(StrictModel):
    """A node of the work breakdown structure; plan figures sit on the leaves."""

    code: str = Field(pattern=r"^\d+(\.\d+)*$", description="WBS code such as 1.2.3.")
    name: str = Field(min_length=1)
    owner: Identifier | None = None
    planned_start: IsoDate | None = None
    planned_finish: IsoDate | None = None
    planned_cost: Money | None = Field(
        default=None, description="Only on leaves (work packages); parents roll up."
    )
    acceptance_criteria: list[str] = Field(default_factory=list)
    raci: Raci | None = None
    match: list[DeliverableSelector] = Field(default_factory=list)
    children: list[Deliverable] = Field(default_factory=list)

    def walk(self) -> list[Deliverable]:
        """Return this deliverable and every descendant, depth first."""
        found = [self]
        for child in self.children:
            found.extend(child.walk())
        return found


class RateCardEntry(StrictModel):
    """An hourly rate for one person or one role, valid from a date on."""

    person: Identifier | None = None
    role: str | None = None
    rate: Money = Field(description="Per hour, in the project currency.")
    effective_from: IsoDate

    @model_validator(mode="after")
    def _person_or_role(self) -> RateCardEntry:
        if (self.person is None) == (self.role is None):
            raise ValueError("a rate card entry sets exactly one of: person, role")
        return self


class Risk(StrictModel):
    """An entry of the risk register; exposure = probability x impact (money)."""

    id: Identifier
    title: str = Field(min_length=1)
    description: str = ""
    probability: Probability
    impact: Money = Field(description="Cost if it happens, in the project currency.")
    owner: Identifier | None = None
    response: Literal["avoid", "mitigate", "transfer", "accept", "escalate"] = "mitigate"
    response_plan: str = ""
    status: Literal["open", "monitoring", "occurred", "closed"] = "open"
    next_review: IsoDate | None = None

    @property
    def exposure(self) -> Decimal:
        """Return the expected monetary value: probability x impact."""
        return Decimal(str(self.probability)) * self.impact


class RiskIssues(StrictModel):
    """Read more risks from the issues of one type in a Jira source."""

    source: Identifier
    issue_type: str = Field(default="Risk", min_length=1)


class CashFlow(StrictModel):
    """A one-off amount in a year of the business case (0 = the start year)."""

    year: int = Field(default=0, ge=0, le=50)
    amount: Money
    description: str = ""


class BusinessCase(StrictModel):
    """Costs and benefits per year, discounted for NPV, ROI and payback."""

    discount_rate: float = Field(ge=0, le=1, description="Per year, e.g. 0.08 for 8 %.")
    one_off_costs: list[CashFlow] = Field(default_factory=list)
    running_costs: dict[int, Money] = Field(
        default_factory=dict, description="Year (0 = start year) to amount."
    )
    benefits: dict[int, Money] = Field(
        default_factory=dict, description="Year (0 = start year) to amount."
    )

    @field_validator("running_costs", "benefits")
    @classmethod
    def _years(cls, value: dict[int, Decimal]) -> dict[int, Decimal]:
        bad = [y for y in value if not 0 <= y <= 50]
        if bad:
            raise ValueError(f"years count from 0 (the start year) to 50, not {bad}")
        return value


ReportFormat = Literal["html", "md", "json"]


def _html_only() -> list[ReportFormat]:
    return ["html"]


class CommunicationEntry(StrictModel):
    """Who gets which report, in which formats, when."""

    audience: str = Field(min_length=1, description="e.g. steering committee, team.")
    report: Literal["project", "portfolio"] = "project"
    formats: list[ReportFormat] = Field(default_factory=_html_only)
    schedule: CronExpression
    recipients: list[Email] = Field(default_factory=list)
    receivers: list[Identifier] = Field(
        default_factory=list, description="Names of receivers in pmsync.yaml."
    )

    @model_validator(mode="after")
    def _someone(self) -> CommunicationEntry:
        if not self.recipients and not self.receivers:
            raise ValueError("a communication entry needs recipients or receivers")
        return self


class MeetingCadence(StrictModel):
    """A recurring meeting pmsync expects to find in the calendars."""

    kind: Literal["status_meeting", "steering_committee", "milestone_review"]
    every: Duration = Field(description="e.g. 1w, 2w, 14d (whole days).")
    title_patterns: list[str] = Field(
        min_length=1, description="Shell-style patterns, case-insensitive: 'Weekly status*'."
    )
    source: Identifier | None = Field(default=None, description="Only this calendar source.")

    @field_validator("every")
    @classmethod
    def _whole_days(cls, value: timedelta) -> timedelta:
        if value < timedelta(days=1) or value % timedelta(days=1):
            raise ValueError("a meeting cadence is a whole number of days or weeks (1w, 14d)")
        return value


class Project(StrictModel):
    """The whole of one ``projects/*.yaml`` file."""

    key: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,31}$")
    name: str = Field(min_length=1)
    manager: Identifier | None = None
    sponsor: Identifier | None = None
    objectives: list[str] = Field(default_factory=list)
    start: IsoDate
    finish: IsoDate
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code.")
    budget_at_completion: Money
    fiscal_year_start: MonthDay = MonthDay(month=1, day=1)
    annual_budgets: dict[int, Money] = Field(
        default_factory=dict,
        description="Fiscal year (named by the calendar year it starts in) to budget.",
    )
    rate_card: list[RateCardEntry] = Field(default_factory=list)
    costs_csv: str | None = Field(
        default=None, description="Non-labour costs; relative to the config directory."
    )
    progress_by: Literal["story_points", "estimates", "count"] = "count"
    status_map: dict[str, StatusCategory] = Field(default_factory=dict)
    milestones: list[Milestone] = Field(default_factory=list)
    deliverables: list[Deliverable] = Field(default_factory=list)
    risks: list[Risk] = Field(default_factory=list)
    risk_issues: list[RiskIssues] = Field(default_factory=list)
    business_case: BusinessCase | None = None
    communication: list[CommunicationEntry] = Field(default_factory=list)
    meetings: list[MeetingCadence] = Field(default_factory=list)
    team: list[Identifier] = Field(
        default_factory=list,
        description="People on the project besides manager, sponsor, owners and RACI.",
    )
    calendars: list[CalendarLink] = Field(
        default_factory=list, description="Calendars whose events belong to this project."
    )
    meeting_titles: list[TitlePattern] = Field(
        default_factory=list,
        description="Phrases that link an event to this project, besides its key and name.",
    )

    def all_deliverables(self) -> list[Deliverable]:
        """Return every deliverable of the WBS, depth first."""
        found: list[Deliverable] = []
        for top in self.deliverables:
            found.extend(top.walk())
        return found

    def fiscal_year_of(self, day: date) -> int:
        """Return the fiscal year (named by the calendar year it starts in) of ``day``."""
        start = (self.fiscal_year_start.month, self.fiscal_year_start.day)
        return day.year if (day.month, day.day) >= start else day.year - 1
