"""The plan of one project as ``pmsync plan show`` prints it, and as JSON.

The WBS with every figure rolled up the tree (planned cost, actual cost,
progress), the work no deliverable claims, and the milestones with their
combined scope from every tool (a breakdown per source, and the tool
milestones that feed each), their dates against the baseline, and the count
of plan changes still to approve. Everything here is read from the store
(three set-based queries and the cost ledger); nothing is computed twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from pmsync import model
from pmsync.config import Config
from pmsync.plan.baselines import PlanVariance, plan_variance
from pmsync.plan.costs import cost_ledgers
from pmsync.plan.frames import load_items
from pmsync.plan.progress import (
    Progress,
    progress_by_deliverable,
    progress_by_milestone,
    progress_by_source,
    progress_of_project,
    progress_outside_wbs,
)


@dataclass(frozen=True, slots=True)
class DeliverableLine:
    """One WBS node with its rolled-up figures."""

    code: str
    name: str
    depth: int
    owner: str | None
    planned_start: date | None
    planned_finish: date | None
    planned_cost: Decimal | None
    actual_cost: Decimal
    progress: Progress


@dataclass(frozen=True, slots=True)
class MilestoneLine:
    """One unified milestone with its combined scope and its dates."""

    name: str
    origin: str
    due: date | None
    tool_due: date | None
    baseline_due: date | None
    slip_days: int | None
    fed_by: tuple[str, ...]
    """The tool milestones that feed it: ``jira: R3 Beta (PAY)``."""
    progress: Progress
    by_source: dict[str, Progress]


@dataclass(frozen=True)
class ProjectPlanView:
    """A project's plan, cost and progress, ready to print."""

    key: str
    name: str
    currency: str
    start: date | None
    finish: date | None
    budget: Decimal | None
    progress_by: str
    baseline_version: int | None
    deliverables: tuple[DeliverableLine, ...]
    outside_wbs: DeliverableLine
    milestones: tuple[MilestoneLine, ...]
    progress: Progress
    actual_cost: Decimal
    labour_cost: Decimal
    other_cost: Decimal
    hours: float
    unrated_hours: dict[str, float]
    unapproved_changes: int

    def as_dict(self) -> dict[str, Any]:
        """Return the view as JSON-ready values (money as strings, dates ISO)."""

        def plain(value: Any) -> Any:
            if isinstance(value, Decimal):
                return f"{value:.2f}"
            if isinstance(value, date):
                return value.isoformat()
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        data = plain(asdict(self))
        pairs: list[tuple[dict[str, Any], Any]] = [
            *zip(data["deliverables"], self.deliverables, strict=True),
            (data["outside_wbs"], self.outside_wbs),
            *zip(data["milestones"], self.milestones, strict=True),
        ]
        for line, source in pairs:
            line["progress"]["percent_complete"] = source.progress.percent_complete
        data["progress"]["percent_complete"] = self.progress.percent_complete
        return data


def _fed_by(conn: Connection, milestone_ids: list[int]) -> dict[int, list[str]]:
    sm, source = model.table_of(model.SourceMilestone), model.table_of(model.Source)
    rows = conn.execute(
        select(sm.c.milestone_id, source.c.name, sm.c.name, sm.c.container)
        .join(source, source.c.id == sm.c.source_id)
        .where(sm.c.milestone_id.in_(milestone_ids), sm.c.deleted_at.is_(None))
        .order_by(source.c.name, sm.c.container, sm.c.name)
    )
    found: dict[int, list[str]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(f"{row[1]}: {row[2]} ({row[3]})")
    return found


def project_plan(conn: Connection, config: Config, key: str) -> ProjectPlanView:
    """Return the plan of project ``key`` with cost and progress rolled up."""
    configured = config.projects[key]
    variance: PlanVariance = plan_variance(conn, key)
    project = model.table_of(model.Project)
    row = conn.execute(select(project).where(project.c.key == key)).one()
    frame = load_items(conn, config, [key])
    ledger = cost_ledgers(conn, config, [key])[key]
    measure = configured.progress_by
    dl = model.table_of(model.Deliverable)
    nodes = conn.execute(select(dl).where(dl.c.project_id == row.id).order_by(dl.c.position)).all()
    tree = {n.id: n.parent_id for n in nodes}
    progress = progress_by_deliverable(frame, tree, measure)
    direct_cost = ledger.by_deliverable()
    children: dict[int | None, list[int]] = {}
    for node_id, parent in tree.items():
        children.setdefault(parent, []).append(node_id)

    def rolled(node_id: int, values: dict[int | None, Decimal]) -> Decimal:
        own = values.get(node_id, Decimal("0.00"))
        return own + sum((rolled(c, values) for c in children.get(node_id, [])), Decimal("0.00"))

    planned = {n.id: n.planned_cost for n in nodes if n.planned_cost is not None}
    depth = {n.id: n.code.count(".") for n in nodes}
    lines = tuple(
        DeliverableLine(
            code=n.code,
            name=n.name,
            depth=depth[n.id],
            owner=n.owner,
            planned_start=n.planned_start,
            planned_finish=n.planned_finish,
            planned_cost=rolled(n.id, planned) if n.id in planned or n.id in children else None,
            actual_cost=rolled(n.id, direct_cost),
            progress=progress[n.id],
        )
        for n in nodes
    )
    outside = DeliverableLine(
        code="-",
        name="not in the WBS",
        depth=0,
        owner=None,
        planned_start=None,
        planned_finish=None,
        planned_cost=None,
        actual_cost=direct_cost.get(None, Decimal("0.00")),
        progress=progress_outside_wbs(frame, row.id, measure),
    )
    ms = model.table_of(model.Milestone)
    stones = conn.execute(
        select(ms).where(ms.c.project_id == row.id).order_by(ms.c.position, ms.c.name)
    ).all()
    ids = [m.id for m in stones]
    by_milestone = progress_by_milestone(frame, ids, measure)
    fed = _fed_by(conn, ids)
    names = {sid: name for name, sid in conn.execute(select(model.Source.name, model.Source.id))}
    against = {v.name: v for v in variance.milestones}
    milestones = tuple(
        MilestoneLine(
            name=m.name,
            origin=m.origin,
            due=m.due_date,
            tool_due=m.tool_due_date,
            baseline_due=against[m.name].baseline_due if m.name in against else None,
            slip_days=against[m.name].slip_days if m.name in against else None,
            fed_by=tuple(fed.get(m.id, [])),
            progress=by_milestone[m.id],
            by_source={
                names.get(sid, str(sid)): p
                for sid, p in progress_by_source(frame, m.id, measure).items()
            },
        )
        for m in stones
    )
    return ProjectPlanView(
        key=key,
        name=row.name,
        currency=row.currency or configured.currency,
        start=row.start_date,
        finish=row.finish_date,
        budget=row.budget,
        progress_by=measure,
        baseline_version=variance.baseline.version if variance.baseline else None,
        deliverables=lines,
        outside_wbs=outside,
        milestones=milestones,
        progress=progress_of_project(frame, row.id, measure),
        actual_cost=ledger.total(),
        labour_cost=ledger.labour_cost,
        other_cost=ledger.other_cost,
        hours=ledger.hours,
        unrated_hours=ledger.unrated_hours(),
        unapproved_changes=len(variance.unapproved_changes),
    )
