"""``refresh_plan``: after each sync, make the plan tables agree with config and records.

One entry point for the daemon and the CLI. In one transaction it:

1. applies the project files (projects, milestones, the WBS, the cost sheets);
2. gathers tool milestones under the unified milestones, creating the ones
   only the tools know, and sets the tools' dates;
3. links every work item to its milestones, project and deliverable;
4. measures each milestone's scope (items, points);
5. links commits and pull requests to the work items they name (their texts
   read and scanned in a thread while 3 runs: ``mentions.scan_beside``);
6. refreshes the risk register;
7. writes the plan changes it saw (dates, budgets, deliverable plans, scope).

It is idempotent (a second run with nothing new writes nothing and reports
no change) and set-based: a fixed number of statements per table, whatever
the number of items. Replicas on PostgreSQL take turns (an advisory lock), as
SQLite writers already do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, text

from pmsync import model
from pmsync.config import Config
from pmsync.plan.apply import apply_config, update_by_id
from pmsync.plan.changes import ChangeLog
from pmsync.plan.linking import ItemLinks, link_items
from pmsync.plan.mentions import ScanBatch, link_mentions, scan_beside
from pmsync.plan.milestones import link_milestones
from pmsync.plan.progress import milestone_scope
from pmsync.plan.risks import sync_risks
from pmsync.store import ANALYSE_AFTER_ROWS, Store

_PG_REFRESH_LOCK = 0x706D706C  # "pmpl", with the schema: SQLite writers already take turns


@dataclass(frozen=True)
class PlanRefresh:
    """What one refresh found and changed (zeros everywhere: nothing new)."""

    projects: int
    milestones: int
    """Unified milestones of the configured projects, tool-only ones included."""
    tool_milestones: int
    deliverables: int
    items_in_projects: int
    items_placed: int
    """Work items placed again: every one when the plan around them changed, else the
    ones the sync wrote since the last refresh (and sub-tasks that follow them)."""
    items_relinked: int
    milestone_links_added: int
    milestone_links_removed: int
    records_scanned: int
    """Commits and pull requests read for work item keys (new or changed ones only)."""
    mention_links_written: int
    """Links of those records to the keys they name, written pointing at the live
    work item each key names (or at none, not synced yet)."""
    mention_links_resolved: int
    """Links written before that now point at another item, or at none: the item
    their key names came, moved or went."""
    cost_entries_changed: int
    risks_changed: int
    scope_changed: int
    """Milestones whose scope (items or points) changed."""
    plan_changes: int
    """Plan changes recorded by this refresh."""
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changed(self) -> bool:
        """Tell whether the refresh wrote anything."""
        return any(
            (
                self.items_relinked,
                self.milestone_links_added,
                self.milestone_links_removed,
                self.mention_links_written,
                self.mention_links_resolved,
                self.cost_entries_changed,
                self.risks_changed,
                self.scope_changed,
                self.plan_changes,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-ready values."""
        data = asdict(self)
        data["warnings"] = list(self.warnings)
        data["changed"] = self.changed
        return data


def refresh_plan(
    store: Store,
    config: Config,
    now: Callable[[], datetime] | None = None,
    *,
    relink: bool = False,
) -> PlanRefresh:
    """Apply the plan, link what may have moved, record plan changes; idempotent, set-based.

    Work items are placed again when they changed since they were last placed,
    or all of them when the plan around them changed (``pmsync.plan.linking``);
    ``relink`` places every item again whatever changed.
    """
    clock = now or store.now
    moment = clock()
    log = ChangeLog()
    with store.transaction() as conn:
        if conn.dialect.name == "postgresql":  # replicas refresh one schema at a time
            conn.execute(
                text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))"),
                {"k": _PG_REFRESH_LOCK},
            )
            # Grouping a few million candidates spills to disk with the default 4 MB.
            conn.execute(text("SET LOCAL work_mem = '128MB'"))
        with _scan_beside(store, conn, config) as scanned:
            plan = apply_config(conn, config, moment, log)
            milestones = link_milestones(conn, config, plan, moment, log)
            items = link_items(conn, config, plan, milestones, moment, everything=relink)
            scope_changed = _record_scope(
                conn, plan.project_ids, plan.new_projects, log, items.milestones_touched
            )
            mentions = link_mentions(conn, config, items.placed_ids, scanned)
        risks = sync_risks(conn, config, plan, moment)
        recorded = log.write(conn, moment)
        table = model.table_of(model.Milestone)
        milestone_count = len(
            conn.execute(
                select(table.c.id).where(table.c.project_id.in_(list(plan.project_ids.values())))
            ).all()
        )
    _analyse_relinked(store, items)
    return PlanRefresh(
        projects=len(plan.project_ids),
        milestones=milestone_count,
        tool_milestones=milestones.tool_milestones,
        deliverables=len(plan.deliverable_ids),
        items_in_projects=items.items_in_projects,
        items_placed=items.items_placed,
        items_relinked=items.items_relinked,
        milestone_links_added=items.milestone_links_added,
        milestone_links_removed=items.milestone_links_removed,
        records_scanned=mentions.records_scanned,
        mention_links_written=mentions.links_written,
        mention_links_resolved=mentions.links_resolved,
        cost_entries_changed=plan.cost_entries_changed,
        risks_changed=risks,
        scope_changed=scope_changed,
        plan_changes=recorded,
        warnings=tuple(plan.warnings + milestones.warnings),
    )


