"""Everything ``pmsync metrics`` shows about a project: the health, and the plan beside it.

``ProjectHealth`` holds what the metrics compute. A PM reading a forecast also
wants the plan it is measured against: each milestone's date in the tools and
in the approved baseline, how far it slipped, its scope per tool; and the
money in the periods budgets are set for (this month, this fiscal year, the
project's life). Those come from the plan layer (``plan_variance``, the cost
ledger, to the cent) and are put beside the health here, never recomputed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pmsync.config import Config
from pmsync.health.inputs_from_store import (
    LoadedProject,
    Stopwatch,
    Timings,
    load_inputs,
    load_items_and_inputs,
    window_start,
    working_calendar,
)
from pmsync.health.parallel import ReadsBeside, project_healths, reads_beside
from pmsync.metrics import (
    MetricInputError,
    MilestoneForecast,
    ProjectHealth,
    ProjectInputs,
    project_health,
)
from pmsync.plan.baselines import PlanVariance, plan_variances
from pmsync.plan.costs import CostLedger
from pmsync.plan.frames import ItemFrame
from pmsync.processes import collections_paused
from pmsync.store import Store

if TYPE_CHECKING:
    from pmsync.rules.items import ItemsRead

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MilestoneFigures:
    """A milestone's plan, scope and forecast at the status date."""

    name: str
    origin: str
    """``plan`` (in the project file) or ``tool`` (only the tools know it)."""
    due: date | None
    tool_due: date | None
    baseline_due: date | None
    slip_days: int | None
    """How far it moved since the latest baseline (the file's date or the tools'), in days."""
    scope_items: int
    done_items: int
    items_by_source: dict[str, int]
    forecast: MilestoneForecast

    def as_dict(self) -> dict[str, Any]:
        """Return the plan and the forecast as one JSON object."""
        plan = {
            "name": self.name,
            "origin": self.origin,
            "due": _iso(self.due),
            "tool_due": _iso(self.tool_due),
            "baseline_due": _iso(self.baseline_due),
            "slip_days": self.slip_days,
            "scope_items": self.scope_items,
            "done_items": self.done_items,
            "items_by_source": dict(sorted(self.items_by_source.items())),
        }
        forecast = {k: v for k, v in self.forecast.as_dict().items() if k not in ("name", "due")}
        return {**plan, **forecast}


@dataclass(frozen=True, slots=True)
class BudgetLine:
    """Money spent in one period against its budget (month, fiscal year, life)."""

    period: str
    label: str
    budget: Decimal | None
    spent: Decimal
    forecast: float | None = None
    """The estimate at completion, for the project's life."""

    def as_dict(self) -> dict[str, Any]:
        """Return the line with money as strings (exact to the cent)."""
        return {
            "period": self.period,
            "label": self.label,
            "budget": None if self.budget is None else f"{self.budget:.2f}",
            "spent": f"{self.spent:.2f}",
            "forecast": self.forecast,
        }


@dataclass(frozen=True)
class ProjectFigures:
    """One project at one status date: its health and the plan it is measured against."""

    key: str
    name: str
    currency: str
    health: ProjectHealth
    milestones: tuple[MilestoneFigures, ...]
    budget: tuple[BudgetLine, ...]
    baseline_version: int | None
    unrated_hours: dict[str, float]

    def as_dict(self) -> dict[str, Any]:
        """Return every figure as JSON-ready values (``null`` where not defined)."""
        h = self.health
        return {
            "key": self.key,
            "name": self.name,
            "currency": self.currency,
            "status_date": h.status_date.isoformat(),
            "earned_value": h.project.as_dict(),
            "earned_schedule": None if h.schedule is None else h.schedule.as_dict(),
            "milestones": [m.as_dict() for m in self.milestones],
            "budget": {line.period: line.as_dict() for line in self.budget},
            "team": None if h.team is None else h.team.as_dict(),
            "business_case": None if h.business_case is None else h.business_case.as_dict(),
            "deliverables": [d.as_dict() for d in h.deliverables],
            "cost_curve": h.cost_curve.as_dict(),
            "baseline_version": self.baseline_version,
            "unrated_hours": self.unrated_hours,
        }


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def budget_lines(
    loaded: LoadedProject, config: Config, health: ProjectHealth
) -> tuple[BudgetLine, ...]:
    """Return spend this month, this fiscal year and over the life, up to the status date."""
    plan, ledger, day = config.projects[loaded.key], loaded.ledger, health.status_date
    spent = ledger.total(until=day)

    def since(first: date) -> Decimal:
        return spent - ledger.total(until=first - timedelta(days=1))

    year = plan.fiscal_year_of(day)
    fy_start = date(year, plan.fiscal_year_start.month, plan.fiscal_year_start.day)
    return (
        BudgetLine("month", day.strftime("%Y-%m"), None, since(day.replace(day=1))),
        BudgetLine("fiscal_year", f"FY{year}", plan.annual_budgets.get(year), since(fy_start)),
        BudgetLine(
            "life",
            "project life",
            plan.budget_at_completion,
            spent,
            health.project.estimate_at_completion,
        ),
    )


