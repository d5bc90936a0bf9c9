"""The store and the configuration mapped onto ``ProjectInputs``, for many projects at once.

The metrics are pure functions over plain inputs; this module fills them the
way the plan layer measures the project, for every project asked for in one
pass: one query per table (projects, deliverables, milestones, items, status
history, worklogs and cost rows), then numpy over all the items at once, so
500 projects cost the same number of statements as one. Per project:

* **WBS**: the deliverable table's planned dates and costs (a planned cost with
  no dates is spread over the project's start to finish);
* **% complete**: each deliverable's own items, done at the status date, in
  the project's ``progress_by`` measure; a deliverable whose items have no
  value in that measure (GitHub issues have no story points) is measured by
  item count, and one without items of its own by its subtree's;
* **actual cost per day**: the plan's cost ledger (worklogs x rates, cost rows);
* **milestones**: every milestone of the project with its due date in the
  plan and its items still open at the status date;
* **team**: the status history of the project's items (creation included),
  hours booked per person and week, the hours those people can work (leave
  and holidays out), and for the forecast the share of them at work on each
  coming day (leave known up to ``LEAVE_HORIZON_DAYS`` ahead);
* **business case**: from the project file.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from time import perf_counter, process_time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, select

from pmsync import model
from pmsync.config import Config
from pmsync.config import Project as ProjectPlan
from pmsync.config.meetings import WEEKDAYS
from pmsync.health.measure import (
    MilestoneCounts,
    Progress,
    cost_series,
    deliverable_progress,
    history_by_project,
    milestone_scopes,
    pct_complete,
)
from pmsync.health.parallel import ReadsBeside, reads_beside
from pmsync.health.team import TeamFeed
from pmsync.health.timelines import items_at
from pmsync.metrics import (
    BusinessCaseInputs,
    DeliverablePlan,
    EvmInputs,
    ForecastSettings,
    MilestonePlan,
    ProjectInputs,
    StatusChanges,
    WorkingCalendar,
)
from pmsync.metrics.workdays import to_date
from pmsync.plan.costs import CostLedger, cost_ledgers
from pmsync.plan.frames import ItemFrame, load_items
from pmsync.store import Store

TEAM_WINDOW_WORKING_DAYS = 60


@dataclass(frozen=True, slots=True)
class MilestoneScope:
    """A milestone's plan and scope at the status date, beside its forecast."""

    id: int
    name: str
    origin: str
    due: date | None
    tool_due: date | None
    items: int
    done_items: int
    items_by_source: dict[str, int]


@dataclass(frozen=True)
class LoadedProject:
    """One project's metric inputs, with what the PM sees beside the figures."""

    key: str
    name: str
    currency: str
    inputs: ProjectInputs
    milestones: tuple[MilestoneScope, ...]
    ledger: CostLedger


def status_instant(config: Config, as_of: date, now: Callable[[], datetime]) -> datetime:
    """Return the end of ``as_of`` in the installation's time zone, or now if that is earlier."""
    zone = ZoneInfo(config.settings.timezone)
    end = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return min(now().astimezone(UTC), end)


def working_calendar(config: Config) -> WorkingCalendar:
    """Return the working week of ``meetings.working_days`` as a metrics calendar."""
    days = set(config.settings.meetings.working_days)
    return WorkingCalendar("".join("1" if d in days else "0" for d in WEEKDAYS))


def window_start(config: Config, as_of: date, calendar: WorkingCalendar) -> datetime:
    """Return the start of the team window (throughput, cycle time, WIP), a day early."""
    first = to_date(calendar.first_of_last(as_of, TEAM_WINDOW_WORKING_DAYS))
    zone = ZoneInfo(config.settings.timezone)
    return datetime.combine(first - timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)


Timings = dict[str, tuple[float, float]]
"""Stage → (wall seconds, CPU seconds of this process), for ``bench/``."""


class Stopwatch:
    """Seconds spent per stage of a load, wall and CPU (``into=None``: not measured)."""

    def __init__(self, into: Timings | None) -> None:
        self.into = into
        self.last = (perf_counter(), process_time())

    def lap(self, stage: str) -> None:
        """Add the time since the previous lap to ``stage``."""
        moment = (perf_counter(), process_time())
        if self.into is not None:
            wall, cpu = self.into.get(stage, (0.0, 0.0))
            self.into[stage] = (wall + moment[0] - self.last[0], cpu + moment[1] - self.last[1])
        self.last = moment


def load_inputs(
    store: Store,
    config: Config,
    keys: Collection[str],
    *,
    as_of: date,
    now: Callable[[], datetime],
    timings: Timings | None = None,
    items: ItemFrame | None = None,
) -> dict[str, LoadedProject]:
    """Return the metric inputs of ``keys`` at the status date ``as_of`` (projects in the store).

    ``items``: ``load_items`` of exactly ``keys``, if the caller has read them already.
    """
    return load_items_and_inputs(
        store, config, keys, as_of=as_of, now=now, timings=timings, items=items
    )[1]


