"""Load the configured plan into the store: projects, milestones, the WBS, cost sheets.

The project files are the plan; the tables are its copy that reports, rules
and metrics join against. Applying is idempotent (a row is written only when
a value differs, so a second refresh changes nothing) and set-based (one
statement per table, whatever the size of the portfolio). Differences in plan
dates, budgets and deliverable plans are written to the plan-change log; a
project seen for the first time is the initial load, not a change.

Projects that leave the configuration keep their rows (baselines and history
are worth keeping); nothing links to them any more. Milestones and
deliverables that leave a project file are deleted (their baselines keep
them in the snapshot) and the removal is logged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, select, update

from pmsync import model
from pmsync.config import Config
from pmsync.config.projects import Deliverable, Project
from pmsync.errors import ConfigError
from pmsync.plan.changes import ChangeLog
from pmsync.upsert import MAX_PARAMS, chunked


@dataclass(frozen=True, slots=True)
class WbsNode:
    """A deliverable of the configuration with its place in the tree."""

    project: str
    code: str
    parent: str | None
    depth: int
    position: int
    node: Deliverable


@dataclass
class AppliedPlan:
    """Ids of what the configuration defines, for the linking stages."""

    project_ids: dict[str, int] = field(default_factory=dict)
    new_projects: set[str] = field(default_factory=set)
    """Projects inserted by this refresh: their first load is not a change."""
    milestone_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    deliverable_ids: dict[tuple[str, str], int] = field(default_factory=dict)
    wbs: list[WbsNode] = field(default_factory=list)
    cost_entries_changed: int = 0
    warnings: list[str] = field(default_factory=list)


def wbs_nodes(key: str, project: Project) -> list[WbsNode]:
    """Return the project's deliverables depth first, with parent codes and depths."""
    found: list[WbsNode] = []

    def walk(nodes: Iterable[Deliverable], parent: str | None, depth: int) -> None:
        for node in nodes:
            found.append(WbsNode(key, node.code, parent, depth, len(found), node))
            walk(node.children, node.code, depth + 1)

    walk(project.deliverables, None, 0)
    return found


