"""Fill the report facts from the configuration, the store and the metrics.

What pmsync can read directly (the plan, sync runs, alerts, plan changes,
calendar events, the risk register) is read here and in ``reads.py``; meetings
held and missed against the cadence come from ``pmsync.meetings``, and each
milestone's daily scope and done items (its burn-up) from ``pmsync.health``.
What must be *measured* (earned value, forecasts, roll-ups, costs) comes from a
``MetricsSource``: the hook through which the metrics package feeds reports.
Until a capability is installed its sections are ``Unavailable`` with the
reason, never a number pmsync did not compute. Nothing here does arithmetic on
earned value: that lives only in metrics.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Protocol, cast
from zoneinfo import ZoneInfo

from pmsync.config import Config
from pmsync.config import Project as ProjectPlan
from pmsync.config.settings import Person
from pmsync.health.burn import MilestoneBurnup, load_burnups, load_portfolio_burnups
from pmsync.health.history import Ints
from pmsync.meetings import load_meetings as load_calendar
from pmsync.meetings import matches_cadence, project_cadences
from pmsync.plan.frames import ItemFrame, load_items
from pmsync.reports import derive, from_metrics, reads
from pmsync.reports.facts import (
    AlertRow,
    Budget,
    CadenceRow,
    Changes,
    Chart,
    EarnedValue,
    Meeting,
    Meetings,
    MilestoneRow,
    PlanChangeRow,
    PortfolioReport,
    ProjectReport,
    RiskRow,
    Risks,
    Series,
    SourceFreshness,
    Unavailable,
    Upcoming,
    UpcomingItem,
    WbsRow,
)
from pmsync.store import Store

UPCOMING_DAYS = 14
TOP_RISKS = 5
METRICS_MISSING = (
    "earned value, forecasts and costs need the store-to-metrics step of pmsync.metrics "
    "(issue #6), which is not installed yet"
)
NO_CALENDAR = (
    "no calendar has synced successfully by the status date, so meetings held and missed "
    "against the cadence cannot be counted"
)
CHARTS = (
    ("burnup", "Burn-up per milestone with forecast cone"),
    ("cost", "Cost curves (PV, EV, AC) with EAC"),
    ("fy-burn", "Budget burn for the fiscal year"),
    ("throughput", "Throughput"),
)


class MetricsSource(Protocol):
    """What reports need measured; each method may answer ``Unavailable`` with its reason."""

    def earned_value(self, plan: ProjectPlan, as_of: date) -> EarnedValue | Unavailable: ...
    def milestones(
        self, plan: ProjectPlan, as_of: date
    ) -> tuple[MilestoneRow, ...] | Unavailable: ...
    def wbs(self, plan: ProjectPlan, as_of: date) -> tuple[WbsRow, ...] | Unavailable: ...
    def budget(self, plan: ProjectPlan, as_of: date) -> Budget | Unavailable: ...
    def charts(
        self, plan: ProjectPlan, as_of: date
    ) -> Mapping[str, tuple[Chart | Unavailable, ...]]: ...


class NoMetrics:
    """The metrics hook while pmsync.metrics is not installed: every answer says so."""

    def earned_value(self, plan: ProjectPlan, as_of: date) -> EarnedValue | Unavailable:
        return Unavailable(METRICS_MISSING)

    def milestones(self, plan: ProjectPlan, as_of: date) -> tuple[MilestoneRow, ...] | Unavailable:
        return Unavailable(METRICS_MISSING)

    def wbs(self, plan: ProjectPlan, as_of: date) -> tuple[WbsRow, ...] | Unavailable:
        return Unavailable(METRICS_MISSING)

    def budget(self, plan: ProjectPlan, as_of: date) -> Budget | Unavailable:
        return Unavailable(METRICS_MISSING)

    def charts(
        self, plan: ProjectPlan, as_of: date
    ) -> Mapping[str, tuple[Chart | Unavailable, ...]]:
        return {}


@dataclass(frozen=True)
class Context:
    """One collection run: the config, the store, the status date and the clock."""

    config: Config
    store: Store
    as_of: date
    now: datetime

    @property
    def status_instant(self) -> datetime:
        """Return the end of the status date in the installation's time zone (or now)."""
        zone = ZoneInfo(self.config.settings.timezone)
        end = datetime.combine(self.as_of + timedelta(days=1), time(), tzinfo=zone)
        return min(self.now, end.astimezone(UTC))