def load_items_and_inputs(
    store: Store,
    config: Config,
    keys: Collection[str],
    *,
    as_of: date,
    now: Callable[[], datetime],
    timings: Timings | None = None,
    items: ItemFrame | None = None,
    beside: ReadsBeside | None = None,
) -> tuple[ItemFrame, dict[str, LoadedProject]]:
    """Return the work items of ``keys`` (``load_items``) and their metric inputs at ``as_of``.

    In a large store the status history is read by a worker process meanwhile
    (``pmsync.health.parallel``; ``beside``: the caller's, for these ``keys``,
    which may have started the read already); the result is the same.
    """
    cutoff = status_instant(config, as_of, now)
    calendar = working_calendar(config)
    since = window_start(config, as_of, calendar)
    clock = Stopwatch(timings)
    with ExitStack() as stack:
        if beside is None:
            beside = stack.enter_context(reads_beside(store, sorted(keys)))
        history_read = beside.status_history(since)
        with store.session(readonly=True) as session:
            conn = session.connection()
            project = model.table_of(model.Project)
            projects: list[Any] = list(
                conn.execute(
                    select(project).where(project.c.key.in_(sorted(keys))).order_by(project.c.key)
                ).all()
            )
            ids = [p.id for p in projects]
            deliverables = _grouped(conn, model.table_of(model.Deliverable), ids)
            milestones = _grouped(conn, model.table_of(model.Milestone), ids)
            sources = dict(conn.execute(select(model.Source.id, model.Source.name)).all())
            clock.lap("plan tables")
            frame = items if items is not None else load_items(conn, config, keys)
            clock.lap("work items (load_items)")
            ledgers = cost_ledgers(conn, config, keys)
            clock.lap("cost ledgers")
        team = TeamFeed.load(store, config, ledgers, as_of, calendar, TEAM_WINDOW_WORKING_DAYS)
        clock.lap("team: bookings and capacity")
        with store.session(readonly=True) as session:
            read = history_read.take()  # the worker's, or None: read here
            state = items_at(session.connection(), config, frame, cutoff, now(), since, read)
        clock.lap("status and milestone history")
    progress = deliverable_progress(config, frame, state, projects)
    scopes = milestone_scopes(frame, state, sources)
    history = history_by_project(frame, state, config.settings.timezone)
    found: dict[str, LoadedProject] = {}
    for p in projects:
        plan = config.projects.get(p.key)
        if plan is None:
            continue
        found[p.key] = _project(
            p,
            plan,
            as_of,
            calendar,
            deliverables[p.id],
            milestones[p.id],
            ledgers[p.key],
            progress,
            scopes,
            history.get(p.id),
            team,
        )
    clock.lap("inputs per project")
    return frame, found


def _grouped(conn: Connection, table: Any, project_ids: list[int]) -> dict[int, list[Any]]:
    """Return the rows of a plan table per project, in the plan's order."""
    rows = conn.execute(
        select(table)
        .where(table.c.project_id.in_(project_ids))
        .order_by(table.c.project_id, table.c.position, table.c.id)
    ).all()
    found: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        found[row.project_id].append(row)
    return found


def _project(
    p: Any,
    plan: ProjectPlan,
    as_of: date,
    calendar: WorkingCalendar,
    nodes: list[Any],
    owned: list[Any],
    ledger: CostLedger,
    progress: Progress,
    scopes: MilestoneCounts,
    changes: StatusChanges | None,
    team: TeamFeed,
) -> LoadedProject:
    """Return one project's inputs from the portfolio-wide arrays."""
    evm = EvmInputs(
        status_date=as_of,
        deliverables=_wbs(nodes, plan),
        pct_complete=pct_complete(nodes, progress),
        actual_cost_by_day=cost_series(ledger, {n.id: n.code for n in nodes}),
        weekmask=calendar.weekmask,
    )
    scope = [scopes.get(m.id, (0, 0, {})) for m in owned]
    return LoadedProject(
        key=p.key,
        name=p.name,
        currency=plan.currency,
        inputs=ProjectInputs(
            key=p.key,
            evm=evm,
            milestones=tuple(
                MilestonePlan(m.name, m.due_date, items - done)
                for m, (items, done, _) in zip(owned, scope, strict=True)
            ),
            forecast=ForecastSettings(
                history_working_days=TEAM_WINDOW_WORKING_DAYS,
                capacity=team.availability(p.key),
            ),
            team=team.inputs(p.key, changes),
            business_case=business_case_inputs(plan),
        ),
        milestones=tuple(
            MilestoneScope(m.id, m.name, m.origin, m.due_date, m.tool_due_date, i, d, s)
            for m, (i, d, s) in zip(owned, scope, strict=True)
        ),
        ledger=ledger,
    )


def _wbs(nodes: list[Any], plan: ProjectPlan) -> list[DeliverablePlan]:
    codes = {n.id: n.code for n in nodes}
    found = []
    for n in nodes:
        cost = float(n.planned_cost or 0)
        start, finish = n.planned_start, n.planned_finish
        if cost and (start is None or finish is None):
            start, finish = start or plan.start, finish or plan.finish
        parent = codes.get(n.parent_id) if n.parent_id is not None else None
        found.append(DeliverablePlan(n.code, parent, start, finish, cost, n.name))
    return found


def business_case_inputs(plan: ProjectPlan) -> BusinessCaseInputs | None:
    """Return the project file's business case as yearly costs and benefits, if it has one."""
    case = plan.business_case
    if case is None:
        return None
    costs: dict[int, float] = defaultdict(float)
    for flow in case.one_off_costs:
        costs[flow.year] += float(flow.amount)
    for year, amount in case.running_costs.items():
        costs[year] += float(amount)
    benefits = {year: float(amount) for year, amount in case.benefits.items()}
    return BusinessCaseInputs.from_years(case.discount_rate, costs, benefits)
