"""The status and fix-version history of the items, read in one query each.

Raw statuses of the history are put into categories by the same status maps
as the items (the project's, then the source's), then by the category the
tool gives the items that are in that status now, and for a status no item is
in any more, by its name (``Done``, ``Closed`` ... are done, ``To Do``,
``Open`` ... are to do, anything else is work in progress). The database
hands back numbers only (instants as seconds, statuses and milestones as
integers), read straight from the driver's cursor into numpy, so a million
rows cross into Python without a million row objects.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)

from pmsync import model
from pmsync.config import Config
from pmsync.plan.frames import CATEGORY_CODES, ItemFrame, counts_as_scope, epoch_seconds
from pmsync.plan.sql import in_projects

STATUS_NAMES = np.array(["todo", "in_progress", "done"])
"""Category code (``ItemFrame.category``) → the normalised status the metrics read."""
TODO, IN_PROGRESS, DONE = 0, 1, 2
DONE_NAMES = frozenset(
    {"done", "closed", "resolved", "released", "complete", "completed", "cancelled", "canceled"}
)
TODO_NAMES = frozenset({"to do", "todo", "open", "new", "backlog", "reopened", "selected"})

Ints = npt.NDArray[np.int64]


def _by_name(status: str) -> int:
    if status in DONE_NAMES:
        return DONE
    return TODO if status in TODO_NAMES else IN_PROGRESS


class StatusSpellings:
    """Every raw status text of the status history, numbered, and the category of each.

    The query hands back each change's statuses as numbers (a ``CASE`` comparing
    the raw text exactly, one branch per spelling stored: far cheaper for the
    database than case-insensitive comparisons on every row) and, beside them,
    the item's category now and whether the change is to the status it is in
    now. Those rows are the evidence for the tool's own category of a spelling;
    the status maps (compared without regard to case) come first, the name last.
    """

    def __init__(self, conn: Connection) -> None:
        ch = model.table_of(model.WorkItemChange)
        found: set[tuple[int, str]] = set()
        rows: list[Any] = list(
            conn.execute(
                select(ch.c.source_id, ch.c.from_value, ch.c.to_value)
                .where(ch.c.field == "status", ch.c.deleted_at.is_(None))
                .distinct()
            ).all()
        )
        for sid, before, after in rows:
            found.update((int(sid), str(raw)) for raw in (before, after) if raw is not None)
        self.spellings = sorted(found)
        self.project_ids: dict[str, int] = dict(
            conn.execute(select(model.Project.key, model.Project.id)).all()
        )
        self.source_ids: dict[str, int] = dict(
            conn.execute(select(model.Source.name, model.Source.id)).all()
        )

    def number(self, value: Any, source_id: Any) -> ColumnElement[int]:
        """Return the number of the raw status ``value`` of a source (-1: none)."""
        by_source: dict[int, dict[str, int]] = defaultdict(dict)
        for n, (sid, raw) in enumerate(self.spellings):
            by_source[sid][raw] = n
        whens = [
            (source_id == sid, case(numbers, value=value, else_=-1))
            for sid, numbers in sorted(by_source.items())
        ]
        return case(*whens, else_=-1) if whens else literal(-1)

    def categories(self, config: Config, to: Ints, now: Ints, same: Ints) -> Ints:
        """Return the category code of each spelling, from the maps, the evidence, the name."""
        count = len(self.spellings)
        evidence = (same == 1) & (to >= 0) & (now >= 0)
        votes = np.bincount(to[evidence] * 3 + now[evidence], minlength=3 * count)
        votes = votes.reshape(count, 3)
        maps = {
            self.source_ids[name]: {k.lower(): v for k, v in source.options.status_map.items()}
            for name, source in config.sources.items()
            if name in self.source_ids
        }
        codes = np.empty(count, dtype=np.int64)
        for n, (sid, raw) in enumerate(self.spellings):
            mapped = maps.get(sid, {}).get(raw.lower())
            if mapped:
                codes[n] = CATEGORY_CODES[mapped]
            elif votes[n].any():
                codes[n] = int(votes[n].argmax())
            else:
                codes[n] = _by_name(raw.lower())
        return codes

    def project_codes(self, config: Config) -> dict[int, Ints]:
        """Return, per project with a status map, its category of each spelling (-1: not mapped)."""
        found = {}
        for key, project in config.projects.items():
            own = {k.lower(): CATEGORY_CODES[v] for k, v in project.status_map.items()}
            if own and key in self.project_ids:
                found[self.project_ids[key]] = np.array(
                    [own.get(raw.lower(), -1) for _, raw in self.spellings], dtype=np.int64
                )
        return found


def _ints(conn: Connection, statement: Any, width: int) -> Ints:
    """Return the rows of a query of ``width`` integer columns (no NULLs) as an (n, width) array.

    The rows are read from the driver's cursor as plain tuples: millions of them,
    and nothing to convert, so no result row objects are built.
    """
    result = conn.execute(statement)
    try:
        rows = result.cursor.fetchall() if result.cursor is not None else []
    finally:
        result.close()
    flat = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=width * len(rows))
    return flat.reshape(-1, width)


def _joined(ch: Any, wi: Any) -> Any:
    on = and_(wi.c.source_id == ch.c.source_id, wi.c.external_id == ch.c.item_external_id)
    return ch.join(wi, on)


def _in_projects(
    conn: Connection, wi: Any, projects: list[int], items: int
) -> list[ColumnElement[bool]]:
    """Return the conditions for an item of ``projects`` (holding ``items``), and the join order.

    For a few projects SQLite should find their items by ``project_id`` and then
    their history; for most of the store that is a random walk through the wide
    item rows (measured 3x slower at 1,000,000 items than reading the history in
    order and probing each item by its key). ``project_id + 0`` tells SQLite's
    planner not to use the project index, so it takes the second plan; PostgreSQL
    picks its join by its statistics and is left alone.
    """
    scan = False
    if conn.dialect.name == "sqlite" and items:
        total = conn.scalar(select(func.count()).select_from(wi)) or 0
        scan = 4 * items >= total
    return [
        in_projects(wi.c.project_id, projects, scan=scan),
        wi.c.deleted_at.is_(None),
        counts_as_scope(wi),
    ]


@dataclass(frozen=True)
class StatusRows:
    """The status changes as the database hands them back, before their statuses are categorised.

    ``rows``: (item id, seconds, to status, from status, item's category now, 1 if
    the change is to the item's status now), statuses numbered by ``spellings``.
    Plain arrays and lists: they cross from a reading process whole
    (``pmsync.health.parallel``).
    """

    rows: Ints
    spellings: StatusSpellings


def read_status_changes(
    conn: Connection, projects: list[int], items: int, since: datetime
) -> StatusRows:
    """Read the status changes of the items of ``projects`` (``items`` of them) that still matter.

    Items resolved before ``since`` (the start of the team window) are left out:
    they were done, unchanged, all through the window and at the status date,
    which their resolution date alone tells.
    """
    ch, wi = model.table_of(model.WorkItemChange), model.table_of(model.WorkItem)
    spellings = StatusSpellings(conn)
    rows = _ints(
        conn,
        select(
            wi.c.id,
            epoch_seconds(conn, ch.c.at),
            spellings.number(ch.c.to_value, ch.c.source_id),
            spellings.number(ch.c.from_value, ch.c.source_id),
            case(CATEGORY_CODES, value=wi.c.status_category, else_=-1),
            case((wi.c.status == ch.c.to_value, 1), else_=0),
        )
        .select_from(_joined(ch, wi))
        .where(
            ch.c.field == "status",
            ch.c.deleted_at.is_(None),
            or_(wi.c.resolved_at.is_(None), wi.c.resolved_at >= since),
            *_in_projects(conn, wi, projects, items),
        ),
        6,
    )
    return StatusRows(rows, spellings)


def status_changes(
    conn: Connection,
    config: Config,
    frame: ItemFrame,
    since: datetime,
    read: StatusRows | None = None,
) -> Ints:
    """Return (item id, seconds, to code, from code) of the status changes that still matter.

    ``read``: ``read_status_changes`` of the frame's projects, if read already
    (elsewhere); otherwise they are read here.
    """
    if read is None:
        read = read_status_changes(conn, np.unique(frame.project_id).tolist(), len(frame), since)
    spellings, rows = read.spellings, read.rows
    if len(rows) and len(frame):  # read in another transaction: only the frame's items count
        known = frame.work_item_id[np.searchsorted(frame.work_item_id, rows[:, 0]) % len(frame)]
        rows = rows[known == rows[:, 0]]
    elif not len(frame):
        rows = rows[:0]
    item, at, to, before, now, same = rows.T
    codes = np.append(spellings.categories(config, to, now, same), -1)  # [-1]: no status
    to_code, from_code = codes[to], codes[before]
    overrides = spellings.project_codes(config)
    if overrides and len(item):
        project = frame.project_id[np.searchsorted(frame.work_item_id, item)]
        for pid, own in overrides.items():
            mine = project == pid
            own = np.append(own, -1)
            to_code[mine] = np.where(own[to[mine]] >= 0, own[to[mine]], to_code[mine])
            from_code[mine] = np.where(own[before[mine]] >= 0, own[before[mine]], from_code[mine])
    return np.stack([item, at, to_code, from_code], axis=1)


def fix_version_moves(conn: Connection, frame: ItemFrame, after: int) -> Ints:
    """Return (item id, seconds, milestone left, milestone joined) of fix-version changes."""
    return project_fix_version_moves(conn, np.unique(frame.project_id).tolist(), len(frame), after)


def project_fix_version_moves(
    conn: Connection, projects: list[int], items: int, after: int
) -> Ints:
    """Return ``fix_version_moves`` of the items of ``projects`` (holding about ``items``)."""
    ch, wi = model.table_of(model.WorkItemChange), model.table_of(model.WorkItem)
    sm = model.table_of(model.SourceMilestone)
    left, joined = sm.alias("left_version"), sm.alias("joined_version")
    moment = epoch_seconds(conn, ch.c.at)
    return _ints(
        conn,
        select(
            wi.c.id,
            moment,
            func.coalesce(left.c.milestone_id, -1),
            func.coalesce(joined.c.milestone_id, -1),
        )
        .select_from(
            _joined(ch, wi)
            .outerjoin(
                left,
                and_(left.c.source_id == ch.c.source_id, left.c.external_id == ch.c.from_value),
            )
            .outerjoin(
                joined,
                and_(joined.c.source_id == ch.c.source_id, joined.c.external_id == ch.c.to_value),
            )
        )
        .where(
            ch.c.field == "fix_version",
            ch.c.deleted_at.is_(None),
            moment > after,
            *_in_projects(conn, wi, projects, items),
        ),
        4,
    )
