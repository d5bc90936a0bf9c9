"""Open work items as the item rules see them: blocked, ageing, unassigned, unestimated.

A few queries for the whole portfolio, whatever its size: the open scope items
(status category after the status maps, assignee resolved to a person), their
milestone memberships, and the status history of the open items whose age
reads it (``_ages_read``). A PM
recognises a *blocked* item by its status (``Blocked``, ``On hold: blocked``),
a ``blocked`` label or Jira's flag (the ``flagged`` field); it has been blocked
since it entered that status (for a label or a flag, which keep no history,
since the item last changed). An item's *age in progress* runs from the moment
its current stretch of work began: the last status change from a to-do or done
status into a status of work in progress.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

import numpy as np
from sqlalchemy import ColumnElement, Connection, Text, and_, func, or_, select, type_coerce

from pmsync import model
from pmsync.config import Config
from pmsync.plan.frames import MEMBERSHIP, category_of, counts_as_scope, epoch_seconds
from pmsync.plan.sql import fetch_array, fetch_tuples, in_projects, most_projects
from pmsync.rules.facts import ItemFact, pickled_by_fields
from pmsync.upsert import chunked

BLOCKED_WORDS = ("blocked", "impediment", "on hold")
_BLOCKED_STATUS = re.compile("|".join(map(re.escape, BLOCKED_WORDS)))
DONE_NAMES = frozenset(
    {"done", "closed", "resolved", "released", "complete", "completed", "cancelled", "canceled"}
)
TODO_NAMES = frozenset({"to do", "todo", "open", "new", "backlog", "reopened", "selected"})


@dataclass(frozen=True, slots=True)
class OpenItem:
    """One open scope item, with what the item rules need to know about it."""

    id: int
    project_id: int
    fact: ItemFact
    in_progress: bool
    blocked: bool
    estimated: bool
    """It has a value in the project's progress measure (points or an estimate)."""
    has_points: bool
    updated_at: int
    """Seconds since 1970 (UTC), as the store's epoch arithmetic gives them."""
    created_at: int
    blocked_days: int = 0
    progress_days: int = 0

    def as_blocked(self) -> ItemFact:
        """Return the item with ``days`` counting the days it has been blocked."""
        return replace(self.fact, days=self.blocked_days)

    def as_in_progress(self) -> ItemFact:
        """Return the item with ``days`` counting the days it has been in progress."""
        return replace(self.fact, days=self.progress_days)

    def __reduce__(self) -> tuple[type[OpenItem], tuple[object, ...]]:
        return pickled_by_fields(self)  # read beside a large analysis, these cross pickled


def is_blocked(status: str, labels: Any, custom: Any) -> bool:
    """Tell whether an item is blocked: its status, a ``blocked`` label or Jira's flag.

    ``labels`` and ``custom`` may be the stored JSON text, decoded here only when it
    can hold the label or the flag. Most items' cannot, and decoding both columns of
    every open item was a sixth of the rules' time at a million items.
    """
    if _BLOCKED_STATUS.search(status.lower()):
        return True
    labels, custom = _json_holding(labels, "blocked"), _json_holding(custom, "flagged")
    if isinstance(labels, list) and any(str(label).lower() == "blocked" for label in labels):
        return True
    return isinstance(custom, Mapping) and bool(custom.get("flagged"))


def _json_holding(value: Any, word: str) -> Any:
    """Return JSON text decoded if it contains ``word`` (any case), else None; others as is."""
    if not isinstance(value, str):
        return value
    return json.loads(value) if word in value.lower() else None