def execute_many(conn: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Run ``statement`` for ``rows`` in executemany batches sized to the parameter limit."""
    if not rows:
        return
    size = max(1, MAX_PARAMS // max(1, len(rows[0])))
    for chunk in chunked(rows, size):
        conn.execute(statement, list(chunk))


def update_by_id(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """Update rows (dicts with ``row_id`` and the new values) in one executemany."""
    if not rows:
        return
    columns = [k for k in rows[0] if k != "row_id"]
    statement = (
        update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({c: bindparam(c) for c in columns})
    )
    execute_many(conn, statement, rows)


def _projects(conn: Connection, config: Config, now: datetime, log: ChangeLog) -> AppliedPlan:
    table = model.table_of(model.Project)
    existing = {r.key: r for r in conn.execute(select(table))}
    plan = AppliedPlan()
    inserts, updates = [], []
    for key, project in sorted(config.projects.items()):
        values = {
            "name": project.name,
            "start_date": project.start,
            "finish_date": project.finish,
            "budget": project.budget_at_completion,
            "currency": project.currency,
            "settings": project.model_dump(mode="json"),
        }
        row = existing.get(key)
        if row is None:
            inserts.append({"key": key, "updated_at": now, **values})
            plan.new_projects.add(key)
            continue
        plan.project_ids[key] = row.id
        if any(getattr(row, k) != v for k, v in values.items()):
            updates.append({"row_id": row.id, "updated_at": now, **values})
            log.note(row.id, "project", "start", row.start_date, project.start)
            log.note(row.id, "project", "finish", row.finish_date, project.finish)
            log.note(row.id, "project", "budget", row.budget, project.budget_at_completion)
            before = (row.settings or {}).get("annual_budgets") or {}
            after = {str(y): Decimal(str(v)) for y, v in project.annual_budgets.items()}
            for year in sorted(set(before) | set(after)):
                old = Decimal(str(before[year])) if year in before else None
                log.note(row.id, "project", f"annual_budget:{year}", old, after.get(year))
    execute_many(conn, insert(table), inserts)
    update_by_id(conn, table, updates)
    if inserts:
        keys = [r["key"] for r in inserts]
        plan.project_ids.update(
            conn.execute(select(table.c.key, table.c.id).where(table.c.key.in_(keys))).all()
        )
    return plan


def _milestones(
    conn: Connection, config: Config, plan: AppliedPlan, now: datetime, log: ChangeLog
) -> None:
    table = model.table_of(model.Milestone)
    ids = list(plan.project_ids.values())
    existing = {
        (r.project_id, r.name): r
        for r in conn.execute(select(table).where(table.c.project_id.in_(ids)))
    }
    inserts, updates, keep = [], [], set()
    for key, project in sorted(config.projects.items()):
        pid = plan.project_ids[key]
        for position, milestone in enumerate(project.milestones):
            values = {
                "due_date": milestone.due,
                "description": milestone.description or None,
                "origin": "plan",
                "position": position,
            }
            row = existing.get((pid, milestone.name))
            keep.add((pid, milestone.name))
            subject = f"milestone:{milestone.name}"
            if row is None:
                inserts.append(
                    {"project_id": pid, "name": milestone.name, "updated_at": now, **values}
                )
                if key not in plan.new_projects:
                    log.note(pid, subject, "milestone", None, milestone.due)
            elif any(getattr(row, k) != v for k, v in values.items()):
                updates.append({"row_id": row.id, "updated_at": now, **values})
                if row.origin == "plan":
                    log.note(pid, subject, "due", row.due_date, milestone.due)
    gone = [r for k, r in existing.items() if k not in keep and r.origin == "plan"]
    for row in gone:
        log.note(row.project_id, f"milestone:{row.name}", "milestone", row.due_date, None)
    if gone:
        conn.execute(delete(table).where(table.c.id.in_([r.id for r in gone])))
    execute_many(conn, insert(table), inserts)
    update_by_id(conn, table, updates)
    key_of = {v: k for k, v in plan.project_ids.items()}
    rows = conn.execute(
        select(table.c.id, table.c.project_id, table.c.name).where(
            table.c.project_id.in_(ids), table.c.origin == "plan"
        )
    )
    plan.milestone_ids.update(((key_of[r.project_id], r.name), r.id) for r in rows)


def _deliverables(
    conn: Connection, config: Config, plan: AppliedPlan, now: datetime, log: ChangeLog
) -> None:
    table = model.table_of(model.Deliverable)
    ids = list(plan.project_ids.values())
    existing = {
        (r.project_id, r.code): r
        for r in conn.execute(select(table).where(table.c.project_id.in_(ids)))
    }
    inserts, updates, keep = [], [], set()
    for key, project in sorted(config.projects.items()):
        pid = plan.project_ids[key]
        for wbs in wbs_nodes(key, project):
            plan.wbs.append(wbs)
            node = wbs.node
            values = {
                "name": node.name,
                "owner": node.owner,
                "planned_start": node.planned_start,
                "planned_finish": node.planned_finish,
                "planned_cost": node.planned_cost,
                "match": {"selectors": [s.model_dump(exclude_none=True) for s in node.match]},
                "position": wbs.position,
            }
            keep.add((pid, node.code))
            row = existing.get((pid, node.code))
            subject = f"deliverable:{node.code}"
            if row is None:
                inserts.append({"project_id": pid, "code": node.code, "updated_at": now, **values})
                if key not in plan.new_projects:
                    log.note(pid, subject, "deliverable", None, node.name)
                continue
            if any(getattr(row, k) != v for k, v in values.items()):
                updates.append({"row_id": row.id, "updated_at": now, **values})
                for name in ("planned_start", "planned_finish", "planned_cost"):
                    log.note(pid, subject, name, getattr(row, name), values[name])
    execute_many(conn, insert(table), inserts)
    update_by_id(conn, table, updates)
    rows = conn.execute(
        select(table.c.id, table.c.project_id, table.c.code, table.c.parent_id).where(
            table.c.project_id.in_(ids)
        )
    ).all()
    by_code = {(r.project_id, r.code): r.id for r in rows}
    current_parent = {r.id: r.parent_id for r in rows}
    moved = []
    for wbs in plan.wbs:
        pid = plan.project_ids[wbs.project]
        row_id = by_code[(pid, wbs.code)]
        parent_id = by_code[(pid, wbs.parent)] if wbs.parent is not None else None
        plan.deliverable_ids[(wbs.project, wbs.code)] = row_id
        if current_parent.get(row_id) != parent_id:
            moved.append({"row_id": row_id, "parent_id": parent_id})
    # Re-parent before deleting: a kept child of a removed parent must not go with it.
    update_by_id(conn, table, moved)
    gone = [r for r in rows if (r.project_id, r.code) not in keep]
    for row in gone:
        log.note(row.project_id, f"deliverable:{row.code}", "deliverable", row.code, None)
    if gone:
        conn.execute(delete(table).where(table.c.id.in_([r.id for r in gone])))


def _cost_entries(conn: Connection, config: Config, plan: AppliedPlan, now: datetime) -> None:
    table = model.table_of(model.CostEntry)
    ids = list(plan.project_ids.values())
    existing = {
        (r.project_id, r.reference): r
        for r in conn.execute(select(table).where(table.c.project_id.in_(ids)))
    }
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    keep: set[tuple[int, str]] = set()
    for key, project in sorted(config.projects.items()):
        pid = plan.project_ids[key]
        if project.costs_csv is None:
            continue
        try:
            entries = config.costs(key)
        except (ConfigError, OSError) as err:
            plan.warnings.append(f"project {key}: costs not read ({err}); kept the last ones")
            keep.update(k for k in existing if k[0] == pid)
            continue
        for entry in entries:
            reference = f"{project.costs_csv}:{entry.line}"
            keep.add((pid, reference))
            values = {
                "deliverable_id": plan.deliverable_ids.get((key, entry.deliverable or "")),
                "entry_date": entry.date,
                "amount": entry.amount,
                "currency": project.currency,
                "category": entry.category or None,
                "vendor": entry.vendor or None,
                "description": entry.description or None,
            }
            row = existing.get((pid, reference))
            if row is None:
                inserts.append(
                    {"project_id": pid, "reference": reference, "created_at": now, **values}
                )
            elif any(getattr(row, k) != v for k, v in values.items()):
                updates.append({"row_id": row.id, **values})
    gone = [r.id for k, r in existing.items() if k not in keep]
    if gone:
        conn.execute(delete(table).where(table.c.id.in_(gone)))
    execute_many(conn, insert(table), inserts)
    update_by_id(conn, table, updates)
    plan.cost_entries_changed = len(inserts) + len(updates) + len(gone)


def apply_config(conn: Connection, config: Config, now: datetime, log: ChangeLog) -> AppliedPlan:
    """Write the configured plan to the store (only what differs); return the ids."""
    plan = _projects(conn, config, now, log)
    _milestones(conn, config, plan, now, log)
    _deliverables(conn, config, plan, now, log)
    _cost_entries(conn, config, plan, now)
    return plan
