"""Match selectors as data: one row per selector, ranked, ready to be joined with items.

A project file lists selectors under milestones and deliverables; linking
needs them as rows it can join against in SQL, each with a *priority* that
settles which deliverable wins when several claim one item. The rule, in the
PM's terms: the most specific WBS node wins (deeper in the tree first), then
the most specific kind of selector (epic, component, label, repository), then
the order of the project file. JQL selectors are compiled to a SQL condition
here (see ``pmsync.plan.jql`` for the subset and why).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, and_, exists, func, not_, or_, select

from pmsync.config import Config
from pmsync.plan.apply import AppliedPlan
from pmsync.plan.jql import CATEGORIES, Clause, Combined, Node, parse_jql
from pmsync.plan.sql import contains, is_empty_list

DELIVERABLE_KINDS = ("epic", "component", "label", "repository")
"""Deliverable selector kinds, most specific first."""
MILESTONE_KINDS = ("epic", "label")
"""Milestone selector kinds joined here; fix versions, GitHub milestones and JQL go apart."""


@dataclass(frozen=True, slots=True)
class JqlSelector:
    """A ``jql`` selector of a milestone, parsed."""

    project: str
    milestone_id: int
    source: str
    query: str
    node: Node


def selector_rows(config: Config, plan: AppliedPlan) -> list[dict[str, Any]]:
    """Return the epic/component/label/repository selectors as rows with priorities."""
    rows: list[dict[str, Any]] = []
    ranked = sorted(plan.wbs, key=lambda w: (-w.depth, w.project, w.position))
    for order, wbs in enumerate(ranked):
        for selector in wbs.node.match:
            for rank, kind in enumerate(DELIVERABLE_KINDS):
                value = getattr(selector, kind)
                if value is None:
                    continue
                rows.append(
                    {
                        "target_kind": "d",
                        "target_id": plan.deliverable_ids[(wbs.project, wbs.code)],
                        "project_id": plan.project_ids[wbs.project],
                        "kind": kind,
                        "value": value.lower() if kind == "repository" else value,
                        "priority": order * len(DELIVERABLE_KINDS) + rank,
                    }
                )
    for key, project in sorted(config.projects.items()):
        for milestone in project.milestones:
            for gathers in milestone.match:
                for kind in MILESTONE_KINDS:
                    value = getattr(gathers, kind)
                    if value is not None:
                        rows.append(
                            {
                                "target_kind": "m",
                                "target_id": plan.milestone_ids[(key, milestone.name)],
                                "project_id": plan.project_ids[key],
                                "kind": kind,
                                "value": value,
                                "priority": 0,
                            }
                        )
    return rows


def jql_selectors(config: Config, plan: AppliedPlan) -> list[JqlSelector]:
    """Return the parsed ``jql`` selectors of every milestone."""
    found = []
    for key, project in sorted(config.projects.items()):
        for milestone in project.milestones:
            for selector in milestone.match:
                if selector.jql is not None:
                    found.append(
                        JqlSelector(
                            key,
                            plan.milestone_ids[(key, milestone.name)],
                            selector.jql.source,
                            selector.jql.query,
                            parse_jql(selector.jql.query),
                        )
                    )
    return found


def jql_projects(node: Node) -> Iterator[str]:
    """Yield the Jira project keys a query names with ``project =`` or ``project in``."""
    if isinstance(node, Clause):
        if node.field == "project" and node.op in ("=", "in"):
            yield from (v.upper() for v in node.values)
    elif node.op != "not":
        for part in node.parts:
            yield from jql_projects(part)


def _scalar(clause: Clause, column: ColumnElement[Any], fold: str | None) -> ColumnElement[bool]:
    def norm(value: Any) -> Any:
        if fold == "upper":
            return func.upper(value)
        if fold == "lower":
            return func.lower(value)
        return value

    def literal_of(value: str) -> str:
        return value.upper() if fold == "upper" else value.lower() if fold == "lower" else value

    if clause.op == "empty":
        return column.is_(None)
    if clause.op == "not empty":
        return column.isnot(None)
    values = [literal_of(v) for v in clause.values]
    if clause.op in ("=", "in"):
        return norm(column).in_(values)
    return norm(column).notin_(values)


def compile_jql(
    conn: Connection, node: Node, items: Table, milestones: Table
) -> ColumnElement[bool]:
    """Return ``node`` as a SQL condition on ``items`` (work_item) rows."""
    if isinstance(node, Combined):
        parts = [compile_jql(conn, p, items, milestones) for p in node.parts]
        if node.op == "not":
            return not_(parts[0])
        return and_(*parts) if node.op == "and" else or_(*parts)
    c = items.c
    simple = {
        "project": (c.container, "upper"),
        "key": (c.key, "upper"),
        "issuetype": (c.item_type, "lower"),
        "status": (c.status, "lower"),
        "priority": (c.priority, "lower"),
        "epic": (c.epic_key, "upper"),
        "assignee": (c.assignee_login, None),
        "reporter": (c.reporter_login, None),
    }
    if node.field in simple:
        column, fold = simple[node.field]
        return _scalar(node, column, fold)
    if node.field == "parent":
        either = [_scalar(node, c.parent_key, "upper"), _scalar(node, c.epic_key, "upper")]
        return or_(*either) if node.op in ("=", "in", "not empty") else and_(*either)
    if node.field == "statuscategory":
        categories = [CATEGORIES[v.lower()] for v in node.values]
        if node.op in ("=", "in"):
            return c.status_category.in_(categories)
        if node.op in ("!=", "not in"):
            return c.status_category.notin_(categories)
        return c.status_category.is_(None) if node.op == "empty" else c.status_category.isnot(None)
    if node.field in ("labels", "component"):
        column = c.labels if node.field == "labels" else c.components
        if node.op in ("empty", "not empty"):
            empty = is_empty_list(conn, column)
            return empty if node.op == "empty" else not_(empty)
        anyof = or_(*(contains(conn, column, v) for v in node.values))
        return anyof if node.op in ("=", "in") else not_(anyof)
    # fixVersion: a version of the issue's own source, by name
    m = milestones.c
    named = exists(
        select(m.id).where(
            m.source_id == c.source_id,
            m.deleted_at.is_(None),
            contains(conn, c.milestones, m.external_id),
            *([m.name.in_(node.values)] if node.values else []),
        )
    )
    return named if node.op in ("=", "in", "not empty") else not_(named)
