"""Gather what every rule reads, for every project, in a fixed number of queries.

One check reads the store once: the open items of the whole portfolio and
their status history (``items.py``), the freshness of every source
(``sources.py``), the plan against its baseline, the risk register, the
fiscal-year spend, the meeting cadences, the leave of key people in the final
days of each milestone, and the metrics (``pmsync.health``). Per project it
calls the plan's and the meetings' own readers (a handful of queries each,
never one per item), so each figure has one definition in all of pmsync.

The result is one frozen ``ProjectFacts`` per project; the rules are pure
functions of it, which is how the tests feed them hand-built scenarios.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from datetime import date, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from pmsync import model
from pmsync.config import Config
from pmsync.config import Project as ProjectPlan
from pmsync.config.meetings import WEEKDAYS
from pmsync.meetings import CapacityTable, Meeting, load_capacity, load_meetings, project_cadences
from pmsync.metrics import MetricInputError, ProjectHealth
from pmsync.plan.baselines import plan_variances
from pmsync.plan.costs import CostLedger, cost_ledgers
from pmsync.plan.risks import risk_register
from pmsync.rules.facts import FiscalYearFacts, MilestoneFacts, PersonAway, ProjectFacts
from pmsync.rules.items import ItemsRead, OpenItem, aged, read_open_items
from pmsync.rules.sources import source_facts, sources_by_project
from pmsync.store import Store

log = logging.getLogger(__name__)
CADENCE_LOOKBACK = timedelta(days=120)
"""How far back meeting cadences are read: two periods of the longest usual cadence."""
HealthLoader = Callable[
    [Store, Config, date, Callable[[], datetime], list[str]], Mapping[str, ProjectHealth]
]
"""``(store, config, status date, clock, project keys)`` to the projects' metrics."""


@runtime_checkable
class Measured(Protocol):
    """Metrics already computed from the store (``pmsync.health.Analysis``), with their ledgers."""

    @property
    def as_of(self) -> date: ...
    @property
    def health(self) -> Mapping[str, ProjectHealth]: ...
    @property
    def ledgers(self) -> Mapping[str, CostLedger]: ...
    @property
    def problems(self) -> Mapping[str, str]: ...


Metrics = Mapping[str, ProjectHealth] | HealthLoader | Measured | None
"""What the rules may be given instead of computing the metrics themselves."""


def status_date(config: Config, moment: datetime) -> date:
    """Return the day ``moment`` falls on in the configured time zone."""
    return moment.astimezone(ZoneInfo(config.settings.timezone)).date()


def load_health(
    store: Store, config: Config, today: date, now: Callable[[], datetime], keys: list[str]
) -> Mapping[str, ProjectHealth]:
    """Return the projects' metrics from ``pmsync.health`` (ImportError when not installed)."""
    from pmsync.health import load_portfolio_health

    return load_portfolio_health(store, config, as_of=today, now=now, keys=keys)


def load_health_and_ledgers(
    store: Store, config: Config, today: date, now: Callable[[], datetime], keys: list[str]
) -> tuple[Mapping[str, ProjectHealth], Mapping[str, CostLedger]]:
    """Return ``load_health`` and the cost ledgers it was computed from (one read of both)."""
    from pmsync.health import load_inputs
    from pmsync.metrics import project_health

    loaded = load_inputs(store, config, sorted(keys), as_of=today, now=now)
    health = {key: project_health(project.inputs) for key, project in loaded.items()}
    return health, {key: project.ledger for key, project in loaded.items()}


