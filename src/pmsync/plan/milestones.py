"""Unified milestones: each tool's milestones gathered under the plan's.

A milestone of the plan names the tool milestones that feed it (a Jira fix
version, a GitHub milestone); they are *claimed* by it, the first claim in
project-key and file order winning. The tools also have milestones nobody
configured: those in a project's own Jira projects and repositories become
milestones of the project too (origin ``tool``), one per name across tools,
with the tools' latest date as their due date, so nothing planned in a tool
is invisible. A tool milestone whose name is a configured milestone's joins
it. Archived Jira versions only count when claimed.

A project's *containers* (the Jira projects and repositories it lives in) are
read from its selectors: claimed tool milestones, GitHub milestone and
repository selectors, the Jira project of each epic named (where the epic is
synced, and the prefix of its key), and ``project`` terms of JQL selectors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from pmsync import model
from pmsync.config import Config
from pmsync.config.projects import Project
from pmsync.plan.apply import AppliedPlan, update_by_id
from pmsync.plan.changes import ChangeLog
from pmsync.plan.jql import parse_jql
from pmsync.plan.selectors import jql_projects

Container = tuple[int | None, str]
"""(source id or None for any source, Jira project key or ``owner/repo`` in lower case)."""


@dataclass
class MilestoneLinks:
    """What unifying the milestones found, for the later stages and the refresh summary."""

    containers: dict[str, set[Container]] = field(default_factory=dict)
    tool_milestones: int = 0
    claimed: int = 0
    warnings: list[str] = field(default_factory=list)


def _source_ids(conn: Connection) -> dict[str, int]:
    table = model.table_of(model.Source)
    return dict(conn.execute(select(table.c.name, table.c.id)).all())


def _epics(project: Project) -> set[str]:
    """Return the epic keys the project's milestone and deliverable selectors name."""
    found = {s.epic for m in project.milestones for s in m.match if s.epic is not None}
    found.update(s.epic for d in project.all_deliverables() for s in d.match if s.epic is not None)
    return found


def _epic_containers(conn: Connection, config: Config) -> dict[str, Container]:
    keys = {epic for project in config.projects.values() for epic in _epics(project)}
    if not keys:
        return {}
    wi = model.table_of(model.WorkItem)
    rows = conn.execute(
        select(wi.c.key, wi.c.source_id, wi.c.container).where(
            wi.c.key.in_(sorted(keys)), wi.c.deleted_at.is_(None)
        )
    )
    return {r.key: (r.source_id, r.container.lower()) for r in rows}


def _jira_projects(project: Project) -> set[str]:
    """Return the Jira project keys a project's selectors name (epic keys, JQL terms)."""
    keys = {epic.rsplit("-", 1)[0].upper() for epic in _epics(project) if "-" in epic}
    for milestone in project.milestones:
        for selector in milestone.match:
            if selector.jql is not None:
                keys.update(jql_projects(parse_jql(selector.jql.query)))
    return keys


def link_milestones(
    conn: Connection, config: Config, plan: AppliedPlan, now: datetime, log: ChangeLog
) -> MilestoneLinks:
    """Claim tool milestones, create the tool-only ones, set dates; return the containers."""
    sources = _source_ids(conn)
    sm = model.table_of(model.SourceMilestone)
    tool_rows = conn.execute(
        select(
            sm.c.id,
            sm.c.source_id,
            sm.c.name,
            sm.c.container,
            sm.c.due_date,
            sm.c.archived,
            sm.c.milestone_id,
        ).where(sm.c.deleted_at.is_(None))
    ).all()
    by_name: dict[tuple[int, str], list[Any]] = defaultdict(list)
    by_title: dict[tuple[int, str, str], list[Any]] = defaultdict(list)
    for row in tool_rows:
        by_name[(row.source_id, row.name)].append(row)
        by_title[(row.source_id, row.container.lower(), row.name)].append(row)
    links = MilestoneLinks()
    claim: dict[int, int] = {}  # source milestone id -> milestone id
    epics = _epic_containers(conn, config)
    for key, project in sorted(config.projects.items()):
        containers: set[Container] = set()
        home = sorted(_jira_projects(project))
        for milestone in project.milestones:
            mid = plan.milestone_ids[(key, milestone.name)]
            for selector in milestone.match:
                found: list[Any] = []
                if selector.jira_fix_version is not None:
                    name = selector.jira_fix_version.name
                    sid = sources.get(selector.jira_fix_version.source, -1)
                    found = [r for jp in home for r in by_title.get((sid, jp.lower(), name), [])]
                    found = found or by_name.get((sid, name), [])
                    if len({r.container for r in found}) > 1:
                        links.warnings.append(
                            f"project {key}: milestone {milestone.name!r}: fix version "
                            f"{selector.jira_fix_version.name!r} exists in several Jira "
                            f"projects ({', '.join(sorted({r.container for r in found}))}); "
                            "all of them are gathered"
                        )
                elif selector.github_milestone is not None:
                    gm = selector.github_milestone
                    repo_source = sources.get(gm.source)
                    if repo_source is not None:
                        containers.add((repo_source, gm.repo.lower()))
                        found = by_title.get((repo_source, gm.repo.lower(), gm.title), [])
                elif selector.jql is not None:
                    jql_source = sources.get(selector.jql.source)
                    for jira_key in jql_projects(parse_jql(selector.jql.query)):
                        containers.add((jql_source, jira_key.lower()))
                elif selector.epic is not None and selector.epic in epics:
                    containers.add(epics[selector.epic])
                for row in found:
                    containers.add((row.source_id, row.container.lower()))
                    if row.id in claim and claim[row.id] != mid:
                        links.warnings.append(
                            f"project {key}: milestone {milestone.name!r}: tool milestone "
                            f"{row.name!r} ({row.container}) already belongs to another "
                            "milestone; it stays there"
                        )
                        continue
                    claim[row.id] = mid
        for node in project.all_deliverables():
            for claim_by in node.match:
                if claim_by.repository is not None:
                    containers.add((None, claim_by.repository.lower()))
                elif claim_by.epic is not None and claim_by.epic in epics:
                    containers.add(epics[claim_by.epic])
        containers.update((None, key.lower()) for key in _jira_projects(project))
        links.containers[key] = containers
    links.claimed = len(claim)
    _tool_only(conn, config, plan, tool_rows, claim, links, now, log)
    moved = [
        {"row_id": r.id, "milestone_id": claim.get(r.id)}
        for r in tool_rows
        if r.milestone_id != claim.get(r.id)
    ]
    update_by_id(conn, sm, moved)
    _tool_dates(conn, plan, tool_rows, claim, log)
    return links


