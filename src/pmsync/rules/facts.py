"""What the rules read about one project, gathered once per check for every project.

The rules are pure functions of these frozen facts, so each built-in rule can
be proven on a scenario written by hand (a ``ProjectHealth`` from the metrics,
a few items, a cadence) and the same rule runs unchanged on facts gathered
from the store (``inputs.gather``). Every fact that becomes evidence keeps the
link back into the tool it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from pmsync.alerts import EvidenceItem
from pmsync.config.rules import BuiltinRules
from pmsync.meetings import CadenceReport
from pmsync.metrics import MilestoneForecast, ProjectHealth
from pmsync.plan.baselines import PlanChangeView
from pmsync.plan.risks import RiskEntry


@dataclass(frozen=True, slots=True)
class ItemFact:
    """A work item behind a finding, with its link into Jira or GitHub."""

    key: str
    title: str
    url: str | None = None
    status: str = ""
    assignee: str | None = None
    """The person's name (or the tool login when nobody claims it); None: unassigned."""
    days: int = 0
    """Whole days in the state that matters: blocked, or in progress."""

    def evidence(self, detail: str | None = None) -> EvidenceItem:
        """Return the item as evidence, with ``detail`` saying what matters about it."""
        return EvidenceItem(self.title, self.url, self.key, detail)

    def __reduce__(self) -> tuple[type[ItemFact], tuple[object, ...]]:
        # see ``pickled_by_fields``: the open items of a portfolio cross to the rules pickled
        return pickled_by_fields(self)


def pickled_by_fields(fact: Any) -> tuple[type, tuple[object, ...]]:
    """Return how to pickle a frozen dataclass with slots: a call of its class with its fields.

    Pickle otherwise rebuilds one through ``dataclasses``' ``__setstate__``, which
    sets each field through ``object.__setattr__`` after listing the fields again:
    the 100,000 open items a worker reads beside a large analysis took 1.0 s to
    unpickle that way and 0.5 s this way. The fields must all be ``__init__``'s.
    """
    cls = type(fact)
    return cls, tuple(getattr(fact, name) for name in cls.__slots__)


@dataclass(frozen=True, slots=True)
class PersonAway:
    """A key person's leave in a milestone's final working days."""

    person: str
    name: str
    role: str
    """Why they are key: ``project manager``, ``owner of 1.2``."""
    away_pct: float
    """Leave hours over normal hours in the window, in percent."""
    days_away: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class MilestoneFacts:
    """A milestone: its dates against the baseline, its open work, its forecast."""

    name: str
    due: date | None
    origin: str = "plan"
    baseline_due: date | None = None
    """The due date in the latest baseline (None: no baseline, or not in it)."""
    tool_due: date | None = None
    slip_days: int | None = None
    """How far the project file's or the tools' date moved since the baseline."""
    scope_items: int | None = None
    baseline_scope_items: int | None = None
    scope_growth_pct: float | None = None
    open_items: int = 0
    remaining: tuple[ItemFact, ...] = ()
    """The open items, for evidence."""
    unassigned: tuple[ItemFact, ...] = ()
    unestimated: tuple[ItemFact, ...] = ()
    blocked: tuple[ItemFact, ...] = ()
    forecast: MilestoneForecast | None = None
    final_days: tuple[date, ...] = ()
    """Its last working days up to the due date (``key_people_on_leave``)."""
    key_people_away: tuple[PersonAway, ...] = ()

    @property
    def done(self) -> bool:
        """Tell whether nothing is left to do (and there was something to do)."""
        return self.open_items == 0 and bool(self.scope_items)

    @property
    def reference_due(self) -> date | None:
        """Return the date slips are measured against: the baseline's, else the plan's."""
        return self.baseline_due or self.due


@dataclass(frozen=True, slots=True)
class SourceFacts:
    """How fresh the data of one source is."""

    name: str
    interval: timedelta
    last_success: datetime | None
    failing_since: datetime | None = None
    """The first failed run since the last good one of a failing stream (None: not failing)."""
    failing_streams: tuple[str, ...] = ()
    error: str | None = None
    """The first line of the latest failure."""


@dataclass(frozen=True, slots=True)
class FiscalYearFacts:
    """The fiscal year the status date falls in, against its annual budget."""

    year: int
    start: date
    end: date
    budget: float
    spent: float

    def elapsed_pct(self, today: date) -> float:
        """Return the share of the fiscal year gone by ``today`` (inclusive), in percent."""
        total = (self.end - self.start).days + 1
        return 100.0 * min(max((today - self.start).days + 1, 0), total) / total

    @property
    def spent_pct(self) -> float | None:
        """Return the spend as a percentage of the annual budget (None without a budget)."""
        return 100.0 * self.spent / self.budget if self.budget > 0 else None


@dataclass(frozen=True)
class ProjectFacts:
    """Everything the rules read about one project at one moment."""

    key: str
    name: str
    now: datetime
    today: date
    """The status date: ``now`` in the configured time zone."""
    thresholds: BuiltinRules = field(default_factory=BuiltinRules)
    currency: str = "EUR"
    budget_at_completion: float | None = None
    """The approved budget of the project file."""
    progress_by: str = "count"
    health: ProjectHealth | None = None
    """None when the metrics could not be computed (``notes`` says why)."""
    milestones: tuple[MilestoneFacts, ...] = ()
    blocked: tuple[ItemFact, ...] = ()
    in_progress: tuple[ItemFact, ...] = ()
    """Open items in progress, ``days`` since they went in progress."""
    risks: tuple[RiskEntry, ...] = ()
    unapproved_changes: tuple[PlanChangeView, ...] = ()
    cadences: tuple[CadenceReport, ...] = ()
    fiscal_year: FiscalYearFacts | None = None
    sources: tuple[SourceFacts, ...] = ()
    """The sources this project's data comes from."""
    people: dict[str, str] = field(default_factory=dict)
    """Person id to name (``pmsync.yaml``), for summaries."""
    deliverable_owners: dict[str, str] = field(default_factory=dict)
    """WBS code to owner (person id), for deliverable subjects."""
    notes: tuple[str, ...] = ()
    """What could not be gathered, in one sentence each (``pmsync rules test`` shows them)."""

    def milestone(self, name: str) -> MilestoneFacts | None:
        """Return the milestone called ``name``, if any."""
        return next((m for m in self.milestones if m.name == name), None)