def load_open_items(
    conn: Connection, config: Config, project_ids: Mapping[str, int]
) -> dict[int, OpenItem]:
    """Return the open scope items of the projects, by work item id."""
    wi = model.table_of(model.WorkItem)
    ident, person = model.table_of(model.Identity), model.table_of(model.Person)
    source_ids = dict(conn.execute(select(model.Source.name, model.Source.id)).all())
    category = category_of(config, wi, project_ids, source_ids)
    query = (
        select(
            wi.c.id,
            wi.c.project_id,
            wi.c.key,
            wi.c.title,
            wi.c.url,
            wi.c.status,
            category.label("category"),
            wi.c.assignee_login,
            wi.c.story_points,
            wi.c.original_estimate_seconds,
            # as the stored text where the driver gives it (SQLite): is_blocked decodes it
            type_coerce(wi.c.labels, Text).label("labels"),
            type_coerce(wi.c.custom, Text).label("custom"),
            epoch_seconds(conn, wi.c.updated_at),
            epoch_seconds(conn, wi.c.created_at),
            person.c.name.label("person_name"),
        )
        .outerjoin(
            ident, and_(ident.c.source_id == wi.c.source_id, ident.c.login == wi.c.assignee_login)
        )
        .outerjoin(person, person.c.id == ident.c.person_id)
        .where(
            in_projects(
                wi.c.project_id,
                sorted(project_ids.values()),
                scan=most_projects(conn, len(project_ids)),
            ),
            wi.c.deleted_at.is_(None),
            counts_as_scope(wi),
            func.coalesce(category, "") != "done",  # open items only
        )
    )
    found: dict[int, OpenItem] = {}
    # The driver's tuples (a hundred thousand open items at portfolio scale): every
    # column is text or a number, so there is nothing for Row objects to convert.
    for (
        item_id,
        project_id,
        key,
        title,
        url,
        status,
        category_now,
        login,
        points,
        estimate,
        labels,
        custom,
        updated,
        created,
        name,
    ) in fetch_tuples(conn, query):
        found[item_id] = OpenItem(
            item_id,
            project_id,
            ItemFact(key, title, url, status, name or login),
            category_now == "in_progress",
            is_blocked(status, labels, custom),
            estimate is not None,
            points is not None,
            updated,
            created,
        )
    return found


def load_memberships(conn: Connection, items: Mapping[int, OpenItem]) -> dict[int, list[int]]:
    """Return the open items of each milestone: milestone id to work item ids."""
    mi, ms = model.table_of(model.MilestoneItem), model.table_of(model.Milestone)
    projects = sorted({item.project_id for item in items.values()})
    members: dict[int, list[int]] = defaultdict(list)
    # Every membership of the projects (a million at portfolio scale) straight into
    # numpy, and only the open items' ones, in the same order, on into Python.
    pairs = fetch_array(
        conn,
        select(mi.c.milestone_id, mi.c.work_item_id)
        .join(ms, ms.c.id == mi.c.milestone_id)
        .where(ms.c.project_id.in_(projects)),
        MEMBERSHIP,
    )
    wanted = pairs[np.isin(pairs["item"], np.fromiter(items, dtype=np.int64, count=len(items)))]
    for milestone_id, item_id in zip(
        wanted["milestone"].tolist(), wanted["item"].tolist(), strict=True
    ):
        members[milestone_id].append(item_id)
    return members