def project_figures(
    loaded: LoadedProject, config: Config, health: ProjectHealth, variance: PlanVariance | None
) -> ProjectFigures:
    """Return a project's figures from its loaded inputs, health and baseline variance."""
    against = {m.name: m for m in variance.milestones} if variance is not None else {}
    milestones = []
    for scope, forecast in zip(loaded.milestones, health.milestones, strict=True):
        base = against.get(scope.name)
        milestones.append(
            MilestoneFigures(
                name=scope.name,
                origin=scope.origin,
                due=scope.due,
                tool_due=scope.tool_due,
                baseline_due=base.baseline_due if base else None,
                slip_days=base.slip_days if base else None,
                scope_items=scope.items,
                done_items=scope.done_items,
                items_by_source=scope.items_by_source,
                forecast=forecast,
            )
        )
    baseline = variance.baseline if variance is not None else None
    return ProjectFigures(
        key=loaded.key,
        name=loaded.name,
        currency=loaded.currency,
        health=health,
        milestones=tuple(milestones),
        budget=budget_lines(loaded, config, health),
        baseline_version=baseline.version if baseline is not None else None,
        unrated_hours=loaded.ledger.unrated_hours(),
    )


@dataclass(frozen=True)
class Analysis:
    """One read of the store for some projects at one status date, shared by every consumer.

    The metrics, the rules (``evaluate_rules(health=analysis)``), the reports
    (``generate_reports(analysis=analysis)``) and the daily snapshot each read
    the same items, status history and cost ledgers when they run alone. Run
    together on one ``Analysis`` they read them once: its figures are exactly
    what each would have computed at ``as_of`` (the tests compare them).
    """

    as_of: date
    keys: tuple[str, ...]
    """The projects asked for (a project not in the store has no figures)."""
    items: ItemFrame
    """``pmsync.plan.frames.load_items`` of ``keys``: what burn-ups are counted from."""
    figures: Mapping[str, ProjectFigures]
    ledgers: Mapping[str, CostLedger]
    problems: Mapping[str, str]
    """Projects whose plan the metrics refuse, with the reason (no figures for them)."""
    open_items: ItemsRead | None = None
    """What the rules read of the open items, read beside the analysis by a worker process
    in a large store (``pmsync.health.parallel``); None: the rules read them."""

    @property
    def health(self) -> dict[str, ProjectHealth]:
        """Return every measured project's health."""
        return {key: found.health for key, found in self.figures.items()}