@dataclass(frozen=True)
class Shared:
    """What the reports of one run read alike, read once for all their projects.

    ``generate_reports`` prepares it when it writes several projects, so that
    the store is read in a fixed number of statements rather than a handful per
    project; ``collect_project`` without it reads the same for its one project.
    """

    as_of: date
    keys: frozenset[str]
    freshness: tuple[SourceFreshness, ...]
    """At the status instant when ``prepare`` ran: one for every report of the run."""
    alerts: Mapping[str, tuple[AlertRow, ...]]
    project_ids: Mapping[str, int]
    calendar_synced: bool
    burnups: Mapping[str, tuple[MilestoneBurnup, ...]]
    plan_changes: Mapping[int, tuple[PlanChangeRow, ...]]
    """By project id: every plan change up to the status instant (a report keeps its period's)."""


def prepare(
    config: Config,
    store: Store,
    keys: Collection[str],
    *,
    as_of: date,
    now: Callable[[], datetime],
    metrics: MetricsSource | None = None,
    items: ItemFrame | None = None,
    moves: Ints | None = None,
) -> Shared:
    """Read what the reports of ``keys`` at ``as_of`` share, and let ``metrics`` load them all.

    A metrics source with a ``prefetch(keys, as_of, items)`` method (the
    store-backed one has) computes every project's figures in one pass here,
    from the same items the burn-ups are counted from. ``items``: the
    ``load_items`` of these projects (or more), if already read; ``moves``:
    their fix-version history (``pmsync.health.burn.read_fix_version_moves``).
    """
    ctx = Context(config, store, as_of, now())
    exact = items is None  # the metrics take only the items of exactly these projects
    if items is None:
        with store.session(readonly=True) as session:
            items = load_items(session.connection(), config, sorted(keys))
    prefetch = getattr(metrics, "prefetch", None)
    if callable(prefetch):
        prefetch(keys, as_of, items if exact else None)
    instant = ctx.status_instant
    project_ids = reads.project_ids(store, keys)
    return Shared(
        as_of=as_of,
        keys=frozenset(keys),
        freshness=reads.freshness(config, store, instant),
        alerts=reads.firing_alerts_by_project(store, keys),
        project_ids=project_ids,
        calendar_synced=reads.calendar_synced(store, instant),
        burnups=load_portfolio_burnups(store, config, keys, as_of=as_of, items=items, moves=moves),
        plan_changes=reads.plan_changes_by_project(store, project_ids.values(), None, instant),
    )


METRICS_HOOK = ("pmsync.metrics.reporting", "metrics_for_reports")
"""Where the integration of store and metrics offers reports a ``MetricsSource``
(e.g. ``HealthMetrics`` around its store → ``ProjectInputs`` loader)."""


def default_metrics(
    config: Config | None = None,
    store: Store | None = None,
    now: Callable[[], datetime] | None = None,
) -> MetricsSource:
    """Return the installed metrics hook for this store, or ``NoMetrics`` saying what is missing."""
    module_name, function = METRICS_HOOK
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return NoMetrics()
    factory = getattr(module, function, None)
    if factory is None:
        return NoMetrics()
    return cast(MetricsSource, factory(config, store, now))


def _name(people: Mapping[str, Person], person_id: str | None) -> str | None:
    """Return the name of a configured person, or the id as written when nobody has it."""
    found = people.get(person_id or "")
    return found.name if found is not None else person_id


def _plan_milestones(plan: ProjectPlan, as_of: date) -> tuple[MilestoneRow, ...]:
    """Milestones as planned, nothing measured: due dates only, status unknown."""
    return tuple(
        MilestoneRow(m.name, None, m.due, None, None, None, None, "unknown")
        for m in sorted(plan.milestones, key=lambda m: m.due)
    )


def _plan_wbs(plan: ProjectPlan) -> tuple[WbsRow, ...]:
    """The WBS as planned: planned cost rolled up from the leaves, nothing measured."""
    rows: list[WbsRow] = []

    def walk(node: Any, level: int) -> Decimal | None:
        index = len(rows)
        rows.append(
            WbsRow(
                node.code,
                node.name,
                level,
                node.owner,
                None,
                None,
                None,
                None,
                None,
                node.planned_finish,
            )
        )
        costs = (
            [walk(c, level + 1) for c in node.children] if node.children else [node.planned_cost]
        )
        total = (
            sum((c for c in costs if c is not None), Decimal(0))
            if any(c is not None for c in costs)
            else None
        )
        rows[index] = WbsRow(
            node.code,
            node.name,
            level,
            node.owner,
            float(total) if total is not None else None,
            None,
            None,
            None,
            None,
            node.planned_finish,
        )
        return total

    for top in plan.deliverables:
        walk(top, 1)
    return tuple(rows)


