"""Work items as they stood at a status date: status, milestone membership, status history.

The plan's ``ItemFrame`` holds every item as it is *now*. Earned value, the
forecasts and the team figures at an earlier status date need each item as it
was then, so a PM can look at any past Friday and get the figures of that day:

* an item counts only once it was created;
* its status at the date is the ``from`` status of its first status change
  after the date (nothing changed since: its status now). Items without a
  status history (GitHub keeps none) were open until they were resolved;
* its milestones at the date undo the Jira fix-version changes made since: a
  pair (item, milestone) whose first change after the date *added* the item
  was not a member then; one whose first change *removed* it was.

Raw statuses of the history are put into categories by the same status maps
as the items (the project's, then the source's), then by the category the
tool gives the items that are in that status now, and for a status no item is
in any more, by its name (``Done``, ``Closed`` ... are done, ``To Do``,
``Open`` ... are to do, anything else is work in progress). The mapping is a
``CASE`` over the few distinct statuses, so the database hands back small
integers and the work stays in one query and a few numpy calls.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)

from pmsync import model
from pmsync.config import Config
from pmsync.plan.frames import CATEGORY_CODES, ItemFrame, counts_as_scope

STATUS_NAMES = np.array(["todo", "in_progress", "done"])
"""Category code (``ItemFrame.category``) → the normalised status the metrics read."""
TODO, IN_PROGRESS, DONE = 0, 1, 2
DONE_NAMES = frozenset(
    {"done", "closed", "resolved", "released", "complete", "completed", "cancelled", "canceled"}
)
TODO_NAMES = frozenset({"to do", "todo", "open", "new", "backlog", "reopened", "selected"})

Ints = npt.NDArray[np.int64]


def epoch_seconds(conn: Connection, column: Any) -> ColumnElement[int]:
    """Return a stored instant as whole seconds since 1970 (UTC), computed in SQL."""
    if conn.dialect.name == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), BigInteger)


def _by_name(status: str) -> int:
    if status in DONE_NAMES:
        return DONE
    return TODO if status in TODO_NAMES else IN_PROGRESS


class StatusVocabulary:
    """The category of every raw status the store knows, as a SQL ``CASE``.

    The ``CASE`` compares the raw text exactly (``CASE to_value WHEN 'Done' THEN 2``),
    one branch per status spelling actually stored, which the database evaluates
    far faster than case-insensitive comparisons on every row; the status maps'
    case-insensitivity is applied here, once per spelling.
    """

    def __init__(self, conn: Connection, config: Config) -> None:
        wi = model.table_of(model.WorkItem)
        ch = model.table_of(model.WorkItemChange)
        self.project_ids: dict[str, int] = dict(
            conn.execute(select(model.Project.key, model.Project.id)).all()
        )
        source_ids: dict[str, int] = dict(
            conn.execute(select(model.Source.name, model.Source.id)).all()
        )
        self.config = config
        tool: dict[tuple[int, str], int] = {}  # the tool's own category, by the items now
        current: list[Any] = list(
            conn.execute(
                select(wi.c.source_id, wi.c.status, wi.c.status_category, func.count())
                .group_by(wi.c.source_id, wi.c.status, wi.c.status_category)
                .order_by(func.count())
            ).all()
        )
        spellings: set[tuple[int, str]] = set()
        for sid, raw, category, _ in current:
            tool[(sid, raw.lower())] = CATEGORY_CODES[category]  # the most common one wins
            spellings.add((sid, raw))
        history: list[Any] = list(
            conn.execute(
                select(ch.c.source_id, ch.c.from_value, ch.c.to_value)
                .where(ch.c.field == "status", ch.c.deleted_at.is_(None))
                .distinct()
            ).all()
        )
        for sid, before, after in history:
            spellings.update((sid, raw) for raw in (before, after) if raw is not None)
        maps = {
            source_ids[name]: {k.lower(): v for k, v in source.options.status_map.items()}
            for name, source in config.sources.items()
            if name in source_ids
        }
        self.spellings = spellings
        self.by_source: dict[int, dict[str, int]] = defaultdict(dict)
        for sid, raw in sorted(spellings):
            lowered = raw.lower()
            mapped = maps.get(sid, {}).get(lowered)
            code = CATEGORY_CODES[mapped] if mapped else tool.get((sid, lowered))
            self.by_source[sid][raw] = _by_name(lowered) if code is None else code

    def code(self, value: Any, project_id: Any, source_id: Any) -> ColumnElement[int]:
        """Return the category code of the raw status ``value`` (-1 where there is none)."""
        by_source = [
            (source_id == sid, case(mapping, value=value, else_=-1))
            for sid, mapping in sorted(self.by_source.items())
        ]
        fallback: Any = case(*by_source, else_=-1) if by_source else literal(-1)
        by_project = []
        for key, project in sorted(self.config.projects.items()):
            own = {k.lower(): CATEGORY_CODES[v] for k, v in project.status_map.items()}
            exact = {raw: own[raw.lower()] for _, raw in self.spellings if raw.lower() in own}
            if exact and key in self.project_ids:
                inner = case(exact, value=value, else_=fallback)
                by_project.append((project_id == self.project_ids[key], inner))
        return case(*by_project, else_=fallback) if by_project else fallback


@dataclass(frozen=True)
class ItemsAt:
    """The items of an ``ItemFrame`` as they stood at one instant (rows as in the frame)."""

    cutoff: np.datetime64
    """The instant, UTC seconds: the end of the status date, or now if that is earlier."""
    exists: npt.NDArray[np.bool_]
    """Created by the cutoff."""
    category: npt.NDArray[np.int8]
    """Status category code at the cutoff (``ItemFrame.category`` codes)."""
    milestone_id: Ints
    """Milestone memberships at the cutoff: ``milestone_id[k]`` held frame row ``member_row[k]``."""
    member_row: Ints
    event_row: Ints
    """The status history, one event per change (creation included), in no particular order."""
    event_at: npt.NDArray[np.datetime64]
    event_status: npt.NDArray[np.int8]


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


def _in_frame(conn: Connection, wi: Any, frame: ItemFrame) -> list[ColumnElement[bool]]:
    """Return the conditions for an item of the frame's projects, and the join order.

    For a few projects SQLite should find their items by ``project_id`` and then
    their history; for most of the store that is a random walk through the wide
    item rows (measured 3x slower at 1,000,000 items than reading the history in
    order and probing each item by its key). ``project_id + 0`` tells SQLite's
    planner not to use the project index, so it takes the second plan; PostgreSQL
    picks its join by its statistics and is left alone.
    """
    projects = np.unique(frame.project_id).tolist()
    project = wi.c.project_id
    if conn.dialect.name == "sqlite" and len(frame):
        total = conn.scalar(select(func.count()).select_from(wi)) or 0
        if 4 * len(frame) >= total:
            project = project + 0
    return [project.in_(projects), wi.c.deleted_at.is_(None), counts_as_scope(wi)]


def _status_changes(conn: Connection, config: Config, frame: ItemFrame, since: datetime) -> Ints:
    """Return (item id, seconds, to code, from code) of the status changes that still matter.

    Items resolved before ``since`` (the start of the team window) are left out:
    they were done, unchanged, all through the window and at the status date,
    which their resolution date alone tells.
    """
    ch, wi = model.table_of(model.WorkItemChange), model.table_of(model.WorkItem)
    vocabulary = StatusVocabulary(conn, config)
    return _ints(
        conn,
        select(
            wi.c.id,
            epoch_seconds(conn, ch.c.at),
            vocabulary.code(ch.c.to_value, wi.c.project_id, ch.c.source_id),
            vocabulary.code(ch.c.from_value, wi.c.project_id, ch.c.source_id),
        )
        .select_from(_joined(ch, wi))
        .where(
            ch.c.field == "status",
            ch.c.deleted_at.is_(None),
            or_(wi.c.resolved_at.is_(None), wi.c.resolved_at >= since),
            *_in_frame(conn, wi, frame),
        ),
        4,
    )


def _fix_version_moves(conn: Connection, frame: ItemFrame, after: int) -> Ints:
    """Return (item id, seconds, milestone left, milestone joined) of fix-version changes."""
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
            *_in_frame(conn, wi, frame),
        ),
        4,
    )


_PAIR = np.int64(1) << 31


def memberships_at(frame: ItemFrame, moves: Ints) -> tuple[Ints, Ints]:
    """Return (milestone ids, frame rows) at the cutoff, given the fix-version moves after it."""
    current = frame.member_row.astype(np.int64) * _PAIR + frame.milestone_id
    if not len(moves):
        return frame.milestone_id, frame.member_row
    row = np.searchsorted(frame.work_item_id, moves[:, 0])
    keys = np.concatenate([row * _PAIR + moves[:, 2], row * _PAIR + moves[:, 3]])
    sign = np.repeat([-1, 1], len(moves))
    at = np.tile(moves[:, 1], 2)
    known = np.concatenate([moves[:, 2] >= 0, moves[:, 3] >= 0])
    keys, sign, at = keys[known], sign[known], at[known]
    order = np.lexsort((at, keys))
    unique, first = np.unique(keys[order], return_index=True)
    earliest = sign[order][first]
    kept = np.setdiff1d(current, unique[earliest > 0])  # added since: not a member then
    pairs = np.union1d(kept, unique[earliest < 0])  # removed since: a member then
    return pairs % _PAIR, pairs // _PAIR


def items_at(
    conn: Connection,
    config: Config,
    frame: ItemFrame,
    cutoff: datetime,
    now: datetime,
    since: datetime,
) -> ItemsAt:
    """Return the frame's items as they stood at ``cutoff``, with their history since ``since``."""
    cut = int(cutoff.timestamp())
    changes = _status_changes(conn, config, frame, since)
    row = np.searchsorted(frame.work_item_id, changes[:, 0])
    order = np.lexsort((changes[:, 1], row))
    row, at, to_code, from_code = row[order], *changes[order, 1:].T
    count = len(frame)
    now_category = frame.category.astype(np.int8)
    history = np.zeros(count, dtype=bool)
    history[row] = True
    status = now_category.copy()
    # rows are sorted: the first change of each item, and its first one after the cutoff
    first = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]) if len(row) else row
    later = np.flatnonzero(at > cut)
    first_later = later[np.r_[True, row[later][1:] != row[later][:-1]]] if len(later) else later
    status[row[first_later]] = np.maximum(from_code[first_later], TODO)
    created = frame.created_at.astype("datetime64[s]")
    resolved = frame.resolved_at.astype("datetime64[s]")
    done_without_history = ~history & (now_category == DONE)
    moment = np.datetime64(cut, "s")
    resolved_later = done_without_history & ~np.isnat(resolved) & (resolved > moment)
    status[resolved_later] = TODO
    # The history: creation in the first status, every change, and resolution where none.
    initial = np.where(now_category == DONE, TODO, now_category).astype(np.int8)
    initial[row[first]] = np.maximum(from_code[first], TODO)
    done_at = np.where(np.isnat(resolved), created, resolved)[done_without_history]
    known = to_code >= 0
    event_row = np.concatenate([np.arange(count), row[known], np.flatnonzero(done_without_history)])
    event_at = np.concatenate([created, at[known].astype("datetime64[s]"), done_at])
    event_status = np.concatenate(
        [initial, to_code[known].astype(np.int8), np.full(len(done_at), DONE, np.int8)]
    )
    milestone_id, member_row = frame.milestone_id, frame.member_row
    if cutoff < now:  # milestones changed since: undo the moves made after the cutoff
        moves = _fix_version_moves(conn, frame, cut)
        milestone_id, member_row = memberships_at(frame, moves)
    return ItemsAt(
        cutoff=moment,
        exists=created <= moment,
        category=status,
        milestone_id=milestone_id,
        member_row=member_row,
        event_row=event_row,
        event_at=event_at,
        event_status=event_status,
    )


def wall_clock(instants: npt.NDArray[np.datetime64], timezone: str) -> npt.NDArray[np.datetime64]:
    """Return UTC instants as local wall-clock times (so their UTC days are the local days)."""
    seconds = instants.astype("datetime64[s]")
    if timezone in ("UTC", "Etc/UTC") or not len(seconds):
        return seconds
    zone = ZoneInfo(timezone)
    unique, inverse = np.unique(seconds.astype("datetime64[h]"), return_inverse=True)
    offsets = np.array(
        [
            0
            if np.isnat(hour)
            else int(
                datetime.fromtimestamp(int(hour.astype("datetime64[s]").astype(np.int64)), UTC)
                .astimezone(zone)
                .utcoffset()
                .total_seconds()  # type: ignore[union-attr]
            )
            for hour in unique
        ],
        dtype=np.int64,
    )
    return seconds + offsets[inverse.reshape(-1)].astype("timedelta64[s]")