@collections_paused()
def analyse(
    store: Store,
    config: Config,
    keys: Collection[str] | None = None,
    *,
    as_of: date,
    now: Callable[[], datetime],
    timings: Timings | None = None,
) -> Analysis:
    """Measure every project (or ``keys``) at the end of ``as_of`` from one read of the store.

    ``timings``, if given, receives the wall and CPU seconds per stage (for ``bench/``).
    """
    chosen = sorted(config.projects) if keys is None else sorted(keys)
    since = window_start(config, as_of, working_calendar(config))
    with reads_beside(store, chosen) as beside:  # in a large store, a worker reads these:
        beside.status_history(since)  # first the history (taken by load_items_and_inputs),
        open_items = beside.open_items(config)  # then, while the metrics are computed, this
        items, loaded = load_items_and_inputs(
            store, config, chosen, as_of=as_of, now=now, timings=timings, beside=beside
        )
        clock = Stopwatch(timings)
        problems: dict[str, str] = {}
        found = _measure(store, config, loaded, problems, beside)
        clock.lap("metrics and plan variance")
        read = open_items.take()
        clock.lap("open items for the rules (read beside)")
    return Analysis(
        as_of=as_of,
        keys=tuple(chosen),
        items=items,
        figures=found,
        ledgers={key: project.ledger for key, project in loaded.items()},
        problems=problems,
        open_items=read,
    )


def load_figures(
    store: Store,
    config: Config,
    keys: Collection[str] | None = None,
    *,
    as_of: date,
    now: Callable[[], datetime],
    problems: dict[str, str] | None = None,
    items: ItemFrame | None = None,
) -> dict[str, ProjectFigures]:
    """Return the figures of every project (or of ``keys``) at the end of ``as_of``.

    A project whose plan the metrics refuse (``MetricInputError``) raises, or,
    given ``problems``, is left out and named there with the reason. ``items``:
    ``pmsync.plan.frames.load_items`` of exactly these projects, if already read.
    """
    chosen = sorted(config.projects) if keys is None else sorted(keys)
    loaded = load_inputs(store, config, chosen, as_of=as_of, now=now, items=items)
    return _measure(store, config, loaded, problems)


def _measure(
    store: Store,
    config: Config,
    loaded: Mapping[str, LoadedProject],
    problems: dict[str, str] | None,
    beside: ReadsBeside | None = None,
) -> dict[str, ProjectFigures]:
    """Return the figures of the loaded projects (refused ones raise, or go to ``problems``).

    With ``beside`` (a worker process of a large analysis), this process measures
    the projects from the front of the list and, whenever the worker is idle (its
    reads done, its last chunk measured), hands it the next ``HEALTH_CHUNK`` from
    the back; the figures are the same.
    """
    keys = list(loaded)
    outcome: dict[str, ProjectHealth | str] = {}
    handed: list[tuple[Future[Any], list[tuple[str, ProjectInputs]]]] = []
    front, back = 0, len(keys)
    while front < back:
        if beside is not None and back - front > HEALTH_CHUNK and beside.idle():
            chunk = [(key, loaded[key].inputs) for key in keys[back - HEALTH_CHUNK : back]]
            future = beside.health(chunk)
            if future is None:  # no worker any more: the rest is measured here
                beside = None
                continue
            handed.append((future, chunk))
            back -= HEALTH_CHUNK
            continue
        outcome.update(project_healths([(keys[front], loaded[keys[front]].inputs)]))
        front += 1
    for future, chunk in handed:
        outcome.update(_taken(future, chunk))
    found = {}
    with store.session(readonly=True) as session:
        variances = plan_variances(session.connection(), keys)
    for key, project in loaded.items():
        health = outcome[key]
        if isinstance(health, str):  # the metrics refused its inputs
            if problems is None:
                project_health(project.inputs)  # raises that refusal here
                raise MetricInputError(health)
            problems[key] = health
            continue
        found[key] = project_figures(project, config, health, variances[key])
    return found


HEALTH_CHUNK = 10
"""Projects handed to the worker at once (``_measure``): at most this many are waited for."""


def _taken(
    future: Future[Any], chunk: list[tuple[str, ProjectInputs]]
) -> dict[str, ProjectHealth | str]:
    """Return the worker's healths of ``chunk``; if the worker failed, they are measured here."""
    try:
        return dict(future.result())
    except Exception as err:  # the worker died: measured here (a real error raises here)
        log.info("metrics computed here: the worker process failed (%s)", err)
        return dict(project_healths(chunk))
