"""Work items → milestones, project and deliverable, in a few set-based statements.

Which milestones an item is in (``milestone_item``, any number):

* the tool milestones it carries (Jira fix versions, its GitHub milestone),
  through the unified milestone that claims them;
* ``label`` selectors (the label, in any source) and ``epic`` selectors (the
  epic's children, and their sub-tasks);
* ``jql`` selectors, evaluated over the items of the selector's source.

Which project and deliverable it belongs to (``work_item.project_id`` and
``deliverable_id``, one each): the deliverable whose selectors claim it, the
most specific first (see ``pmsync.plan.selectors``); failing that, the project
of a milestone it is in; failing that, the project whose Jira project or
repository it lives in. Ties between projects go to the first project key.

Every statement here works on all items at once: the selectors go into an
indexed scratch table, each statement reads the items once and probes it (a
plain join would let SQLite's planner scan the items once per selector), the
desired links are built in scratch tables, and only the differences are
written, so a refresh that finds nothing new writes nothing. A candidate's
priority names one (project, deliverable), so the best one is a ``MIN``.

Only the items that may have moved are placed again. Where an item goes
depends on its own row and on the rest of the plan: the selectors, the JQL,
the projects' containers, which unified milestone claims each tool
milestone, and each milestone's project. That rest is summed up in a
*fingerprint* (kept in ``plan_state``); each item says whether it was placed
since it was written (``work_item.link_state``), which the record upsert and
deletion reset to NULL. When the fingerprint is the one of the last refresh,
the items placed again are the unplaced ones (a partial index finds them),
the sub-tasks of those (their epic comes through their parent), and the
sub-tasks placed with a parent that is now missing (a parent whose key
changed leaves them behind; the state says whether the parent was there);
otherwise every item is, and only the states that change are written.
Either way the links come out as placing every item would make them
(``tests/test_plan_linking.py`` checks it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    String,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    true,
    update,
)

from pmsync import model
from pmsync.config import Config
from pmsync.plan.apply import AppliedPlan
from pmsync.plan.milestones import MilestoneLinks
from pmsync.plan.selectors import JqlSelector, compile_jql, jql_selectors, selector_rows
from pmsync.plan.sql import Scratch, elements, on_true
from pmsync.upsert import upsert_rows

MILESTONE_PRIORITY = 1_000_000_000
"""Candidates from milestones rank after every deliverable selector."""
CONTAINER_PRIORITY = 2_000_000_000
"""Candidates from the Jira project or repository rank last."""
LINKING_VERSION = "1"
"""Part of the fingerprint: a pmsync that places items differently places them all again."""
FINGERPRINT = "link_fingerprint"
"""The ``plan_state`` name of the last refresh's fingerprint."""


@dataclass(frozen=True, slots=True)
class ItemLinks:
    """What linking items changed."""

    milestone_links_added: int
    milestone_links_removed: int
    items_relinked: int
    items_in_projects: int
    items_placed: int = 0
    """Items placed again: every item when the fingerprint changed, else the unplaced ones."""
    milestones_touched: frozenset[int] | None = None
    """Milestones that held or now hold a placed item: the only ones whose scope can have
    changed. None: any may have (every item was placed, or too many milestones to list)."""
    placed_ids: frozenset[int] | None = None
    """The items placed (None: every item, or more than ``PLACED_LIMIT``): links from
    commits and pull requests can only have moved to or from these."""


def link_items(
    conn: Connection,
    config: Config,
    plan: AppliedPlan,
    milestones: MilestoneLinks,
    now: datetime,
    *,
    everything: bool = False,
) -> ItemLinks:
    """Link the work items that may have moved to their milestones, project and deliverable.

    With ``everything``, every item is placed again whatever the fingerprint says.
    """
    scratch = Scratch(conn)
    try:
        return _link(conn, scratch, config, plan, milestones, now, everything)
    finally:
        scratch.close()