class StatusCategories:
    """The category of a raw status of the history, for the items of one source and project.

    In the order the metrics use: the project's status map, the source's, the
    category the tool gives the items in that status now (the most common one),
    and for a status no item is in any more, its name (``Done``, ``Closed`` are
    done, ``To Do``, ``Open`` are to do, anything else is work in progress).
    """

    def __init__(self, conn: Connection, config: Config) -> None:
        wi = model.table_of(model.WorkItem)
        names = dict(conn.execute(select(model.Source.id, model.Source.name)).all())
        keys = dict(conn.execute(select(model.Project.id, model.Project.key)).all())
        self.sources = {
            sid: {k.lower(): v for k, v in config.sources[n].options.status_map.items()}
            for sid, n in names.items()
            if n in config.sources
        }
        self.projects = {
            pid: {k.lower(): v for k, v in config.projects[k].status_map.items()}
            for pid, k in keys.items()
            if k in config.projects
        }
        columns = (wi.c.source_id, wi.c.status, wi.c.status_category)
        live = wi.c.deleted_at.is_(None)
        by_status: Iterable[tuple[tuple[int, str, str], int]]
        if conn.dialect.name == "sqlite":
            # SQLite groups by sorting every item (2.7 s at a million items); counting
            # the driver's own tuples here (no Row per item) takes a third of that.
            result = conn.execute(select(*columns).where(live))
            try:
                by_status = Counter(cast(Iterable[tuple[int, str, str]], result.cursor)).items()
            finally:
                result.close()
        else:
            grouped: Any = conn.execute(
                select(*columns, func.count()).where(live).group_by(*columns)
            )
            by_status = [((sid, raw, category), n) for sid, raw, category, n in grouped]
        # Folded here, as ``of`` folds: the databases' lower() may leave accented
        # capitals alone (SQLite's always does), and ``À PLANIFIER`` would miss.
        counted: Counter[tuple[int, str, str]] = Counter()
        for (sid, raw, category), n in by_status:
            counted[(sid, raw.lower(), category)] += n
        # the most common category of each status wins
        self.seen = {
            (sid, raw): category for (sid, raw, category), _ in counted.most_common()[::-1]
        }

    def of(self, raw: str | None, project_id: int, source_id: int) -> str | None:
        """Return the category of ``raw`` for an item of that project and source."""
        if raw is None:
            return None
        lowered = raw.lower()
        return (
            self.projects.get(project_id, {}).get(lowered)
            or self.sources.get(source_id, {}).get(lowered)
            or self.seen.get((source_id, lowered))
            or ("done" if lowered in DONE_NAMES else "todo" if lowered in TODO_NAMES else None)
            or "in_progress"
        )


@dataclass(frozen=True)
class ItemsRead:
    """What the rules read of the open items, before the clock: ``aged`` makes their days.

    ``started``: when each item last entered work in progress; ``blocked_at``:
    when it entered the status it is in (epoch seconds, for the items whose age
    reads their history). ``members``: the open items of each milestone.
    ``project_ids``: the projects read. Read beside a large analysis by a worker
    process (``pmsync.health.parallel``), and handed to the rules with it.
    """

    project_ids: frozenset[int]
    items: dict[int, OpenItem]
    started: dict[int, int]
    blocked_at: dict[int, int]
    members: dict[int, list[int]]

    def of_projects(self, project_ids: Collection[int]) -> ItemsRead:
        """Return the read of these projects only (all of them read here)."""
        wanted = frozenset(project_ids)
        if wanted == self.project_ids:
            return self
        items = {i: item for i, item in self.items.items() if item.project_id in wanted}
        members = {m: [i for i in ids if i in items] for m, ids in self.members.items()}
        return ItemsRead(
            wanted,
            items,
            {i: at for i, at in self.started.items() if i in items},
            {i: at for i, at in self.blocked_at.items() if i in items},
            {m: ids for m, ids in members.items() if ids},
        )


def read_open_items(conn: Connection, config: Config, project_ids: Mapping[str, int]) -> ItemsRead:
    """Read the open items of the projects, what their ages need, and their milestones."""
    items = load_open_items(conn, config, project_ids)
    started, blocked_at = _age_marks(conn, config, items)
    return ItemsRead(
        frozenset(project_ids.values()),
        items,
        started,
        blocked_at,
        load_memberships(conn, items),
    )