def gather(
    store: Store,
    config: Config,
    now: Callable[[], datetime],
    *,
    projects: Collection[str] | None = None,
    health: Metrics = None,
) -> dict[str, ProjectFacts]:
    """Return the facts of every configured project (or of ``projects``)."""
    moment = now()
    today = status_date(config, moment)
    keys = sorted(projects if projects is not None else config.projects)
    notes: dict[str, list[str]] = {key: [] for key in keys}
    project = model.table_of(model.Project)
    with store.engine.connect() as conn:
        ids: dict[str, int] = dict(
            conn.execute(select(project.c.key, project.c.id).where(project.c.key.in_(keys))).all()
        )
    metrics, known = (
        _metrics(store, config, today, now, health, notes, sorted(ids)) if ids else ({}, None)
    )
    with store.engine.connect() as conn:
        read = _read_beside(health, today, ids) or read_open_items(conn, config, ids)
        items = aged(read.items, read.started, read.blocked_at, moment)
        members = read.members
        milestone_ids = _milestone_ids(conn, ids)
        sources = source_facts(conn, config, moment)
        fed = sources_by_project(conn, config, ids)
        ledgers = (
            known if known is not None else cost_ledgers(conn, config, list(ids)) if ids else {}
        )
        variances = plan_variances(conn, list(ids))
        stored = {key: (variances[key], risk_register(conn, ids[key])) for key in ids}
    leave = _leave_table(store, config, ids, stored, today)
    calendar = _meetings_by_project(store, config, ids)
    by_project: dict[int, list[OpenItem]] = {}
    for item in items.values():
        by_project.setdefault(item.project_id, []).append(item)
    facts: dict[str, ProjectFacts] = {}
    people = {p.id: p.name for p in config.settings.people}
    for key in keys:
        plan = config.projects[key]
        thresholds = config.rules.for_project(key)
        if key not in ids:
            notes[key].append("the project is not in the store yet: run pmsync sync first")
        variance, risks = stored.get(key, (None, ()))
        open_items = by_project.get(ids.get(key, -1), [])
        health_of = metrics.get(key)
        forecasts = {f.name: f for f in health_of.milestones} if health_of else {}
        milestones = tuple(
            _milestone(
                m, forecasts.get(m.name), members.get(milestone_ids.get((key, m.name), -1), []),
                items, plan, today, leave, config, thresholds,
            )
            for m in (variance.milestones if variance else ())
        )  # fmt: skip
        ledger = ledgers.get(key)
        facts[key] = ProjectFacts(
            key=key,
            name=plan.name,
            now=moment,
            today=today,
            thresholds=thresholds,
            currency=plan.currency,
            budget_at_completion=float(plan.budget_at_completion),
            progress_by=plan.progress_by,
            health=health_of,
            milestones=milestones,
            blocked=tuple(i.as_blocked() for i in open_items if i.blocked),
            in_progress=tuple(i.as_in_progress() for i in open_items if i.in_progress),
            risks=tuple(risks),
            unapproved_changes=variance.unapproved_changes if variance else (),
            cadences=project_cadences(
                store, config, key, today - CADENCE_LOOKBACK, today, moment, calendar.get(key, [])
            )
            if plan.meetings
            else (),
            fiscal_year=_fiscal_year(plan, today, ledger.by_fiscal_year(plan) if ledger else {}),
            sources=tuple(sources[n] for n in sorted(fed.get(key, ())) if n in sources),
            people=people,
            deliverable_owners={d.code: d.owner for d in plan.all_deliverables() if d.owner},
            notes=tuple(notes[key]),
        )
    return facts


def _read_beside(health: Metrics, today: date, ids: Mapping[str, int]) -> ItemsRead | None:
    """Return the open items read beside the analysis ``health``, if it is of today and covers
    these projects (``pmsync.health.Analysis.open_items``); None: read them here."""
    read = getattr(health, "open_items", None)
    if not isinstance(health, Measured) or not isinstance(read, ItemsRead):
        return None
    if health.as_of != today or not set(ids.values()) <= read.project_ids:
        return None
    return read.of_projects(ids.values())


def _metrics(
    store: Store,
    config: Config,
    today: date,
    now: Callable[[], datetime],
    given: Metrics,
    notes: dict[str, list[str]],
    keys: list[str],
) -> tuple[Mapping[str, ProjectHealth], Mapping[str, CostLedger] | None]:
    """Return the projects' metrics (and, when computed here or given, their cost ledgers).

    Without the metrics step, say so (never guess). A ``Measured`` of another
    day, or of other projects, is not used: the metrics are computed here. One
    that could not measure a project fails the check, as computing them here
    would: a partial set of findings would resolve alerts that still hold.
    """
    if isinstance(given, Measured):
        if given.as_of != today or not set(keys) <= set(given.ledgers) | set(given.problems):
            given = None
        elif given.problems:
            key, why = sorted(given.problems.items())[0]
            raise MetricInputError(f"{key}: {why}")
        else:
            return given.health, given.ledgers
    if given is not None and not callable(given):
        return given, None
    try:
        if given is None:
            return load_health_and_ledgers(store, config, today, now, keys)
        return given(store, config, today, now, keys), None
    except ImportError as err:
        # Not installed: the rules that read metrics stay silent, and say why. Any other
        # failure propagates: a partial set of findings would resolve alerts that still hold.
        for found in notes.values():
            found.append(f"metrics are not available ({err}): metric rules were skipped")
        return {}, None


def _meetings_by_project(
    store: Store, config: Config, ids: Mapping[str, int]
) -> dict[str, list[Meeting]]:
    """Return the calendar events of each project with a meeting cadence (one query)."""
    if not any(config.projects[key].meetings for key in ids):
        return {}
    found: dict[str, list[Meeting]] = defaultdict(list)
    for meeting in load_meetings(store):
        if meeting.project is not None:
            found[meeting.project].append(meeting)
    return found


def _milestone_ids(conn: Connection, ids: Mapping[str, int]) -> dict[tuple[str, str], int]:
    ms = model.table_of(model.Milestone)
    keys = {pid: key for key, pid in ids.items()}
    rows: Any = conn.execute(
        select(ms.c.id, ms.c.project_id, ms.c.name).where(ms.c.project_id.in_(sorted(keys)))
    ).all()
    return {(keys[pid], name): mid for mid, pid, name in rows}