def _tool_only(
    conn: Connection,
    config: Config,
    plan: AppliedPlan,
    tool_rows: Sequence[Any],
    claim: dict[int, int],
    links: MilestoneLinks,
    now: datetime,
    log: ChangeLog,
) -> None:
    """Give unclaimed tool milestones of a project's containers a milestone of their own."""
    wanted: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for row in tool_rows:
        if row.id in claim or row.archived:
            continue
        for key in sorted(config.projects):
            owned = links.containers[key]
            where = row.container.lower()
            if (row.source_id, where) in owned or (None, where) in owned:
                wanted[(key, row.name)].append(row)
                break
    configured = {
        (key, m.name.lower()): plan.milestone_ids[(key, m.name)]
        for key, project in config.projects.items()
        for m in project.milestones
    }
    table = model.table_of(model.Milestone)
    ids = list(plan.project_ids.values())
    existing = {
        (r.project_id, r.name): r
        for r in conn.execute(
            select(table).where(table.c.project_id.in_(ids), table.c.origin == "tool")
        )
    }
    inserts, updates, keep = [], [], set()
    ordered = sorted(wanted.items(), key=lambda kv: (kv[0][0], _latest(kv[1]) or date.max))
    positions: dict[str, int] = defaultdict(lambda: 10_000)
    for (key, name), rows in ordered:
        joined = configured.get((key, name.lower()))
        if joined is not None:
            claim.update((r.id, joined) for r in rows)
            continue
        pid = plan.project_ids[key]
        positions[key] += 1
        values = {"due_date": _latest(rows), "position": positions[key], "origin": "tool"}
        keep.add((pid, name))
        row = existing.get((pid, name))
        if row is None:
            inserts.append({"project_id": pid, "name": name, "updated_at": now, **values})
            if key not in plan.new_projects:
                log.note(pid, f"milestone:{name}", "milestone", None, values["due_date"])
        elif any(getattr(row, k) != v for k, v in values.items()):
            updates.append({"row_id": row.id, "updated_at": now, **values})
            log.note(pid, f"milestone:{name}", "due", row.due_date, values["due_date"])
    gone = [r for k, r in existing.items() if k not in keep]
    for row in gone:
        log.note(row.project_id, f"milestone:{row.name}", "milestone", row.due_date, None)
    if gone:
        conn.execute(delete(table).where(table.c.id.in_([r.id for r in gone])))
    if inserts:
        conn.execute(insert(table), inserts)
    update_by_id(conn, table, updates)
    made = {
        (r.project_id, r.name): r.id
        for r in conn.execute(
            select(table.c.id, table.c.project_id, table.c.name).where(
                table.c.project_id.in_(ids), table.c.origin == "tool"
            )
        )
    }
    for (key, name), rows in wanted.items():
        mid = made.get((plan.project_ids[key], name))
        if mid is not None:
            claim.update((r.id, mid) for r in rows)
    links.tool_milestones = len(made)


def _latest(rows: list[Any]) -> date | None:
    days = [r.due_date for r in rows if r.due_date is not None]
    return max(days) if days else None


def _tool_dates(
    conn: Connection,
    plan: AppliedPlan,
    tool_rows: Sequence[Any],
    claim: dict[int, int],
    log: ChangeLog,
) -> None:
    """Set each milestone's ``tool_due_date``: the latest date its tool milestones carry."""
    fed: dict[int, list[Any]] = defaultdict(list)
    for row in tool_rows:
        if row.id in claim:
            fed[claim[row.id]].append(row)
    table = model.table_of(model.Milestone)
    ids = list(plan.project_ids.values())
    updates = []
    for row in conn.execute(
        select(
            table.c.id,
            table.c.project_id,
            table.c.name,
            table.c.origin,
            table.c.tool_due_date,
        ).where(table.c.project_id.in_(ids))
    ):
        latest = _latest(fed.get(row.id, []))
        if latest == row.tool_due_date:
            continue
        updates.append({"row_id": row.id, "tool_due_date": latest})
        if row.origin == "plan" and row.tool_due_date is not None:
            log.note(row.project_id, f"milestone:{row.name}", "tool_due", row.tool_due_date, latest)
    update_by_id(conn, table, updates)