def _risks(plan: ProjectPlan, as_of: date) -> Risks:
    rows = []
    for r in plan.risks:
        if r.status == "closed":
            continue
        overdue = (as_of - r.next_review).days if r.next_review and r.next_review < as_of else None
        rows.append(
            RiskRow(
                r.id,
                r.title,
                r.probability,
                float(r.impact),
                float(r.exposure),
                r.owner,
                r.response,
                r.status,
                r.next_review,
                overdue,
            )
        )
    rows.sort(key=lambda r: (-(r.exposure or 0), r.key))
    return Risks(
        top=tuple(rows[:TOP_RISKS]),
        overdue_reviews=tuple(r for r in rows if r.days_overdue),
        open_count=len(rows),
        total_exposure=float(sum(r.exposure or 0 for r in rows)),
    )


def _upcoming(ctx: Context, plan: ProjectPlan, milestones: object, wbs: object) -> Upcoming:
    until = ctx.as_of + timedelta(days=UPCOMING_DAYS)
    items = [
        UpcomingItem(
            "milestone",
            m.name,
            m.current_due,
            f"P85 forecast {m.forecast_p85}" if m.forecast_p85 else None,
        )
        for m in (milestones if isinstance(milestones, tuple) else ())
        if m.current_due and ctx.as_of < m.current_due <= until and m.status != "done"
    ]
    items += [
        UpcomingItem(
            "deliverable",
            f"{w.code} {w.name}",
            w.planned_finish,
            f"{w.percent_complete:.0%} complete" if w.percent_complete is not None else None,
        )
        for w in (wbs if isinstance(wbs, tuple) else ())
        if w.planned_finish and ctx.as_of < w.planned_finish <= until
    ]
    items.sort(key=lambda i: (i.due, i.kind, i.name))
    start = reads.day_start(ctx.as_of + timedelta(days=1))
    meetings: tuple[Meeting, ...] = reads.cadence_meetings(
        ctx.config, ctx.store, plan, start, start + timedelta(days=UPCOMING_DAYS)
    )
    return Upcoming(until=until, items=tuple(items), meetings=meetings)


def _burnups(
    ctx: Context,
    plan: ProjectPlan,
    measured: tuple[MilestoneRow, ...] | Unavailable,
    shared: Shared | None,
) -> tuple[Chart | Unavailable, ...]:
    """Return a burn-up per milestone with work left (its cone: the milestone's forecast)."""
    label = from_metrics.BURNUP
    if isinstance(measured, Unavailable):
        return (Unavailable(f"{label}: {measured.reason}"),)
    if ctx.as_of < plan.start:
        return (
            Unavailable(f"{label}: the project starts on {plan.start}, after the status date."),
        )
    history = (
        shared.burnups[plan.key]
        if shared is not None
        else load_burnups(ctx.store, ctx.config, plan.key, as_of=ctx.as_of)
    )
    return from_metrics.burnup_charts(plan, measured, history)


def _charts(
    ctx: Context,
    metrics: MetricsSource,
    plan: ProjectPlan,
    measured: tuple[MilestoneRow, ...] | Unavailable,
    shared: Shared | None,
) -> tuple[Chart | Unavailable, ...]:
    given = dict(metrics.charts(plan, ctx.as_of))
    if "burnup" not in given:
        given["burnup"] = _burnups(ctx, plan, measured, shared)
    found: list[Chart | Unavailable] = []
    for kind, label in CHARTS:
        charts = given.get(kind, ())
        found.extend(charts or (Unavailable(f"{label}: {METRICS_MISSING}"),))
    return tuple(found)


def _meetings(
    ctx: Context, plan: ProjectPlan, since: date, shared: Shared | None
) -> Meetings | Unavailable:
    """Return the meetings of each cadence held and missed from ``since`` to the status date."""
    if not plan.meetings:
        return Meetings(cadence=(), held=())
    instant = ctx.status_instant
    synced = shared.calendar_synced if shared else reads.calendar_synced(ctx.store, instant)
    if not synced:
        return Unavailable(NO_CALENDAR)
    events = load_calendar(ctx.store, project=plan.key)
    reports = project_cadences(ctx.store, ctx.config, plan.key, since, ctx.as_of, instant, events)
    if not reports:
        return Unavailable(
            f"the report period ({since} to {ctx.as_of}) lies outside the project's dates "
            f"({plan.start} to {plan.finish})"
        )
    zone = ZoneInfo(ctx.config.settings.timezone)
    rows, held = [], []
    for cadence, report in zip(plan.meetings, reports, strict=True):
        took_place = [
            m
            for m in events
            if matches_cadence(cadence, m) and not m.cancelled and m.starts_at <= instant
        ]
        last = max((m.starts_at for m in took_place), default=None)
        rows.append(
            CadenceRow(
                kind=cadence.kind,
                every_days=round(cadence.every / timedelta(days=1)),
                held=report.held,
                missed=len(report.missed),
                last_held=last.astimezone(zone).date() if last else None,
            )
        )
        held += [
            (cadence.kind, m)
            for slot in report.slots
            if slot.outcome == "held"
            for m in slot.meetings
            if not m.cancelled and m.starts_at <= instant
        ]
    held.sort(key=lambda pair: (pair[1].starts_at, pair[1].id))
    attendees = reads.event_attendees(ctx.store, ctx.config, [m.id for _, m in held])
    return Meetings(
        cadence=tuple(rows),
        held=tuple(
            Meeting(kind, m.title, m.starts_at, attendees.get(m.id, ()), m.url) for kind, m in held
        ),
    )