@contextmanager
def _scan_beside(
    store: Store, conn: Connection, config: Config
) -> Iterator[Iterable[ScanBatch] | None]:
    """Scan commits and pull requests in a thread (``mentions.scan_beside``), or None
    to scan them on ``conn``: SQLite not in WAL mode (an in-memory store, whose
    database no other connection sees, or a file system without WAL), where the
    thread's open read would hold off the refresh's own writes."""
    if (
        conn.dialect.name == "sqlite"
        and conn.exec_driver_sql("PRAGMA journal_mode").scalar() != "wal"
    ):
        yield None
        return
    with scan_beside(store.engine, config) as scan:
        yield scan


ANALYSE_SHARE = 0.1
"""PostgreSQL: the share of the projects' items a refresh must relink or move between
milestones before it takes the links' statistics (autovacuum's own default share)."""


def _analyse_relinked(store: Store, items: ItemLinks) -> None:
    """PostgreSQL: take the statistics of the item links after a refresh changed many.

    The reads of a portfolio are planned from what PostgreSQL knows of
    ``work_item.project_id`` and ``milestone_item``, which a first refresh sets
    for every item. Autovacuum (on by default) analyses them soon after; on a
    server without it the planner took the million items of the burn-ups'
    fix-version read for 476 and probed the change table a million times, 2.4 s
    instead of 0.2 (docs/benchmarks.md, section 6). Only the columns those
    reads filter on are analysed, as the store does for the sync's lookups.
    """
    if store.engine.dialect.name != "postgresql":
        return
    changed = items.items_relinked + items.milestone_links_added + items.milestone_links_removed
    if changed < max(ANALYSE_AFTER_ROWS, ANALYSE_SHARE * items.items_in_projects):
        return
    with store.engine.connect() as conn:
        conn.exec_driver_sql(
            "ANALYZE work_item (project_id, deliverable_id, deleted_at, item_type, is_pull_request)"
        )
        conn.exec_driver_sql("ANALYZE milestone_item")
        conn.commit()


def _record_scope(
    conn: Any,
    project_ids: dict[str, int],
    new_projects: set[str],
    log: ChangeLog,
    touched: frozenset[int] | None,
) -> int:
    """Store the scope of the ``touched`` milestones (None: every one); log a change
    where a known scope moved."""
    if touched is not None and not touched:
        return 0
    table = model.table_of(model.Milestone)
    scope = milestone_scope(conn, touched)
    key_of = {v: k for k, v in project_ids.items()}
    updates = []
    query = select(
        table.c.id, table.c.project_id, table.c.name, table.c.scope_items, table.c.scope_points
    ).where(table.c.project_id.in_(list(project_ids.values())))
    if touched is not None:
        query = query.where(table.c.id.in_(sorted(touched)))
    rows = conn.execute(query)
    for row in rows:
        items, points = scope.get(row.id, (0, 0.0))
        if (row.scope_items, row.scope_points) == (items, points):
            continue
        updates.append({"row_id": row.id, "scope_items": items, "scope_points": points})
        if row.scope_items is not None and key_of[row.project_id] not in new_projects:
            subject = f"milestone:{row.name}"
            log.note(row.project_id, subject, "scope_items", row.scope_items, items)
            log.note(row.project_id, subject, "scope_points", row.scope_points, points)
    update_by_id(conn, table, updates)
    return len(updates)