def _age_marks(
    conn: Connection, config: Config, items: dict[int, OpenItem]
) -> tuple[dict[int, int], dict[int, int]]:
    """Return when each aged item last entered work in progress, and its present status."""
    started: dict[int, int] = {}
    blocked_at: dict[int, int] = {}
    wanted = {i for i, item in items.items() if item.in_progress or item.blocked}
    if not wanted:
        return started, blocked_at
    wi, ch = model.table_of(model.WorkItem), model.table_of(model.WorkItemChange)
    categories = StatusCategories(conn, config)
    rows: list[tuple[Any, ...]] = []
    for these in _ages_read(conn, config, items, wanted):
        rows += fetch_tuples(
            conn,
            select(
                wi.c.id,
                wi.c.project_id,
                wi.c.source_id,
                epoch_seconds(conn, ch.c.at),
                ch.c.from_value,
                ch.c.to_value,
            )
            .join(
                wi,
                and_(wi.c.source_id == ch.c.source_id, wi.c.external_id == ch.c.item_external_id),
            )
            .where(these, ch.c.field == "status", ch.c.deleted_at.is_(None))
            .order_by(wi.c.id, ch.c.at, ch.c.id),
        )
    for item_id, project_id, source_id, at, from_value, to_value in rows:
        item = items.get(item_id)
        if item is None:
            continue
        before = categories.of(from_value, project_id, source_id)
        after = categories.of(to_value, project_id, source_id)
        if after == "in_progress" and before != "in_progress":
            started[item_id] = at  # the latest entry into work in progress wins
        if to_value is not None and to_value.lower() == item.fact.status.lower():
            blocked_at[item_id] = at
    return started, blocked_at


def aged(
    items: dict[int, OpenItem],
    started: Mapping[int, int],
    blocked_at: Mapping[int, int],
    now: datetime,
) -> dict[int, OpenItem]:
    """Return the items with their days blocked and in progress at ``now``."""
    aged = dict(items)
    moment = now.timestamp()
    for item_id, item in items.items():
        if not (item.in_progress or item.blocked):
            continue
        blocked_since = (blocked_at.get(item_id) if _status_blocked(item) else None) or (
            item.updated_at
        )
        progress_since = started.get(item_id, item.created_at)
        aged[item_id] = OpenItem(  # what ``replace`` gives, at a fraction of its cost
            item.id,
            item.project_id,
            item.fact,
            item.in_progress,
            item.blocked,
            item.estimated,
            item.has_points,
            item.updated_at,
            item.created_at,
            blocked_days=_days(moment, blocked_since) if item.blocked else 0,
            progress_days=_days(moment, progress_since) if item.in_progress else 0,
        )
    return aged


def _ages_read(
    conn: Connection, config: Config, items: Mapping[int, OpenItem], wanted: set[int]
) -> list[ColumnElement[bool]]:
    """Return conditions on the work items whose status history the ages read, one a statement.

    Those are the items in progress or blocked by their status. SQLite is
    asked for them by id, ``_IDS_PER_QUERY`` to a statement: a twentieth of the
    items at portfolio scale, where reading every status change to find theirs
    took ten times as long. PostgreSQL is given what makes them so (category
    and status) and chooses its join by its statistics: lists of ids had it
    scan the status changes once per list, and one array of every id (``=
    ANY``) took 150 s at a million items.
    """
    wi = model.table_of(model.WorkItem)
    if conn.dialect.name != "postgresql":
        read = sorted(i for i in wanted if items[i].in_progress or _status_blocked(items[i]))
        return [wi.c.id.in_(part) for part in chunked(read, _IDS_PER_QUERY)]
    project_ids = dict(conn.execute(select(model.Project.key, model.Project.id)).all())
    source_ids = dict(conn.execute(select(model.Source.name, model.Source.id)).all())
    category = category_of(config, wi, project_ids, source_ids)
    chosen = sorted({items[i].project_id for i in wanted})
    return [
        and_(
            in_projects(wi.c.project_id, chosen, scan=most_projects(conn, len(chosen))),
            wi.c.deleted_at.is_(None),
            category != "done",  # open items only, and of those only the ones whose
            or_(  # age reads the history: in progress, or blocked by their status
                category == "in_progress",
                *(func.lower(wi.c.status).contains(word) for word in BLOCKED_WORDS),
            ),
        )
    ]


_IDS_PER_QUERY = 5_000
"""Item ids bound in one statement on SQLite (it takes at most 32,766 parameters)."""


def _days(moment: float, since: int) -> int:
    """Return the whole days from ``since`` (epoch seconds) to ``moment`` (0 if after it)."""
    return max(0, int((moment - since) // 86_400))


def _status_blocked(item: OpenItem) -> bool:
    return _BLOCKED_STATUS.search(item.fact.status.lower()) is not None