def collect_project(
    config: Config,
    store: Store,
    key: str,
    *,
    as_of: date,
    now: Callable[[], datetime],
    previous: dict[str, Any] | None = None,
    metrics: MetricsSource | None = None,
    shared: Shared | None = None,
) -> ProjectReport:
    """Return the facts of project ``key`` at the end of ``as_of`` (``previous``: last JSON).

    ``shared``: what ``prepare`` read for this run's projects at the same ``as_of``.
    """
    plan = config.projects[key]
    if shared is not None and (key not in shared.keys or shared.as_of != as_of):
        shared = None
    ctx = Context(config, store, as_of, now())
    metrics = metrics or default_metrics(config, store, now)
    instant = ctx.status_instant
    ev = metrics.earned_value(plan, as_of)
    measured = metrics.milestones(plan, as_of)
    milestones = measured if isinstance(measured, tuple) else _plan_milestones(plan, as_of)
    measured_wbs = metrics.wbs(plan, as_of)
    wbs = measured_wbs if isinstance(measured_wbs, tuple) else _plan_wbs(plan)
    risks = _risks(plan, as_of)
    alerts = shared.alerts[key] if shared else reads.firing_alerts(store, key)
    previous_day = date.fromisoformat(previous["header"]["status_date"]) if previous else None
    pid = shared.project_ids.get(key) if shared else reads.project_id(store, key)
    since = (
        reads.day_start(previous_day + timedelta(days=1))
        if previous_day
        else reads.day_start(plan.start)
    )
    if pid is None:
        changes_list: tuple[PlanChangeRow, ...] = ()
    elif shared is not None:
        changes_list = tuple(c for c in shared.plan_changes.get(pid, ()) if c.at > since)
    else:
        changes_list = reads.plan_changes(store, pid, since, instant)
    figures = derive.key_figures(ev, risks, alerts)
    changes = Changes(previous_day, changes_list, derive.trends(figures, previous))
    freshness = shared.freshness if shared else reads.freshness(config, store, instant)
    people = config.settings.people_by_id
    period_start = previous_day + timedelta(days=1) if previous_day else plan.start
    header = derive.build_header(
        key=key,
        name=plan.name,
        manager=_name(people, plan.manager),
        sponsor=_name(people, plan.sponsor),
        currency=plan.currency,
        period_start=period_start,
        status_date=as_of,
        generated_at=ctx.now,
        earned_value=ev,
        milestones=measured,
        risks=risks,
        alerts=alerts,
        changes=changes,
        freshness=freshness,
        rules=config.rules.for_project(key),
        objectives=tuple(plan.objectives),
    )
    return ProjectReport(
        header=header,
        key_figures=figures,
        milestones=milestones,
        wbs=wbs,
        earned_value=ev,
        budget=metrics.budget(plan, as_of),
        charts=_charts(ctx, metrics, plan, measured, shared),
        risks=risks,
        alerts=alerts,
        changes=changes,
        meetings=_meetings(ctx, plan, period_start, shared),
        upcoming=_upcoming(ctx, plan, milestones, wbs),
        decisions=derive.decisions(measured, risks, alerts, changes),
        freshness=freshness,
    )


def collect_portfolio(
    config: Config,
    store: Store,
    reports: Mapping[str, ProjectReport],
    *,
    as_of: date,
    now: Callable[[], datetime],
    hrefs: Mapping[str, str] | None = None,
    sparklines: Mapping[str, Series] | None = None,
) -> PortfolioReport:
    """Return the portfolio facts from the projects' reports (collected once, reused)."""
    ctx = Context(config, store, as_of, now())
    rows = [
        derive.portfolio_row(r, href=(hrefs or {}).get(k), sparkline=(sparklines or {}).get(k))
        for k, r in sorted(reports.items())
    ]
    return derive.build_portfolio(
        rows,
        status_date=as_of,
        generated_at=ctx.now,
        freshness=reads.freshness(config, store, ctx.status_instant),
    )