def fingerprint(
    conn: Connection,
    config: Config,
    plan: AppliedPlan,
    milestones: MilestoneLinks,
    selectors: list[dict[str, Any]],
    jqls: list[JqlSelector],
    sources: dict[str, int],
) -> str:
    """Return a digest of everything besides an item's own row that decides its links."""
    sm = model.table_of(model.SourceMilestone)
    ms = model.table_of(model.Milestone)
    claims = conn.execute(
        select(sm.c.id, sm.c.source_id, sm.c.external_id, sm.c.name, sm.c.milestone_id)
        .where(sm.c.deleted_at.is_(None))
        .order_by(sm.c.id)
    ).all()
    owners = conn.execute(select(ms.c.id, ms.c.project_id).order_by(ms.c.id)).all()
    configured = sorted((name, source.type) for name, source in config.sources.items())
    parts = {
        "version": LINKING_VERSION,
        "selectors": selectors,
        "jql": [(j.milestone_id, j.source, j.query) for j in jqls],
        "projects": sorted(plan.project_ids.items()),
        "containers": sorted(
            (key, sorted(owned, key=repr)) for key, owned in milestones.containers.items()
        ),
        "claims": [tuple(r) for r in claims],
        "owners": [tuple(r) for r in owners],
        "sources": sorted(sources.items()),
        "configured": configured,
    }
    text = json.dumps(parts, sort_keys=True, default=repr, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


UNLINKED_INDEX = "ix_work_item_unlinked"
"""The partial index of the work items no refresh has placed since they were written."""
WITH_PARENT = "p"
"""``link_state`` of an item placed while its parent was in the store."""
WITHOUT_PARENT = "-"
"""``link_state`` of an item placed without a parent in the store (or without one at all)."""


def _parent_present(item: Any) -> Any:
    """Return whether ``item``'s parent (by key, in its source) is a live work item."""
    parent = model.table_of(model.WorkItem).alias("its_parent")
    return exists(
        select(literal(1)).where(
            parent.c.source_id == item.c.source_id,
            parent.c.key == item.c.parent_key,
            parent.c.deleted_at.is_(None),
        )
    )


def _state(wi: Any) -> Any:
    """Return the ``link_state`` an item gets when placed now.

    An item placed without its parent (an epic in a project pmsync does not
    sync) stays as it is until it or the plan changes; one placed with its
    parent is placed again once the parent is gone (deleted, or renumbered by a
    move while the item still names the old key).
    """
    return case(
        (and_(wi.c.parent_key.isnot(None), _parent_present(wi)), literal(WITH_PARENT)),
        else_=literal(WITHOUT_PARENT),
    )


def _place(conn: Connection, scratch: Scratch, wi: Any, everything: bool) -> _Placing:
    """Choose the items to place again and hold the ones to mark placed.

    ``everything``: every item is placed (no scope table), and only the items
    whose state changes are held and marked (found from the index on
    ``(source_id, parent_key, link_state)``, not from the rows). Otherwise the
    unplaced items, the sub-tasks of those, and the items placed with a
    parent that is gone, all of them held.

    Held first, in this transaction, and marked placed at its end together
    with their project and deliverable (``_write_best``, ``_mark_placed``), so
    that a refresh writes each item once: a sync that rewrites one of them
    meanwhile waits, resets its state, and the next refresh places it again.
    PostgreSQL holds them by row locks (``FOR NO KEY UPDATE``, which leaves
    the rows as they are); SQLite's refresh holds the whole database from its
    ``BEGIN IMMEDIATE`` (``pmsync.store``). Only held items are marked: an
    item that is not held may be rewritten by a sync meanwhile, and keeps the
    state that sync gave it. Marking them first instead rewrote every placed
    item twice, a new version of a 2 KB row each time on PostgreSQL
    (docs/benchmarks.md, section 1).
    """
    if everything:
        held = scratch.table("pmsync_held", Column("work_item_id", Integer, primary_key=True))
        other = wi.alias("other_item")
        stale = select(other.c.id).where(other.c.link_state.is_distinct_from(_state(other)))
        conn.execute(insert(held).from_select(["work_item_id"], stale))
        scratch.filled(held)
        _hold(conn, wi, wi.c.id.in_(select(held.c.work_item_id)))
        return _Placing(None, held, int(conn.scalar(select(func.count()).select_from(wi)) or 0))
    scope = scratch.table("pmsync_scope", Column("work_item_id", Integer, primary_key=True))
    placed = select(scope.c.work_item_id)
    if conn.dialect.name == "sqlite":
        # Without statistics SQLite would rather scan the wider index that holds the state.
        conn.exec_driver_sql(
            f"INSERT INTO {scope.name} (work_item_id) SELECT id FROM {wi.name}"
            f" INDEXED BY {UNLINKED_INDEX} WHERE link_state IS NULL"
        )
    else:
        conn.execute(
            insert(scope).from_select(
                ["work_item_id"], select(wi.c.id).where(wi.c.link_state.is_(None))
            )
        )
    child, parent = wi.alias("child_item"), wi.alias("parent_item")
    conn.execute(
        insert(scope).from_select(
            ["work_item_id"],
            select(child.c.id)
            .distinct()
            .select_from(parent)
            .join(
                child,
                and_(child.c.source_id == parent.c.source_id, child.c.parent_key == parent.c.key),
            )
            .where(parent.c.id.in_(placed), child.c.id.notin_(placed)),
        )
    )
    conn.execute(
        insert(scope).from_select(
            ["work_item_id"],
            # from the index on (source_id, parent_key, link_state) alone
            select(wi.c.id).where(
                wi.c.link_state == WITH_PARENT, ~_parent_present(wi), wi.c.id.notin_(placed)
            ),
        )
    )
    scratch.filled(scope)
    count = int(conn.scalar(select(func.count()).select_from(scope)) or 0)
    if count:
        _hold(conn, wi, wi.c.id.in_(placed))
    return _Placing(scope, scope, count)


@dataclass(frozen=True, slots=True)
class _Placing:
    """The items a refresh places and the ones it holds (see ``_place``)."""

    scope: Any | None
    """Scratch table of the ids of the items placed; None: every item."""
    held: Any
    """Scratch table of the ids of the items held, to be marked placed."""
    count: int
    """How many items are placed."""


def _hold(conn: Connection, wi: Any, which: Any) -> None:
    """PostgreSQL: lock the items ``which`` selects until the refresh commits (see ``_place``)."""
    if conn.dialect.name != "postgresql":
        return  # SQLite: the refresh's BEGIN IMMEDIATE holds the database already
    held = select(wi.c.id).where(which).with_for_update(key_share=True, of=wi).subquery()
    conn.execute(select(func.count()).select_from(held))  # the ids stay in the server


def _mark_placed(conn: Connection, wi: Any, held: Any) -> None:
    """Give the held items whose state is not the one placing gives them that state.

    Items whose project or deliverable moved got it with their placement
    (``_write_best``); this writes the rest, each once (see ``_place``).
    """
    conn.execute(
        update(wi)
        .where(
            wi.c.id.in_(select(held.c.work_item_id)),
            wi.c.link_state.is_distinct_from(_state(wi)),
        )
        .values(link_state=_state(wi))
    )


def _link(
    conn: Connection,
    scratch: Scratch,
    config: Config,
    plan: AppliedPlan,
    milestones: MilestoneLinks,
    now: datetime,
    everything: bool,
) -> ItemLinks:
    wi = model.table_of(model.WorkItem)
    sm = model.table_of(model.SourceMilestone)
    ms = model.table_of(model.Milestone)
    rows = selector_rows(config, plan)
    jqls = jql_selectors(config, plan)
    sources: dict[str, int] = dict(conn.execute(select(model.Source.name, model.Source.id)).all())
    current = fingerprint(conn, config, plan, milestones, rows, jqls, sources)
    state = model.table_of(model.PlanState)
    last = conn.scalar(select(state.c.value).where(state.c.name == FINGERPRINT))
    everything = everything or last != current
    chosen = _place(conn, scratch, wi, everything)
    scope, placing = chosen.scope, chosen.count
    if last != current:
        remembered = {"name": FINGERPRINT, "value": current, "updated_at": now}
        upsert_rows(conn, state, [remembered], ["name"], ["value", "updated_at"])
    if not placing:  # nothing to place; after a plan change every scope is still measured
        nothing = None if everything else frozenset[int]()
        return ItemLinks(0, 0, 0, _in_projects(conn, wi), 0, nothing, nothing)
    placed_ids: frozenset[int] | None = None
    if scope is not None and placing <= PLACED_LIMIT:
        placed_ids = frozenset(conn.scalars(select(scope.c.work_item_id)))
    placed = true() if scope is None else wi.c.id.in_(select(scope.c.work_item_id))
    sel = scratch.table(
        "pmsync_selector",
        Column("target_kind", String(1)),
        Column("target_id", Integer),
        Column("project_id", Integer),
        Column("kind", String(16)),
        Column("value", String),
        Column("priority", Integer),
        index=("kind", "value"),
    )
    deliverable_rows = [r for r in rows if r["target_kind"] == "d"]
    scratch.fill(sel, rows)
    want = scratch.table(
        "pmsync_want",
        Column("milestone_id", Integer),
        Column("work_item_id", Integer),
        index=("milestone_id", "work_item_id"),
        index_when_filled=True,
    )
    live = and_(wi.c.deleted_at.is_(None), placed)

    # 1. milestones: tool milestones the item carries
    held = elements(conn, wi.c.milestones)
    if conn.dialect.name == "postgresql":
        # A hash join on (source, milestone id). Materialised first: with stale statistics
        # the planner would otherwise join on the source alone, every item x every milestone.
        expanded = (
            select(wi.c.id, wi.c.source_id, held.c.value)
            .select_from(wi)
            .join(held, on_true())
            .where(live)
            .cte("pmsync_held")
            .prefix_with("MATERIALIZED")
        )
        carried = (
            select(sm.c.milestone_id, expanded.c.id)
            .select_from(expanded)
            .join(
                sm,
                and_(sm.c.source_id == expanded.c.source_id, sm.c.external_id == expanded.c.value),
            )
            .where(sm.c.deleted_at.is_(None), sm.c.milestone_id.isnot(None))
        )
    else:  # one index lookup per element: SQLite would scan the items per tool milestone
        claimed = (
            select(sm.c.milestone_id)
            .where(
                sm.c.source_id == wi.c.source_id,
                sm.c.external_id == held.c.value,
                sm.c.deleted_at.is_(None),
            )
            .scalar_subquery()
        )
        pairs = (
            select(claimed.label("milestone_id"), wi.c.id.label("work_item_id"))
            .select_from(wi)
            .join(held, on_true())
            .where(live)
            .subquery()
        )
        carried = select(pairs.c.milestone_id, pairs.c.work_item_id).where(
            pairs.c.milestone_id.isnot(None)
        )
    conn.execute(insert(want).from_select(["milestone_id", "work_item_id"], carried))
    # 2. milestones and deliverables: labels, components, epics, repositories
    hits = scratch.table(
        "pmsync_hit",
        Column("work_item_id", Integer),
        Column("kind", String(16)),
        Column("value", String),
        index=("kind", "value"),
        index_when_filled=True,
    )
    for query in _selector_hits(conn, wi, sel, placed):
        conn.execute(insert(hits).from_select(["work_item_id", "kind", "value"], query))
    scratch.filled(hits)
    matched = and_(sel.c.kind == hits.c.kind, sel.c.value == hits.c.value)
    conn.execute(
        insert(want).from_select(
            ["milestone_id", "work_item_id"],
            select(sel.c.target_id, hits.c.work_item_id)
            .select_from(hits)
            .join(sel, matched)
            .where(sel.c.target_kind == "m"),
        )
    )
    cand = scratch.table(
        "pmsync_candidate", Column("work_item_id", Integer), Column("priority", Integer)
    )
    conn.execute(
        insert(cand).from_select(
            ["work_item_id", "priority"],
            select(hits.c.work_item_id, sel.c.priority)
            .select_from(hits)
            .join(sel, matched)
            .where(sel.c.target_kind == "d"),
        )
    )
    # 3. milestones: JQL, one statement per selector
    for jql in jqls:
        sid = sources.get(jql.source)
        if sid is None:
            continue
        conn.execute(
            insert(want).from_select(
                ["milestone_id", "work_item_id"],
                select(literal(jql.milestone_id), wi.c.id).where(
                    wi.c.source_id == sid, live, compile_jql(conn, jql.node, wi, sm)
                ),
            )
        )
    scratch.filled(want)
    touched = _touched(conn, want, scope)
    removed, added = _write_memberships(conn, want, scope)

    # 4. project candidates from milestones and containers, then the best per item
    rank = {pid: n for n, (_, pid) in enumerate(sorted(plan.project_ids.items()))}
    ranks = scratch.table(
        "pmsync_priority",
        Column("priority", Integer, primary_key=True),
        Column("project_id", Integer),
        Column("deliverable_id", Integer),
    )
    named = {r["priority"]: (r["project_id"], r["target_id"]) for r in deliverable_rows}
    for base in (MILESTONE_PRIORITY, CONTAINER_PRIORITY):
        named.update({base + n: (pid, None) for pid, n in rank.items()})
    scratch.fill(
        ranks,
        [{"priority": k, "project_id": p, "deliverable_id": d} for k, (p, d) in named.items()],
    )
    conn.execute(
        insert(cand).from_select(
            ["work_item_id", "priority"],
            select(want.c.work_item_id, ranks.c.priority)
            .select_from(want)
            .join(ms, ms.c.id == want.c.milestone_id)
            .join(
                ranks,
                and_(
                    ranks.c.project_id == ms.c.project_id,
                    ranks.c.priority >= MILESTONE_PRIORITY,
                    ranks.c.priority < CONTAINER_PRIORITY,
                ),
            ),
        )
    )
    cont = scratch.table(
        "pmsync_container",
        Column("source_id", Integer),
        Column("container", String),
        Column("priority", Integer),
        index=("container",),
    )
    scratch.fill(
        cont,
        [
            {"source_id": s, "container": c, "priority": CONTAINER_PRIORITY + rank[pid]}
            for k, owned in milestones.containers.items()
            for pid in [plan.project_ids[k]]
            for s, c in owned
        ],
    )
    conn.execute(
        insert(cand).from_select(
            ["work_item_id", "priority"],
            select(wi.c.id, cont.c.priority)
            .select_from(wi)
            .join(cont, func.lower(wi.c.container) == cont.c.container)
            .where(live, func.coalesce(cont.c.source_id, wi.c.source_id) == wi.c.source_id),
        )
    )
    scratch.filled(cand)
    relinked = _write_best(conn, scratch, wi, cand, ranks, placed, chosen.held)
    _mark_placed(conn, wi, chosen.held)
    in_projects = _in_projects(conn, wi)
    return ItemLinks(added, removed, relinked, in_projects, placing, touched, placed_ids)


TOUCHED_LIMIT = 1_000
"""Past this many milestones touched, every milestone's scope is measured again."""
PLACED_LIMIT = 50_000
"""Past this many items placed, every link from a commit or pull request is resolved again."""


def _touched(conn: Connection, want: Any, scope: Any | None) -> frozenset[int] | None:
    """Return the milestones that hold a placed item or will (None: every one may)."""
    if scope is None:
        return None
    mi = model.table_of(model.MilestoneItem)
    held = select(mi.c.milestone_id).where(mi.c.work_item_id.in_(select(scope.c.work_item_id)))
    found: set[int] = set(conn.scalars(held.union(select(want.c.milestone_id))))
    return frozenset(found) if len(found) <= TOUCHED_LIMIT else None


def _in_projects(conn: Connection, wi: Any) -> int:
    live = wi.c.deleted_at.is_(None)
    count = conn.scalar(
        select(func.count()).select_from(wi).where(live, wi.c.project_id.isnot(None))
    )
    return int(count or 0)


def _selector_hits(conn: Connection, wi: Any, sel: Any, placed: Any) -> list[Any]:
    """Return SELECTs of (item id, kind, value) for item values some selector names.

    Each reads ``work_item`` once and probes the selector table by its index, so
    the cost is one pass over the items whatever the number of selectors (a plain
    join lets SQLite's planner scan the items once per selector instead).
    """
    live = and_(wi.c.deleted_at.is_(None), placed)

    def named(kind: str, value: Any) -> Any:
        return exists(select(literal(1)).where(sel.c.kind == kind, sel.c.value == value))

    queries = []
    for kind, column in (("label", wi.c.labels), ("component", wi.c.components)):
        rows = elements(conn, column)
        queries.append(
            select(wi.c.id, literal(kind), rows.c.value)
            .select_from(wi)
            .join(rows, on_true())
            .where(live, named(kind, rows.c.value))
        )
    for column in (wi.c.epic_key, wi.c.parent_key):
        queries.append(
            select(wi.c.id, literal("epic"), column).where(
                live, column.isnot(None), named("epic", column)
            )
        )
    parent = wi.alias("parent_item")
    queries.append(  # sub-tasks: their parent is the epic's child
        select(wi.c.id, literal("epic"), parent.c.epic_key)
        .select_from(wi)
        .join(parent, and_(parent.c.source_id == wi.c.source_id, parent.c.key == wi.c.parent_key))
        .where(
            live,
            wi.c.parent_key.isnot(None),
            parent.c.deleted_at.is_(None),
            named("epic", parent.c.epic_key),
        )
    )
    repository = func.lower(wi.c.container)
    queries.append(
        select(wi.c.id, literal("repository"), repository).where(
            live, named("repository", repository)
        )
    )
    return queries


def _write_memberships(conn: Connection, want: Any, scope: Any | None) -> tuple[int, int]:
    """Make the placed items' ``milestone_item`` rows the wanted pairs; return (removed, added)."""
    mi = model.table_of(model.MilestoneItem)
    wanted = exists(
        select(literal(1)).where(
            want.c.milestone_id == mi.c.milestone_id, want.c.work_item_id == mi.c.work_item_id
        )
    )
    placed = true() if scope is None else mi.c.work_item_id.in_(select(scope.c.work_item_id))
    removed = conn.execute(delete(mi).where(placed, ~wanted)).rowcount
    present = exists(
        select(literal(1)).where(
            mi.c.milestone_id == want.c.milestone_id, mi.c.work_item_id == want.c.work_item_id
        )
    )
    missing = select(want.c.milestone_id, want.c.work_item_id).where(~present).distinct()
    # The row count, not RETURNING: a first refresh after a full sync adds a row per
    # item, and RETURNING them all held them in Python (4.7 MB at 100k items, a 25 MB
    # step in RSS at 1M; docs/benchmarks.md, section 4).
    # SQLAlchemy reads an INSERT's row count only when told to (preserve_rowcount).
    added = conn.execute(
        insert(mi)
        .from_select(["milestone_id", "work_item_id"], missing)
        .execution_options(preserve_rowcount=True)
    ).rowcount
    return int(removed or 0), int(added or 0)


def _write_best(
    conn: Connection, scratch: Scratch, wi: Any, cand: Any, ranks: Any, placed: Any, held: Any
) -> int:
    """Give each item its best candidate's project and deliverable; return rows changed.

    A priority names one (project, deliverable) (see ``ranks``), so the best
    candidate is a plain ``MIN`` per item: one grouping, no window over every row.
    A held item that moves is marked placed in the same write (see ``_place``).
    """
    state = case((wi.c.id.in_(select(held.c.work_item_id)), _state(wi)), else_=wi.c.link_state)
    best = scratch.table(
        "pmsync_best",
        Column("work_item_id", Integer, primary_key=True),
        Column("project_id", Integer),
        Column("deliverable_id", Integer),
    )
    lowest = (
        select(cand.c.work_item_id, func.min(cand.c.priority).label("priority"))
        .group_by(cand.c.work_item_id)
        .subquery()
    )
    conn.execute(
        insert(best).from_select(
            ["work_item_id", "project_id", "deliverable_id"],
            select(lowest.c.work_item_id, ranks.c.project_id, ranks.c.deliverable_id)
            .select_from(lowest)
            .join(ranks, ranks.c.priority == lowest.c.priority),
        )
    )
    changed = conn.execute(
        update(wi)
        .where(
            wi.c.id == best.c.work_item_id,
            (wi.c.project_id.is_distinct_from(best.c.project_id))
            | (wi.c.deliverable_id.is_distinct_from(best.c.deliverable_id)),
        )
        .values(
            project_id=best.c.project_id,
            deliverable_id=best.c.deliverable_id,
            link_state=state,
        )
    ).rowcount
    claimed = exists(select(literal(1)).where(best.c.work_item_id == wi.c.id))
    cleared = conn.execute(
        update(wi)
        .where(placed, (wi.c.project_id.isnot(None)) | (wi.c.deliverable_id.isnot(None)), ~claimed)
        .values(project_id=None, deliverable_id=None, link_state=state)
    ).rowcount
    return int(changed or 0) + int(cleared or 0)