def _milestone(
    variance: Any,
    forecast: Any,
    member_ids: list[int],
    items: Mapping[int, OpenItem],
    plan: ProjectPlan,
    today: date,
    leave: CapacityTable | None,
    config: Config,
    thresholds: Any,
) -> MilestoneFacts:
    """Return one milestone's facts from its variance, forecast, open items and leave."""
    members = [items[i] for i in member_ids]
    measure = plan.progress_by
    unestimated = [
        m for m in members if (not m.has_points if measure == "story_points" else not m.estimated)
    ]
    open_now = len(members)
    window = final_days(variance.due, config, thresholds)
    away: tuple[PersonAway, ...] = ()
    if leave is not None and open_now and variance.due and variance.due >= today:
        away = people_away(plan, window, leave)
    return MilestoneFacts(
        name=variance.name,
        due=variance.due,
        origin=variance.origin,
        baseline_due=variance.baseline_due,
        tool_due=variance.tool_due,
        slip_days=variance.slip_days,
        scope_items=variance.scope_items,
        baseline_scope_items=variance.baseline_scope_items,
        scope_growth_pct=variance.scope_growth_pct,
        open_items=open_now,
        remaining=tuple(m.fact for m in members),
        unassigned=tuple(m.fact for m in members if m.fact.assignee is None),
        unestimated=tuple(m.fact for m in unestimated) if measure != "count" else (),
        blocked=tuple(m.as_blocked() for m in members if m.blocked),
        forecast=forecast,
        final_days=window,
        key_people_away=away,
    )


def final_days(due: date | None, config: Config, thresholds: Any) -> tuple[date, ...]:
    """Return a milestone's last working days up to and including its due date."""
    if due is None:
        return ()
    working = {WEEKDAYS.index(d) for d in config.settings.meetings.working_days}
    wanted = thresholds.key_people_on_leave.final_days
    days: list[date] = []
    day = due
    while len(days) < wanted and working and (due - day).days < 7 * wanted:
        if day.weekday() in working:
            days.append(day)
        day -= timedelta(days=1)
    return tuple(sorted(days))


def key_people(plan: ProjectPlan) -> dict[str, str]:
    """Return the project's key people and why: the manager, owners, accountable people."""
    found: dict[str, str] = {}
    if plan.manager:
        found[plan.manager] = "project manager"
    for node in plan.all_deliverables():
        if node.owner:
            found.setdefault(node.owner, f"owner of {node.code} {node.name}")
        if node.raci is not None and node.raci.accountable:
            found.setdefault(node.raci.accountable, f"accountable for {node.code} {node.name}")
    return found


def people_away(
    plan: ProjectPlan, window: tuple[date, ...], table: CapacityTable
) -> tuple[PersonAway, ...]:
    """Return the key people with leave in ``window``, with the share of it they are away."""
    names = {w.key: w.name for w in table.workers}
    found = []
    for person, role in key_people(plan).items():
        days = [d for d in table.days.get(person, ()) if d.day in window]
        normal = sum(d.normal_hours for d in days)
        leave = sum(d.leave_hours for d in days)
        if normal <= 0 or leave <= 0:
            continue
        away_days = tuple(d.day for d in days if d.leave_hours > 0)
        found.append(
            PersonAway(person, names.get(person, person), role, 100.0 * leave / normal, away_days)
        )
    return tuple(found)


def _leave_table(
    store: Store,
    config: Config,
    ids: Mapping[str, int],
    stored: Mapping[str, tuple[Any, list[Any]]],
    today: date,
) -> CapacityTable | None:
    """Read leave once, for every key person, over every coming milestone's final days."""
    windows: list[date] = []
    people: set[str] = set()
    for key in ids:
        variance = stored[key][0]
        thresholds = config.rules.for_project(key)
        if not thresholds.key_people_on_leave.enabled:
            continue
        for m in variance.milestones:
            if m.due is not None and m.due >= today:
                windows.extend(final_days(m.due, config, thresholds))
                people |= set(key_people(config.projects[key]))
    if not windows or not people:
        return None
    return load_capacity(store, config, min(windows), max(windows), people)


def _fiscal_year(
    plan: ProjectPlan, today: date, spent: Mapping[int, Any]
) -> FiscalYearFacts | None:
    """Return the fiscal year of ``today`` with its budget and spend (None without a budget)."""
    month, day = plan.fiscal_year_start.month, plan.fiscal_year_start.day
    year = today.year if today >= date(today.year, month, day) else today.year - 1
    budget = plan.annual_budgets.get(year)
    if budget is None:
        return None
    start = date(year, month, day)
    end = date(year + 1, month, day) - timedelta(days=1)
    return FiscalYearFacts(year, start, end, float(budget), float(spent.get(year, 0)))
